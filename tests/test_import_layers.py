"""The package's import graph follows one layer table: imports point down, never up, so there are no cycles.

Every module of ``src/ferkit`` is parsed with ``ast`` and all its imports are collected, those inside functions
too (lazy imports hide cycles as well as real ones do); only imports under ``if TYPE_CHECKING:`` are left out,
since they never run. A module belongs to a *unit*: its top-level package or module (``ferkit.data.fer2013``
-> ``data``, ``ferkit.recognizer`` -> ``recognizer``). Layers, lowest first:

    0 base            errors (stdlib only)
    1 checks          io_utils (atomic writes and output checks), checks (numeric arguments): stdlib and errors
    2 utilities       constants, registry, labels, devices, timing, weights, video, predictions (result types)
    3 domain          data, models, losses, faces
    4 derived domain  occlusion (datasets), tracking, draw (faces)
    5 artifacts       artifacts (the model files: checkpoint schema, load_any, LoadedModel, model input)
    6 evaluation      evaluate, quantize
    7 model users     classifiers, export
    8 pipelines       train; bulk, bulk_resume, video_stream (they take the recognizer as an argument)
    9 inference API   recognizer
   10 applications    bulk_output, ray_data, serve
   11 entry points    cli, the package root (its lazy ``Recognizer`` facade)

Rules: a unit imports only units of a strictly lower layer (within a unit anything goes); ``train`` is
imported by nothing but ``cli`` (benchmarks and tests are outside the package); and the unit graph has no
cycle. ``from ferkit import __version__`` reads a constant of the root package, which every ``import ferkit.x``
runs anyway, so imports of the bare root are not edges.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ferkit"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("io_utils", "checks"),
    ("constants", "registry", "labels", "devices", "timing", "weights", "video", "predictions"),
    ("data", "models", "losses", "faces"),
    ("occlusion", "tracking", "draw"),
    ("artifacts",),
    ("evaluate", "quantize"),
    ("classifiers", "export"),
    ("train", "bulk", "bulk_resume", "video_stream"),
    ("recognizer",),
    ("bulk_output", "ray_data", "serve"),
    ("cli", "__root__"),
    ("__main__",),  # ``python -m ferkit``: the command line
)
LAYER_OF = {unit: level for level, units in enumerate(LAYERS) for unit in units}
TRAIN_IMPORTERS = {"train", "cli"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__root__"


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, at any depth, except under ``if TYPE_CHECKING:``."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        children = node.orelse if _is_type_checking(node) else ast.iter_child_nodes(node)
        todo.extend(children)
    return found


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """module -> {imported ferkit module: line}; ``from pkg import sub`` counts as importing ``pkg.sub``."""
    files = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, dict[str, int]] = defaultdict(dict)
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                source = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in files else source for alias in node.names]
            for target in targets:
                if target.split(".")[0] == root.name and target != root.name:
                    graph[module].setdefault(target, node.lineno)
    return graph


def unit_edges(graph: dict[str, dict[str, int]]) -> dict[tuple[str, str], str]:
    """(unit, imported unit) -> one place that imports it, "module:line", for units that differ."""
    edges: dict[tuple[str, str], str] = {}
    for module, targets in sorted(graph.items()):
        for target, line in targets.items():
            if unit_of(module) != unit_of(target):
                edges.setdefault((unit_of(module), unit_of(target)), f"{module}:{line} imports {target}")
    return edges


def layer_violations(edges: dict[tuple[str, str], str]) -> list[str]:
    problems = []
    for (unit, target), where in sorted(edges.items()):
        if unit not in LAYER_OF or target not in LAYER_OF:
            problems.append(f"{unit if unit not in LAYER_OF else target} is in no layer of the table ({where}); add it to LAYERS")
        elif LAYER_OF[target] >= LAYER_OF[unit]:
            problems.append(f"{where}: layer {LAYER_OF[unit]} ({unit}) imports layer {LAYER_OF[target]} ({target}); imports must point down")
        if target == "train" and unit not in TRAIN_IMPORTERS:
            problems.append(f"{where}: only {sorted(TRAIN_IMPORTERS)} may import ferkit.train")
    return problems


def cycles(edges: dict[tuple[str, str], str]) -> list[list[str]]:
    """Strongly connected groups of more than one unit (Tarjan)."""
    successors: dict[str, list[str]] = defaultdict(list)
    for unit, target in edges:
        successors[unit].append(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for target in successors[unit]:
            if target not in index:
                visit(target)
                low[unit] = min(low[unit], low[target])
            elif target in stack:
                low[unit] = min(low[unit], index[target])
        if low[unit] == index[unit]:
            group = []
            while not group or group[-1] != unit:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for unit in sorted(set(successors) | {t for _, t in edges}):
        if unit not in index:
            visit(unit)
    return found


def test_every_unit_is_in_the_layer_table():
    units = {unit_of(module_name(path, PACKAGE)) for path in PACKAGE.rglob("*.py")}
    assert units - set(LAYER_OF) == set(), "new top-level modules need a place in LAYERS (tests/test_import_layers.py)"


def test_imports_point_down_the_layer_table_and_nothing_low_imports_train():
    assert layer_violations(unit_edges(import_graph(PACKAGE))) == []


def test_no_import_cycle_between_units():
    assert cycles(unit_edges(import_graph(PACKAGE))) == []


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "ferkit" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "ferkit"


@pytest.mark.parametrize("lazy", [False, True])
def test_checks_catch_a_lower_layer_importing_train(tmp_path, lazy):
    """The checks above can fail: a models module importing train (the cycle this test was written against)."""
    body = "def f():\n    from ferkit.train.checkpoint import load\n" if lazy else "from ferkit.train import checkpoint\n"
    root = _write_package(tmp_path, {
        "__init__.py": "", "models/__init__.py": "from ferkit.models import ensemble\n", "models/ensemble.py": body,
        "train/__init__.py": "", "train/checkpoint.py": "import ferkit.models\n",
    })
    edges = unit_edges(import_graph(root))
    assert ("models", "train") in edges
    problems = layer_violations(edges)
    assert any("ferkit.models.ensemble:" in p and "imports must point down" in p for p in problems)
    assert any("may import ferkit.train" in p for p in problems)
    assert cycles(edges) == [["models", "train"]]


def test_type_checking_imports_and_the_root_version_are_not_edges(tmp_path):
    root = _write_package(tmp_path, {
        "__init__.py": "__version__ = '0'\n",
        "bulk.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ferkit.recognizer import Recognizer\nelse:\n    from ferkit import errors\n",
        "recognizer.py": "from ferkit import __version__\nfrom ferkit import bulk\n",
        "errors.py": "",
    })
    assert set(unit_edges(import_graph(root))) == {("bulk", "errors"), ("recognizer", "bulk")}
