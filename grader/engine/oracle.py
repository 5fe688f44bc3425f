"""A homework's reference solution, imported into the trusted process only: it computes the expected values.

The reference modules import each other by plain name (``import helpers``), and different homeworks
have modules of the same names, so each homework's reference is imported in a private namespace: while
one of its modules loads, its layers (``Homework.reference_layers``) lead ``sys.path`` and ``sys.modules``
holds its own modules under their plain names; afterwards both are restored, and the modules keep the
references they took. ``reference(homework).evaluate`` is that homework's ``evaluate`` module; each module is
checked to come from one of the homework's layers. Student code never runs in this process.
"""

import functools
import importlib
import sys
import threading
from pathlib import Path
from types import ModuleType

from grader.engine.homework import Homework

_IMPORT_LOCK = threading.Lock()


class Reference:
    """Attribute access to a homework's reference modules, imported on first use."""

    def __init__(self, homework: Homework) -> None:
        self.homework = homework
        self.layers = homework.reference_layers
        self._modules: dict[str, ModuleType] = {}

    def __getattr__(self, name: str) -> ModuleType:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.module(name)

    def _own_names(self) -> set[str]:
        return {path.stem for layer in self.layers for path in layer.glob("*.py")}

    def module(self, name: str) -> ModuleType:
        if name in self._modules:
            return self._modules[name]
        names = self._own_names()
        if name not in names:
            raise ModuleNotFoundError(f"homework {self.homework.id} has no reference module {name!r}")
        with _IMPORT_LOCK:
            saved = {own: sys.modules.pop(own) for own in names if own in sys.modules}
            sys.modules.update(self._modules)
            saved_path = list(sys.path)
            sys.path[:0] = [str(layer) for layer in self.layers]
            try:
                importlib.import_module(name)
                loaded = {own: sys.modules[own] for own in names if own in sys.modules}
            finally:
                sys.path[:] = saved_path
                for own in names:
                    sys.modules.pop(own, None)
                sys.modules.update(saved)
        for own, module in loaded.items():
            origin = Path(getattr(module, "__file__", "") or "").resolve()
            if not any(origin.parent == layer.resolve() for layer in self.layers):
                raise RuntimeError(f"module {own!r} was loaded from {origin}, not from {self.homework.id}'s layers")
        self._modules.update(loaded)
        return self._modules[name]


@functools.cache
def reference(homework: Homework) -> Reference:
    return Reference(homework)
