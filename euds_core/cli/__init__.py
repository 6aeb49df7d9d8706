"""Command line: ``python -m euds_core <command>`` (the contract written in docs/cli.md), one module per area.

- :mod:`~euds_core.cli.data_commands`: ``datasets``, ``score``;
- :mod:`~euds_core.cli.selection_commands`: ``select``, ``review``, ``export``;
- :mod:`~euds_core.cli.experiment_commands`: ``finetune``, ``search-interval``, ``search-selection``,
  ``benchmark``;
- :mod:`~euds_core.cli.team_commands`: ``app`` (the app, with the bind-address check), ``double-review``;
- :mod:`~euds_core.cli.arguments`: the options they share.

Bad input ends with exit code 2 and one ``error: ...`` line on stderr; never a traceback. This package may
import every other package of ``euds_core``; nothing imports it but ``__main__``.
"""

from __future__ import annotations

import argparse
import sys

from euds_core.cli import (
    curation_commands,
    data_commands,
    doctor_command,
    experiment_commands,
    selection_commands,
    team_commands,
)
from euds_core.cli.arguments import ArgumentParser
from euds_core.errors import EudsInputError, ScoringCancelled

EXIT_INPUT_ERROR = 2


def cmd_job_run(args) -> int:
    from euds_core.runtime.jobs import run_job  # the job table imports every job's code: only the child needs it

    return run_job(args.job_id)


COMMANDS = {
    **data_commands.COMMANDS,
    **selection_commands.COMMANDS,
    **experiment_commands.COMMANDS,
    **curation_commands.COMMANDS,
    **team_commands.COMMANDS,
    **doctor_command.COMMANDS,
    "job-run": cmd_job_run,
}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m euds_core", description="EUDS Studio: score, explore and select text data.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    data_commands.add_parsers(sub)  # datasets, score
    selection_commands.add_parsers(sub)  # select, review, export
    experiment_commands.add_parsers(sub)  # finetune, search-interval
    curation_commands.add_parsers(sub)  # inject
    team_commands.add_parsers(sub)  # app, double-review
    doctor_command.add_parsers(sub)  # doctor
    p = sub.add_parser("job-run", help=argparse.SUPPRESS)  # internal: the child process of a background job
    p.add_argument("job_id")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except EudsInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except ScoringCancelled as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("cancelled: interrupted; finished chunks are cached and a rerun resumes", file=sys.stderr)
        return 130
