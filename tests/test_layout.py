"""The package's layout: every module imports, and each layer imports only the layers below it.

Why a test: the layout (README "Layout") is what lets a newcomer find a stage's code; one upward import
(the model reaching into the track store, a track module into the variant stage) is how layers start to mix.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import genotile

PACKAGE = Path(genotile.__file__).parent
#: Bottom to top; a module may import its own layer and the ones before it (README "Layout").
LAYERS = ("outputs", "settings", "runtime", "sequence", "model", "tracks", "variants", "train", "report", "config_checks", "cli",
          "store", "genotile")


def _modules() -> list[str]:
    return ["genotile", *(m.name for m in pkgutil.walk_packages(genotile.__path__, "genotile."))]


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "genotile"


def _imports(path: Path) -> set[str]:
    """Every genotile module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "genotile":  # from genotile import outputs
            found.update(f"genotile.{a.name}" for a in node.names if a.name != "__version__")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "genotile":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "genotile")
    return found


@pytest.mark.parametrize("module", _modules())
def test_every_module_imports(module):
    importlib.import_module(module)


def test_every_package_is_a_known_layer():
    assert {_layer(m) for m in _modules()} <= set(LAYERS)


def test_each_layer_imports_only_the_layers_below_it():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("genotile", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        rank = LAYERS.index(_layer(module))
        for target in _imports(path):
            if _layer(target) != "genotile" and LAYERS.index(_layer(target)) > rank:
                upward.append(f"{module} imports {target}")
    assert upward == []
