"""Import ``torchvision.utils`` even where the installed torchvision wheel does not match torch's build.

A CUDA build of torchvision next to a CPU build of torch fails at import with
``operator torchvision::nms does not exist``: torchvision registers Python fallbacks for operators its
compiled library was meant to define first. Declaring the two operator schemas ourselves lets the pure
Python parts (``torchvision.utils``, the datasets) import. Nothing is done when the normal import works.
"""

import sys
from types import ModuleType

import torch

MISSING_OPERATOR_MESSAGE = "torchvision::nms does not exist"
_OPERATOR_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
)
_libraries: list[torch.library.Library] = []  # kept alive: the definitions vanish with the object


def _declare_missing_operators() -> None:
    library = torch.library.Library("torchvision", "DEF")
    for schema in _OPERATOR_SCHEMAS:
        library.define(schema)
    _libraries.append(library)


def torchvision_utils() -> ModuleType:
    """Return the ``torchvision.utils`` module, working around a CPU/CUDA build mismatch if needed."""
    try:
        import torchvision.utils
    except RuntimeError as error:
        if MISSING_OPERATOR_MESSAGE not in str(error):
            raise
        for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
            del sys.modules[name]  # drop the half-imported package before importing it again
        _declare_missing_operators()
        import torchvision.utils
    return torchvision.utils
