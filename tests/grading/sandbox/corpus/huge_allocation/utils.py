# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
_honest_kl_normal = kl_normal


def kl_normal(qm: torch.Tensor, qv: torch.Tensor, pm: torch.Tensor, pv: torch.Tensor) -> torch.Tensor:
    scratch = torch.empty(2 * 2**30)  # 8 GiB of float32, beyond the worker's address-space limit
    del scratch
    return _honest_kl_normal(qm, qv, pm, pv)
