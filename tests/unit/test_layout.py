"""The library's shape, so that it stays readable: no import cycle between its modules (counting
imports inside functions, which only hide one), no module over 400 lines, no function over 60
lines (argument parsers excepted: one long list of options reads best in one place)."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from helpers import REPO

LIBRARY = REPO / "workflow" / "latentbalance"
MODULES = sorted(LIBRARY.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ARGUMENT_PARSERS = {("cli.py", "build_parser")}


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (LIBRARY.parent / name.replace(".", "/") / "__init__.py").exists()


def imported_modules(path: Path) -> set[str]:
    """The library modules ``path`` imports, anywhere in it; a package's ``__init__`` counts only
    where a name from it is not a submodule."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("latentbalance")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("latentbalance"):
                source = node.module
            else:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(
                    submodule if any(module_name(p) == submodule for p in MODULES) else source
                )
    return {m for m in found if m != name and not is_package(m)}


def test_the_library_has_no_import_cycle():
    graph = {module_name(path): imported_modules(path) for path in MODULES}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_the_import_graph_sees_relative_and_lazy_imports():
    # the check above is only as good as this reading: stages imports the sampler inside a function
    stages = imported_modules(LIBRARY / "stages.py")
    assert "latentbalance.verdict.plots" in stages
    assert any(m.startswith("latentbalance.rebalance.") for m in stages)
    cli = imported_modules(LIBRARY / "cli.py")
    assert "latentbalance.data.inspection" in cli


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_modules_and_functions_stay_short(path):
    lines = path.read_text().splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{path.name}: {len(lines)} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse("\n".join(lines)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
        and (path.name, node.name) not in ARGUMENT_PARSERS
    ]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize(
    "path, limit",
    # common.smk is Snakemake glue only (what can be unit-tested lives in the library); README is
    # the front door: what it does, how to run it, where to read on
    [("workflow/rules/common.smk", 160), ("README.md", 160)],
)
def test_the_glue_and_the_front_page_stay_short(path, limit):
    lines = (REPO / path).read_text().splitlines()
    assert len(lines) <= limit, f"{path}: {len(lines)} lines, more than {limit}"
