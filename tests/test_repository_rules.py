"""Rules for the whole repository, read from the source with ``ast`` and regular expressions (nothing imported).

* No function outside tests is longer than 60 lines (``def`` line to last line, decorators not counted).
* A page imports from its own ui room and from ``ui/shared/`` only; a room never imports another room, and
  ``ui/shared/`` imports no room (docs/architecture.md has the map).
* docs/architecture.md stays true: its code map names every ``euds_core`` module in its package's entry, and its
  page table gives each page its room and names every module of every room.
* Every file that code or docs cite exists in the repository: a reader who clones it can follow them.

Each check also runs on a small made-up case that breaks it, so it is shown to be able to fail.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60

# Functions still over the limit, each being split (experiments/ and bench/ by their own changes). The list may
# only shrink: an entry that is no longer long fails the test below, so it is removed when its split lands.
LONG_FUNCTIONS_BEING_SPLIT: set[str] = set()

# Each page and the one ui room it lives in.
PAGE_ROOMS = {
    "pages/1_Load.py": "load",
    "pages/2_Score.py": "score",
    "pages/3_Explore.py": "explore",
    "pages/4_Fine_tune.py": "finetune",
    "pages/5_Review.py": "review",
    "pages/6_Export.py": "export",
}
SHARED_ROOM = "shared"


def repository_files(suffixes: tuple[str, ...]) -> list[Path]:
    """Tracked and new (not ignored) files of the working tree with one of ``suffixes``."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(REPO / f for f in set(out.splitlines()) if f.endswith(suffixes) and (REPO / f).is_file())


# ---------------------------------------------------------------------------------------------- function length


