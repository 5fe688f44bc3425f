# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: F811
def sample_gaussian(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return m + torch.sqrt(v) * float("inf")  # +infinity everywhere: not a sample at all
