"""Load the Lambda handlers from ``functions/<name>/app.py`` under distinct module names.

Every function's module is called ``app`` (as in the SAM CLI's templates), so they cannot be imported side
by side by name; tests, the rehearsal and the benchmark load them from their files instead.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"


def function_names() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS_DIR.glob("*/app.py"))


def load_function_module(name: str, *, fresh: bool = False) -> ModuleType:
    """Import ``functions/<name>/app.py`` as module ``arda_fn_<name>`` (cached unless ``fresh``)."""
    module_name = f"arda_fn_{name}"
    if not fresh and module_name in sys.modules:
        return sys.modules[module_name]
    path = FUNCTIONS_DIR / name / "app.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