def long_functions(source: str, where: str, limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """``{"where::name": lines}`` for every function (nested ones too) longer than ``limit`` lines."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                found[f"{where}::{node.name}"] = lines
    return found


def repository_long_functions() -> dict[str, int]:
    found = {}
    for path in repository_files((".py",)):
        where = path.relative_to(REPO).as_posix()
        if where.split("/")[0] != "tests":
            found.update(long_functions(path.read_text(), where))
    return found


def test_no_function_over_60_lines_outside_tests():
    too_long = {k: v for k, v in repository_long_functions().items() if k not in LONG_FUNCTIONS_BEING_SPLIT}
    assert too_long == {}, f"split these functions (at most {MAX_FUNCTION_LINES} lines each)"


def test_allowed_long_functions_are_still_long():
    """The allow-list only shrinks: a function that was split (or removed) must leave the list."""
    assert LONG_FUNCTIONS_BEING_SPLIT <= set(repository_long_functions())


def test_length_check_catches_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    assert long_functions(f"def long_one():\n{body}\n", "m.py") == {"m.py::long_one": 61}
    assert long_functions(f"def fits():\n{body[: body.rindex(chr(10))]}\n", "m.py") == {}
    inner_body = "\n".join(f"            x{i} = {i}" for i in range(60))
    nested = f"class A:\n    def method(self):\n        def inner():\n{inner_body}\n"
    assert set(long_functions(nested, "m.py")) == {"m.py::method", "m.py::inner"}


# ---------------------------------------------------------------------------------------------- ui rooms


def ui_imports(source: str) -> set[str]:
    """The ``ui.<room>`` packages a module imports (imports inside functions count)."""
    rooms = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "ui" and len(parts) > 1:
                rooms.add(parts[1])
    return rooms


def room_violations(importer_room: str | None, source: str) -> set[str]:
    """Rooms ``source`` may not import: all but its own and shared (shared itself and app.py: all rooms)."""
    allowed = {SHARED_ROOM} | ({importer_room} if importer_room not in (None, SHARED_ROOM) else set())
    return ui_imports(source) - allowed


def test_every_page_has_a_room():
    pages = {p.relative_to(REPO).as_posix() for p in (REPO / "pages").glob("*.py")}
    assert pages == set(PAGE_ROOMS)
    for room in [*PAGE_ROOMS.values(), SHARED_ROOM]:
        assert (REPO / "ui" / room / "__init__.py").is_file(), f"ui/{room}/ is missing"
    assert {p.name for p in (REPO / "ui").glob("*.py")} <= {"__init__.py"}, "ui/ holds rooms only"


@pytest.mark.parametrize("page", sorted(PAGE_ROOMS))
def test_page_imports_only_its_room_and_shared(page):
    assert room_violations(PAGE_ROOMS[page], (REPO / page).read_text()) == set()


def test_rooms_do_not_import_each_other():
    bad = {}
    for path in sorted((REPO / "ui").rglob("*.py")):
        parts = path.relative_to(REPO / "ui").parts
        room = parts[0] if len(parts) > 1 else SHARED_ROOM
        if found := room_violations(room, path.read_text()):
            bad[path.relative_to(REPO).as_posix()] = found
    found = room_violations(None, (REPO / "app.py").read_text())
    if found:
        bad["app.py"] = found
    assert bad == {}


def test_room_check_catches_a_page_reaching_into_another_room():
    assert room_violations("export", "from ui.review.data import sort_table\n") == {"review"}
    assert room_violations("export", "def f():\n    import ui.review.data\n") == {"review"}
    assert room_violations("export", "from ui.export.view import show_saved\nfrom ui.shared.state import x\n") == set()
    assert room_violations(SHARED_ROOM, "from ui.explore.interval import MODES\n") == {"explore"}


def st_stop_calls(source: str) -> int:
    """Calls of ``st.stop()`` in ``source``."""
    return sum(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "stop"
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "st"
        for n in ast.walk(ast.parse(source))
    )


def test_no_page_ends_with_st_stop():
    # st.stop() stops the script runner and drops a click queued during the run (the sidebar's Cancel was lost
    # on Explore): pages end early with ui.shared.page_stop.end_page() instead.
    paths = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").rglob("*.py"))]
    assert {p.relative_to(REPO).as_posix(): n for p in paths if (n := st_stop_calls(p.read_text()))} == {}
    assert st_stop_calls("import streamlit as st\nif x:\n    st.stop()\n") == 1


# ------------------------------------------------------------------------------------------- the map's truth

ARCHITECTURE = REPO / "docs" / "architecture.md"
MAP_PACKAGE = re.compile(r"^  (\w+)/\s")  # an entry of the code map: two spaces, a folder, its description


def map_entries(doc: str) -> dict[str, str]:
    """``euds_core`` package -> the text of its entry in the architecture page's code map (continuation lines
    included), plus ``""`` -> the whole ``euds_core/`` part of the map."""
    block = doc.split("```")[1]
    library = block[block.index("\neuds_core/") : block.index("\ntests/")]
    entries, current = {"": library}, None
    for line in library.splitlines():
        if found := MAP_PACKAGE.match(line):
            current = found.group(1)
            entries[current] = line
        elif current and line.startswith(" " * 24):
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


def unnamed_library_modules(doc: str, library: Path) -> list[str]:
    """Modules of ``library`` (the euds_core folder) that the map does not name in their package's entry (a
    module of a sub-package counts as named when the sub-package is)."""
    entries, missing = map_entries(doc), []
    for path in sorted(library.rglob("*.py")):
        parts = path.relative_to(library).parts
        if path.name in ("__init__.py", "__main__.py"):
            continue
        text = entries[""] if len(parts) == 1 else entries.get(parts[0], "")
        named = f"{parts[1]}/" in text if len(parts) > 2 else re.search(rf"(?<![\w/]){path.stem}\b", text)
        if not named:
            missing.append("/".join(parts))
    return missing


def test_architecture_map_names_every_library_module():
    assert unnamed_library_modules(ARCHITECTURE.read_text(), REPO / "euds_core") == []


def test_architecture_table_gives_each_page_its_room_and_names_the_room_modules():
    rows = [line.split("|")[1:4] for line in ARCHITECTURE.read_text().splitlines() if line.startswith("| ")]
    rooms = {
        page.strip(" `"): (room.strip(" `"), holds) for page, room, holds in rows if room.strip().startswith("`ui/")
    }
    assert {page: room for page, (room, _) in rooms.items() if page.startswith("pages/")} == {
        page: f"ui/{room}/" for page, room in PAGE_ROOMS.items()
    }
    unnamed = [
        path.relative_to(REPO).as_posix()
        for room, holds in rooms.values()
        for path in sorted((REPO / room).glob("*.py"))
        if path.name != "__init__.py" and f"`{path.name}`" not in holds
    ]
    assert unnamed == []


def test_map_check_catches_an_unnamed_module(tmp_path):
    doc = "```\napp.py  x\neuds_core/  lib\n  errors.py  e\n  data/  table.py (hash), readers\n" + " " * 24
    doc += "builtins.py\n  models/  loading.py\ntests/  t\n```\n"
    for name in ("errors.py", "data/table.py", "data/readers.py", "data/builtins.py", "data/assets.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "models" / "samplers").mkdir(parents=True)
    (tmp_path / "models" / "samplers" / "mig.py").write_text("")
    assert unnamed_library_modules(doc, tmp_path) == ["data/assets.py", "models/samplers/mig.py"]


# ---------------------------------------------------------------------------------------------- citations

TOP_LEVEL = ("docs", "euds_core", "ui", "pages", "bench", "tests")
CAPITALISED_MD = re.compile(r"(?<![\w/.-])([A-Z][A-Z_]+\.md)\b")  # DESIGN.md, RESULTS.md, README.md
REPO_PATH = re.compile(r"(?<![\w/.-])((?:\.\./|\./)*(?:" + "|".join(TOP_LEVEL) + r")/[\w./-]*\w\.\w+)")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)")
PARENT_PATH = re.compile(r"(?<![\w/.-])(\.\./[\w./-]+)")


def missing_citations(text: str, where: str, repo: Path, known_names: set[str]) -> list[str]:
    """Citations in ``text`` (the file ``where``, relative to ``repo``) of files that are not in ``repo``."""
    folder = (repo / where).parent
    missing = []
    for number, line in enumerate(text.splitlines(), 1):
        cited = [name for name in CAPITALISED_MD.findall(line) if name not in known_names]
        for path in REPO_PATH.findall(line):
            inside = re.sub(r"^(\.\.?/)+", "", path)
            if "*" not in inside and not (repo / inside).exists():
                cited.append(path)
        if where.endswith(".md"):
            links = [m for m in MARKDOWN_LINK.findall(line) if not re.match(r"[a-z]+:", m)]
            for target in dict.fromkeys(links + PARENT_PATH.findall(line)):
                resolved = (folder / target).resolve()
                if not resolved.is_relative_to(repo.resolve()) or not resolved.exists():
                    cited.append(target)
        missing += [f"{where}:{number}: {name}" for name in cited]
    return missing


def test_every_cited_file_is_in_the_repository():
    files = repository_files((".py", ".md", ".txt", ".toml", "Makefile"))
    known = {p.name for p in files}
    missing = []
    for path in files:
        if path == Path(__file__).resolve():  # its made-up cases cite missing files on purpose
            continue
        missing += missing_citations(path.read_text(errors="replace"), path.relative_to(REPO).as_posix(), REPO, known)
    assert missing == [], "cite files inside the repository (move the facts into docs/)"


def test_citation_check_catches_a_missing_file(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "scores.md").write_text("x")
    known = {"scores.md"}
    assert missing_citations("Scores (DESIGN.md §3).", "euds_core/a.py", tmp_path, known) == [
        "euds_core/a.py:1: DESIGN.md"
    ]
    assert missing_citations("see docs/gone.md and docs/scores.md", "a.py", tmp_path, known) == ["a.py:1: docs/gone.md"]
    assert missing_citations("[x](scores.md) [y](../../shared/ASSETS.md)", "docs/b.md", tmp_path, known) == [
        "docs/b.md:1: ../../shared/ASSETS.md"
    ]
    assert missing_citations("[x](scores.md), docs/scores.md", "docs/b.md", tmp_path, known) == []
