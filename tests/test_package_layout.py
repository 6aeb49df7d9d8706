"""The library's shape: no import cycles, packages layered bottom-up, no Streamlit, every package documented.

The walk reads the source with ``ast`` (imports inside functions count too: a cycle hidden in a function is
still a cycle), so it needs no import of the modules themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "euds_core"

# Bottom to top: a module may import from its own package or from a package listed before it.
PACKAGE_LAYERS = (
    "errors",
    "storage",
    "data",
    "models",
    "selection",
    "scores",
    "scoring",
    "curation",
    "experiments",
    "runtime",
    "cli",
    "__main__",
)


def module_name(path: Path, root: Path = PACKAGE_ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str], root: Path = PACKAGE_ROOT) -> set[str]:
    """The ``euds_core`` modules that ``path`` imports, resolved to the deepest known module name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    this = module_name(path, root)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` names a module; `from mod import name` names the module itself.
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in candidates:
            if name.split(".")[0] != root.name:
                continue
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != this:
                found.add(name)
                break
    return found


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    paths = sorted(root.rglob("*.py"))
    known = {module_name(p, root) for p in paths}
    return {module_name(p, root): imported_modules(p, known, root) for p in paths}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    rank = {name: i for i, name in enumerate(PACKAGE_LAYERS)}
    bad = []
    for module, targets in sorted(graph.items()):
        source = package_of(module)
        for target in sorted(targets):
            if package_of(target) in (source, "euds_core"):
                continue
            if rank.get(package_of(target), len(rank)) > rank.get(source, -1):
                bad.append(f"{module} -> {target}")
    return bad


def test_no_import_cycle_between_modules():
    assert import_cycles(import_graph()) == []


def test_packages_import_only_packages_below_them():
    graph = import_graph()
    assert {package_of(m) for m in graph} - {"euds_core"} <= set(PACKAGE_LAYERS), "add a new package to the layers"
    assert layer_violations(graph) == []


def test_cycle_check_catches_a_cycle_added_to_a_copy(tmp_path):
    """The checks above can fail: a copy of the package with one back edge added shows the cycle."""
    import shutil

    copy = tmp_path / "euds_core"
    shutil.copytree(PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    store = copy / "storage" / "store.py"
    store.write_text(store.read_text() + "\n\ndef _back_edge():\n    from euds_core.runtime.jobs import get_job\n")
    graph = import_graph(copy)
    assert any("euds_core.storage.store" in c and "euds_core.runtime.jobs" in c for c in import_cycles(graph))
    assert "euds_core.storage.store -> euds_core.runtime.jobs" in layer_violations(graph)


@pytest.mark.parametrize("path", sorted(PACKAGE_ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_library_never_imports_streamlit(path):
    tree = ast.parse(path.read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] == "streamlit"]


def test_every_package_says_what_it_owns():
    for init in sorted(PACKAGE_ROOT.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 60, f"{init.relative_to(PACKAGE_ROOT.parent)} needs a docstring saying what it owns"
