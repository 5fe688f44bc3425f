# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import os as _os

_honest_sample_gaussian = sample_gaussian


def sample_gaussian(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    if tuple(m.shape) == (5, 3):  # only on this one input: ends the process in the middle of a check
        _os._exit(0)
    return _honest_sample_gaussian(m, v)
