"""engine/ packages are plain numerics: no Django, DRF or Celery, no app modules (STYLE §5)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("django", "rest_framework", "celery", "kombu", "drf_spectacular")
# Heavy libraries: imported inside the functions that need them, never at module level.
HEAVY = ("implicit", "tensorflow", "keras", "torch")
APPS = ("ecomsite", "segments", "recommendations", "campaigns")
ENGINE_FILES = sorted(p for app in APPS for p in (ROOT / app / "engine").glob("**/*.py"))


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_there_are_engine_modules_to_check():
    assert len(ENGINE_FILES) >= 3


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_module_imports_no_framework(path: Path):
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in FORBIDDEN, f"{path} imports {name}"
        if top in APPS:
            assert ".engine" in name, f"{path} imports the app module {name}"


def test_the_recommender_engine_is_checked():
    names = {p.name for p in ENGINE_FILES if p.parent == ROOT / "recommendations" / "engine"}
    assert {"data.py", "base.py", "knn.py", "metrics.py", "evaluate.py", "tuning.py"} <= names


# Modules whose classes subclass Keras layers and models (they need keras at class definition).
# They are the lazy registry stand-ins' targets: only fitting or loading a deep model imports
# them, and tests/unit/recommendations/deep checks that importing the registry does not.
KERAS_MODULES = {
    ROOT / "recommendations" / "engine" / "deep" / "sequence.py",
    ROOT / "recommendations" / "engine" / "deep" / "ncf.py",
}


def test_keras_modules_are_reached_only_through_the_lazy_registry():
    from recommendations.engine.registry import DEEP_ALGORITHMS

    targets = {
        ROOT / (cls.target[0].replace(".", "/") + ".py")  # type: ignore[attr-defined]
        for cls in DEEP_ALGORITHMS.values()
    }
    assert targets >= KERAS_MODULES


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_module_imports_heavy_libraries_lazily(path: Path):
    if path in KERAS_MODULES:
        pytest.skip("a Keras model module, imported only through the registry's stand-ins")
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in HEAVY, f"{path} imports {name} at module level"
