"""The package's layers (docs/architecture.md): data flows one way, and no module imports one
above its own layer, nor sits in an import circle. Imports under TYPE_CHECKING count too.

Read from the source with `ast`, so the test sees every import, including those inside
functions."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "churnhealth"
LAYERS = ("data", "features", "models", "scoring", "evaluation", "tracking", "jobs", "cli")
"""Lowest first: a module may import from its own layer and the ones before it."""
BASE_MAY_IMPORT = {"churnhealth.__main__": {"cli"}, "churnhealth.synth": {"data", "features"}}
"""The modules beside the layers (configuration, errors, locks, progress, …) import none of
them, but for these: the entry point, and the demo company's generator, which writes raw
tables and reads the label definitions."""


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the churnhealth modules (or packages) it imports."""
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    found.add(full if full in modules else target)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        edges[name] = {t for t in found if t.startswith("churnhealth") and t != name}
    return edges


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_no_module_imports_from_a_higher_layer():
    modules = _modules()
    upward = set()
    for a, targets in _imports(modules).items():
        for b in targets:
            la, lb = _layer(a), _layer(b)
            if la is None and lb is not None:
                root = ".".join(a.split(".")[:2])
                if lb not in BASE_MAY_IMPORT.get(root, set()):
                    upward.add((a, b))
            elif la and lb and LAYERS.index(lb) > LAYERS.index(la):
                upward.add((a, b))
    assert upward == set(), sorted(upward)


def test_no_import_circle():
    modules = _modules()
    edges = _imports(modules)
    graph = {a: {b for b in ts if b in modules} for a, ts in edges.items()}
    circles = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while (w := stack.pop()) != v:
                part.append(w)
            if part:
                circles.append(sorted([v, *part]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_jobs_do_not_import_each_other():
    """A job wires the stages; what two jobs share lives in a stage (e.g. `evaluation.training`
    for train and the monitor's retraining), never in a job another imports."""
    edges = _imports(_modules())
    jobs = {a: {b for b in ts if b.startswith("churnhealth.jobs.")} for a, ts in edges.items()}
    assert {a: b for a, b in jobs.items() if a.startswith("churnhealth.jobs.") and b} == {}
