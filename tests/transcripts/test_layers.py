"""Imports in transcripts/ run one way (../shared/design.md): edges → workers → services →
live → backends / selectors → helpers → models. No module imports one above it, packages
on one level do not import each other, and there is no circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "transcripts"
# Lower numbers are lower layers; a module may import its own layer only inside its package.
LAYERS = {
    "models": 0,
    "search": 1, "quality": 1, "exports": 1, "paging": 1, "media_check": 1, "speakers": 1,
    "webhook_signing": 1, "webhook_targets": 1, "progress": 1, "openai_stream": 1,
    "backends": 2, "selectors": 2, "selectors_admin": 2,
    "live": 3,
    "services": 4,
    "workers": 5,
}
EDGE = 6  # views, api, admin, consumers, asgi, forms, routing, management commands, ...


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    """transcripts.services.jobs → services; transcripts.views → views."""
    return module.split(".")[1] if module.count(".") else module


def _layer(module: str) -> int:
    return LAYERS.get(_unit(module), EDGE)


def _imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names]
            found |= {n for n in [target, *names] if n.startswith("transcripts.")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("transcripts.")}
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in APP.rglob("*.py") if "migrations" not in p.parts}
    graph = {}
    for module, path in paths.items():
        # "from .x import name" names x when x is a module, else the package it came from.
        graph[module] = {t if t in paths else t.rsplit(".", 1)[0] for t in _imports(path, module)}
        targets = {t for t in graph[module] if t in paths and t != module}
        # "from package import module" imports that module, not (only) the package's __init__.
        graph[module] = {t for t in targets if not any(u.startswith(t + ".") for u in targets)}
    return graph


def test_no_module_imports_a_higher_layer_or_a_sibling_package():
    wrong = []
    for module, targets in _graph().items():
        for target in targets:
            if _layer(target) > _layer(module) or (
                    _layer(target) == _layer(module) < EDGE and _unit(target) != _unit(module)):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_the_import_graph_has_no_circle():
    graph = _graph()
    state: dict[str, str] = {}
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                circles.append(" → ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_checker_sees_a_circle_and_an_upward_import(tmp_path, monkeypatch):
    """The two tests above can fail: a services module importing a worker is caught."""
    package = tmp_path / "transcripts"
    (package / "services").mkdir(parents=True)
    (package / "workers").mkdir()
    for name in ("__init__.py", "services/__init__.py", "workers/__init__.py"):
        (package / name).write_text("")
    (package / "services" / "jobs.py").write_text("from ..workers import loop\n")
    (package / "workers" / "loop.py").write_text("from ..services import jobs\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["APP"]), "APP", package)
    assert _graph()["transcripts.services.jobs"] == {"transcripts.workers.loop"}
    with pytest.raises(AssertionError, match="services.jobs imports transcripts.workers.loop"):
        test_no_module_imports_a_higher_layer_or_a_sibling_package()
    with pytest.raises(AssertionError, match="services.jobs → transcripts.workers.loop → "):
        test_the_import_graph_has_no_circle()
