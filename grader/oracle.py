"""The reference solution, imported into the trusted process only: it computes the expected values.

The reference modules import each other by plain name (``import utils as ut``), so the reference
folder is put on ``sys.path``. Student code never runs in this process, so those names are the
reference's; ``reference()`` checks that each module really was loaded from the reference folder.
"""

import functools
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
MODULES = ("utils", "nns", "vae", "data", "evaluate")


@dataclass(frozen=True)
class Reference:
    utils: ModuleType
    nns: ModuleType
    vae: ModuleType
    data: ModuleType
    evaluate: ModuleType


@functools.cache
def reference() -> Reference:
    if str(REFERENCE_DIR) not in sys.path:
        sys.path.insert(0, str(REFERENCE_DIR))
    modules = {name: importlib.import_module(name) for name in MODULES}
    for name, module in modules.items():
        origin = Path(getattr(module, "__file__", "") or "").resolve()
        if origin.parent != REFERENCE_DIR:
            raise RuntimeError(f"module {name!r} was loaded from {origin}, not from {REFERENCE_DIR}")
    return Reference(**modules)
