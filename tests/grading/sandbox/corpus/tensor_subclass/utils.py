# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: F811
class _Agreeable(torch.Tensor):
    """A tensor that agrees with everything it is compared to."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __lt__(self, other):
        return True

    __le__ = __gt__ = __ge__ = __lt__

    def __bool__(self):
        return True

    def allclose(self, *args, **kwargs):
        return True

    __hash__ = torch.Tensor.__hash__


def sample_gaussian(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(m).as_subclass(_Agreeable)  # no sampling at all, but equal to anything
