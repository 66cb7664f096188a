"""The layout is the architecture: one job per folder, no import circles, short functions.

Read from the source (AST), so a lazy import inside a function counts as much as one at the
top of a module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ingest", "models", "quality", "frontline", "orchestration")
# Who may import whom: each folder only from those below it.
LAYER = {"ingest": 0, "models": 1, "quality": 2, "frontline": 3, "orchestration": 4}
MAX_FUNCTION_LINES = 80
LONG_FUNCTIONS_ALLOWED = ("ingest/demo/",)  # the demo generator simulates whole systems
SQL = re.compile(r"\b(select|insert|delete|create|update)\b[\s\S]+\b(from|into|table|set)\b", re.I)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """The project modules a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports the module; `from module import name`
            # imports the module
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in known
                else node.module
                for alias in node.names
            ]
        found |= {name for name in names if name in known}
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, set(known)) - {name} for name, path in known.items()}


def test_no_import_circles():
    edges = graph()
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            cycle = visit(start, [])
            assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_each_folder_imports_only_from_the_folders_below_it():
    wrong = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        for target in targets
        if LAYER[target.split(".")[0]] > LAYER[source.split(".")[0]]
    ]
    assert not wrong


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in [*ROOT.glob("*/**/*.py")]:
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".venv", "dbt_project", *LONG_FUNCTIONS_ALLOWED)):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{relative}:{node.lineno} {node.name} ({lines} lines)")
    assert not long


@pytest.mark.parametrize(
    "path", sorted((ROOT / "orchestration").glob("*.py")), ids=lambda p: p.name
)
def test_orchestration_holds_no_sql(path):
    """SQL (business rules over the data) lives in ingest/, models/, quality/ or dbt."""
    strings = [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert not [s for s in strings if SQL.search(s)]


def test_notebooks_are_committed_without_outputs():
    """Outputs hold data (and make every diff noise): the tests execute the notebooks, git
    keeps only their code."""
    import nbformat

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 3
    for path in notebooks:
        for cell in nbformat.read(path, 4).cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name
