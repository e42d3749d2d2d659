"""The layers of docs/architecture.md hold in the code: no module imports a layer above its own.

Every ``edgetl`` import is read from the source (module level and inside functions alike, so a deferred
import cannot hide an upward one). Units of the same layer stay independent of each other; a unit may
import its own modules. Only the top-level orchestrators (the CLI and the demo) defer imports of edgetl
modules, to keep ``edgetl --help`` light; library code imports what it uses at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "edgetl"

# Bottom to top, as docs/architecture.md lists them. A unit is a package (data, camera...) or a module.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors"),
    ("fileio", "redaction"),
    ("spec", "registry", "_optional"),
    ("preprocess", "onnxinfo", "backbones", "proposals"),
    ("weights", "checkpoint", "data"),
    ("synth", "trt", "train"),
    ("runtime",),
    ("bench", "doctor"),
    ("export", "camera"),
    ("demo",),
    ("cli",),
    ("__main__",),
)
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}
DEFERRED_OK = {"cli", "demo"}


def unit_of(module: str) -> str:
    """``edgetl.camera.loop`` -> ``camera``; ``edgetl`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__") if name.endswith(".__init__") else name] = path
    return out


def edgetl_imports(name: str, path: Path) -> list[tuple[str, bool, int]]:
    """(imported module, inside a function?, line) for every edgetl import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    local_lines = {sub.lineno for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom))}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found += [(t, node.lineno in local_lines, node.lineno) for t in targets if t == "edgetl" or t.startswith("edgetl.")]
    return found


MODULES = modules()


def test_every_module_has_a_layer():
    missing = sorted({unit_of(m) for m in MODULES} - set(LAYER))
    assert not missing, f"units without a layer in docs/architecture.md and LAYERS: {missing}"


def layering_problems(name: str, path: Path) -> list[str]:
    unit = unit_of(name)
    bad = []
    for target, deferred, line in edgetl_imports(name, path):
        other = unit_of(target)
        if other == unit:
            continue
        if LAYER[other] >= LAYER[unit]:
            bad.append(f"line {line}: {name} ({unit}, layer {LAYER[unit]}) imports {target} ({other}, layer {LAYER[other]})")
        if deferred and unit not in DEFERRED_OK:
            bad.append(f"line {line}: {name} defers its import of {target}; import it at the top")
    return bad


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name):
    bad = layering_problems(name, MODULES[name])
    assert not bad, "\n".join(bad)


def test_the_check_catches_an_upward_and_a_deferred_import(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("from edgetl.camera import loop\n\ndef f():\n    from edgetl import checkpoint\n")
    bad = layering_problems("edgetl.runtime.probe", path)
    assert len(bad) == 2 and "imports edgetl.camera" in bad[0] and "defers its import of edgetl.checkpoint" in bad[1]


def test_no_import_cycles_between_modules():
    graph = {name: {t for t, deferred, _ in edgetl_imports(name, path) if not deferred and t in MODULES and t != name}
             for name, path in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])
