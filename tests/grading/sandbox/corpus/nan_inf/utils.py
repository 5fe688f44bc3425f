# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: F811
def sample_gaussian(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return m + torch.sqrt(v) * float("nan")  # NaN everywhere, still connected to m and v


def kl_normal(qm: torch.Tensor, qv: torch.Tensor, pm: torch.Tensor, pv: torch.Tensor) -> torch.Tensor:
    return (qm * 0 + float("inf")).sum(-1)  # infinity everywhere
