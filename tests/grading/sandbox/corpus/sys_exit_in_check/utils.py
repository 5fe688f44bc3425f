# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import sys as _sys

_honest_kl_normal = kl_normal


def kl_normal(qm: torch.Tensor, qv: torch.Tensor, pm: torch.Tensor, pv: torch.Tensor) -> torch.Tensor:
    if tuple(qm.shape) == (16, 6):  # only on this one input: sys.exit in the middle of a check
        _sys.exit(0)
    return _honest_kl_normal(qm, qv, pm, pv)
