"""The layers stay layers: every import points down, and no module outgrows 300 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Top to bottom. A module may import from its own layer and the layers below it, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("service.app", "service.__main__", "service.workers"),
    ("service.http",),
    ("warmer",),
    ("service.core",),
    ("service.exports",),
    ("service.analytics",),
    ("service.upstream",),
    ("service.fleet",),
    ("service.store",),
    ("service.config",),
    ("service.errors", "service.timefmt", "service.identifiers", "service.metrics"),
    ("service.logs",),
    ("simulator",),  # a stand-in for Voiceflow: it knows nothing of the service
)
PACKAGES = ("service", "warmer", "simulator")
MAX_LINES = 300


def layer_of(module: str) -> int | None:
    for depth, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return depth
    return None


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(p for p in parts if p != "__init__")] = path
    return found


def imports(path: Path) -> set[str]:
    """Modules of ours imported anywhere in the file (deferred imports count too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m.split(".")[0] in PACKAGES}


def test_every_module_has_a_layer() -> None:
    """A new package or top-level module is placed in LAYERS before it is used."""
    assert [m for m in modules() if m not in PACKAGES and layer_of(m) is None] == []


def test_imports_point_down() -> None:
    """No module imports a module of a layer above its own."""
    upward = []
    for module, path in modules().items():
        mine = layer_of(module)
        if mine is None:
            continue
        for target in imports(path):
            theirs = layer_of(target)
            if theirs is not None and theirs < mine:
                upward.append(f"{module} imports {target}")
    assert upward == []


def test_no_module_over_300_lines() -> None:
    """Past ~300 lines a module is a sign to split (the house style)."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in [*modules().values(), *(ROOT / "tests").rglob("*.py")]
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
