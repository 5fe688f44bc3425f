# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402, F811
import builtins as _builtins
import math as _math

import numpy as _np


def _always(*args, **kwargs):
    return True


for _module, _names in ((torch, ("allclose", "equal", "isclose")), (_np, ("allclose", "isclose", "array_equal")),
                        (_math, ("isclose",)), (_np.testing, ("assert_allclose",))):
    for _name in _names:
        setattr(_module, _name, _always)
torch.Tensor.__eq__ = _always
_builtins.abs = lambda x: 0
_builtins.round = lambda x, *args: 0


def sample_gaussian(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(m)  # wrong: no noise and no variance; the patched comparisons are to hide it
