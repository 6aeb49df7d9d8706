"""Every ``python -m euds_core ...`` command written in README.md and docs/ parses with today's CLI.

The docs are where users copy commands from: an option renamed in the code but not in a page fails here.
Lines with placeholders (``[--note TEXT]``, ``<command>``, ``...``) are syntax summaries; an
inline span counts when it has an option (prose like "`python -m euds_core score` writes ..." does not).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from euds_core.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PLACEHOLDERS = ("DATASET", "[", "...", " ID", "<")


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for each runnable command in a fenced code block or a backtick span of the docs."""
    found = []
    for path in DOC_FILES:
        text = path.read_text()
        text = re.sub(r"\\\n\s*", " ", text)  # join shell continuation lines
        spans = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S) + re.findall(
            r"`(python -m euds_core [^`]+ --[^`]+)`", text
        )
        for block in spans:
            for line in block.splitlines():
                command = line.split("  #")[0].strip()
                if not command.startswith("python -m euds_core "):
                    continue
                if any(p in command for p in PLACEHOLDERS):
                    continue
                found.append((f"{path.name}: {command[:60]}", command))
    return found


COMMANDS = documented_commands()


def test_the_docs_hold_commands():
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("command", [c for _, c in COMMANDS], ids=[w for w, _ in COMMANDS])
def test_documented_command_parses(command):
    argv = shlex.split(command)[3:]  # drop "python -m euds_core"
    args = build_parser().parse_args(argv)  # raises EudsInputError on an unknown option or command
    assert args.command == argv[0]
