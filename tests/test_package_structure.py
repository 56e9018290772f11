"""The package's shape: no import cycle, small modules, and one name per stage in the rule
file, the results folder, the CLI verb and the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gla_model.cli import COMMANDS
from gla_model.layout import Layout

PACKAGE = Path(__file__).resolve().parent.parent / "gla_model"
RULES = PACKAGE.parent / "workflow" / "rules"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found.update(name for name in names if name in modules)
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


def test_no_import_cycle():
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: imported_modules(path, set(paths)) - {name} for name, path in paths.items()}
    # A package's __init__ importing its own submodules is not a cycle of meaning; drop
    # the edges from a package to its children.
    graph = {name: {m for m in deps if not m.startswith(f"{name}.")}
             for name, deps in graph.items()}
    visiting, done, cycles = set(), set(), []

    def visit(node: str, trail: list[str]) -> None:
        if node in done:
            return
        if node in visiting:
            cycles.append([*trail[trail.index(node):], node])
            return
        visiting.add(node)
        for dep in sorted(graph[node]):
            visit(dep, [*trail, node])
        visiting.discard(node)
        done.add(node)

    for name in sorted(graph):
        visit(name, [])
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: module_name(p))
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("rule_file", sorted(RULES.glob("*.smk")), ids=lambda p: p.stem)
def test_a_stage_has_one_name_everywhere(rule_file):
    stage = rule_file.stem
    if stage == "common":
        pytest.skip("input functions, not a stage")
    assert stage in COMMANDS, f"no `gla-model {stage}` verb"
    module = COMMANDS[stage][0]
    assert module.split(".")[1] == stage, f"`gla-model {stage}` lives in {module}"
    assert (PACKAGE / stage).is_dir() or (PACKAGE / f"{stage}.py").is_file()
    results = Layout().results
    declared = {path.relative_to(results).parts[0]
                for path in _layout_paths(Layout()) if path.is_relative_to(results)}
    assert stage in declared, f"no results/{stage}/ in gla_model.layout"


def _layout_paths(layout: Layout) -> list[Path]:
    return [layout.cohort_table, layout.qc_table, layout.folds_table,
            layout.checkpoint(variant="v", fold="0"), layout.synth_dir(variant="v", fold="0"),
            layout.uncertainty(variant="v", kind="subjects"),
            layout.metric_spec, layout.features("real_pet"),
            layout.classification(task="ad_vs_cn", experiment="paired", source="mri_only"),
            layout.report_dir]
