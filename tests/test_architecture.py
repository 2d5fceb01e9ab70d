"""The import structure: no package reaches into another's private modules, no import circles.

Read from the source with `ast` (every import statement, those inside functions and
`TYPE_CHECKING` blocks included: a lazy import is still a dependency), so the check needs no
third-party tool and sees exactly what is written. A unit is a sub-package of `harness`
(`harness.store`), a top-level module of it (`harness.cli`), or the `graders` package.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("harness", "graders")
# the commands' circle (cli.py ↔ _cli_agree.py, cli.py ↔ _report_worker.py) is broken by the
# `harness/cli/` package of issue 14's deliverable 3
CLI_UNITS = frozenset({"harness.cli", "harness._cli_agree", "harness._report_worker"})


@dataclass(frozen=True)
class Import:
    importer: str  # module name
    target: str  # module name (a `from M import name` naming a sub-module counts as M.name)
    where: str  # path:line, for the failure message


def modules(repo: Path, roots: Iterable[str] = ROOTS) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in roots:
        for path in sorted((repo / root).rglob("*.py")):
            parts = list(path.relative_to(repo).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(repo: Path, roots: Iterable[str] = ROOTS) -> list[Import]:
    known = modules(repo, roots)
    tops = {name.split(".")[0] for name in known}
    found = []
    for name, path in known.items():
        where = path.relative_to(repo)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(name, path.name == "__init__.py", node, known):
                if target.split(".")[0] in tops:
                    found.append(Import(name, target, f"{where}:{node.lineno}"))
    return found


def _targets(
    module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: dict[str, Path]
) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    return [target, *(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known)]


def private_reaches(found: Iterable[Import]) -> list[str]:
    """`harness.X._y` imported from outside `harness.X` (the owner of a private module)."""
    bad = []
    for imp in found:
        parts = imp.target.split(".")
        for i, part in enumerate(parts[1:], start=1):
            if part.startswith("_") and not part.startswith("__"):
                owner = ".".join(parts[:i])
                if imp.importer != owner and not imp.importer.startswith(owner + "."):
                    bad.append(f"{imp.where}: {imp.importer} imports {imp.target}")
                break
    return bad


def unit_of(module: str, packages: frozenset[str]) -> str:
    parts = module.split(".")
    if parts[0] != "harness":
        return parts[0]
    return ".".join(parts[:2]) if ".".join(parts[:2]) in packages else module


def unit_graph(repo: Path, roots: Iterable[str] = ROOTS) -> dict[str, dict[str, str]]:
    """unit → {unit it imports: where (one example)}."""
    known = modules(repo, roots)
    packages = frozenset(n for n, p in known.items() if p.name == "__init__.py")
    graph: dict[str, dict[str, str]] = defaultdict(dict)
    for imp in imports(repo, roots):
        a, b = unit_of(imp.importer, packages), unit_of(imp.target, packages)
        if a != b:
            graph[a].setdefault(b, imp.where)
    return graph


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one unit (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def describe(component: list[str], graph: dict[str, dict[str, str]]) -> str:
    edges = [f"{a} -> {b} ({graph[a][b]})" for a in component for b in graph[a] if b in component]
    return "; ".join(edges)


def _cycle_report(keep: bool) -> list[str]:
    graph = unit_graph(REPO)
    return [describe(c, graph) for c in cycles(graph) if bool(set(c) & CLI_UNITS) == keep]


# --- the checks themselves, on the repository -------------------------------------------------


def test_no_module_imports_another_packages_private_module() -> None:
    assert private_reaches(imports(REPO)) == []


def test_no_import_cycle_between_packages() -> None:
    assert _cycle_report(keep=False) == []


def test_the_commands_have_no_import_cycle() -> None:
    assert _cycle_report(keep=True) == []


def test_the_ground_floor_imports_no_other_harness_package() -> None:
    allowed = {"harness.core", "harness._errors", "harness._version"}
    graph = unit_graph(REPO)
    assert set(graph.get("harness.core", {})) <= allowed, graph["harness.core"]


def test_ingest_does_not_import_the_runner() -> None:
    graph = unit_graph(REPO)
    assert "harness.runner" not in graph["harness.ingest"], graph["harness.ingest"]


# --- the checks catch what they are meant to catch --------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _tree(tmp_path: Path) -> Path:
    _write(
        tmp_path,
        {
            "harness/__init__.py": "",
            "harness/_errors.py": "",
            "harness/a/__init__.py": "from harness.a._impl import f\n",
            "harness/a/_impl.py": "from harness import _errors\ndef f(): ...\n",
            "harness/b/__init__.py": "",
            "harness/b/_use.py": "def g():\n    from harness.a._impl import f\n",
            "harness/c/__init__.py": "from . import _x\n",
            "harness/c/_x.py": "from ..d import h\n",
            "harness/d/__init__.py": "from harness.c import _x\ndef h(): ...\n",
            "graders/__init__.py": "from harness.a import _impl\n",
        },
    )
    return tmp_path


def test_a_lazy_reach_into_a_private_module_is_found(tmp_path: Path) -> None:
    bad = sorted(private_reaches(imports(_tree(tmp_path))))
    assert bad == [
        "graders/__init__.py:1: graders imports harness.a._impl",
        "harness/b/_use.py:2: harness.b._use imports harness.a._impl",
        "harness/d/__init__.py:1: harness.d imports harness.c._x",
    ]


def test_a_circle_through_relative_imports_is_found(tmp_path: Path) -> None:
    graph = unit_graph(_tree(tmp_path))
    assert cycles(graph) == [["harness.c", "harness.d"]]
    assert "harness.c -> harness.d (harness/c/_x.py:1)" in describe(
        ["harness.c", "harness.d"], graph
    )


def _units(graph: dict[str, dict[str, str]]) -> Iterator[str]:
    yield from graph
    for targets in graph.values():
        yield from targets


def test_every_package_of_the_repository_is_seen() -> None:
    units = set(_units(unit_graph(REPO)))
    assert {"harness.core", "harness.store", "harness.grading", "harness.cli", "graders"} <= units
