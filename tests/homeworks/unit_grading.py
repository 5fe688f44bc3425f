"""What the catalogue tests of several homeworks share: one torch thread for the trusted side's in-process work (as
a grading on Gradescope has), and the same check inputs for every grading of a test run (so that the cases the
checks build are built once and each grading costs a worker and a few calls)."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from grader.engine.check_inputs import DEVELOPMENT_SECRET, check_seed
from grader.grading.session import GradingSession


@contextmanager
def one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def fix_check_inputs(monkeypatch: pytest.MonkeyPatch, digest: str) -> None:
    """Every grading from here on draws the check inputs of ``digest``, whatever its files."""
    monkeypatch.setattr(GradingSession, "check_seed", lambda self, label: check_seed(DEVELOPMENT_SECRET, digest, label))
