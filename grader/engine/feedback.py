"""How a failed check talks to the student: what was expected, what came back, the likely mistake."""

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from grader.grading.worker_client import StudentError


class WrongAnswer(AssertionError):
    """The student's code ran and returned something wrong; the message is shown as it is."""


def explain(expected: str, got: str, mistake: str = "") -> str:
    lines = [f"Expected: {expected}", f"Got:      {got}"]
    if mistake:
        lines.append(f"Likely mistake: {mistake}")
    return "\n".join(lines)


def wrong(summary: str, expected: str, got: str, mistake: str = "") -> WrongAnswer:
    return WrongAnswer(f"{summary}\n{explain(expected, got, mistake)}")


def preview(array: object, limit: int = 6) -> str:
    """A short, readable rendering of an array for a message."""
    if not isinstance(array, np.ndarray):
        return repr(array)[:200]
    flat = array.reshape(-1)
    values = ", ".join(f"{v:.4g}" for v in flat[:limit].astype(np.float64))
    more = ", ..." if flat.size > limit else ""
    return f"shape {tuple(array.shape)}, values [{values}{more}]"


def worst_difference(got: np.ndarray, expected: np.ndarray) -> str:
    """Where ``got`` is furthest from ``expected`` (same shape); a NaN or infinity in ``got`` counts as furthest."""
    got64, expected64 = got.astype(np.float64), expected.astype(np.float64)
    if got64.size == 0:
        return "no values"
    difference = np.where(np.isfinite(got64), np.abs(got64 - expected64), np.inf)
    index = np.unravel_index(int(np.argmax(difference)), difference.shape)
    gap = float(difference[index])
    gap_text = f"{gap:.4g}" if np.isfinite(gap) else "not finite"
    return (f"largest difference {gap_text} at index {tuple(int(i) for i in index)}: "
            f"got {float(got64[index]):.6g}, expected {float(expected64[index]):.6g}")


@contextmanager
def hint_on_error(hint: str) -> Iterator[None]:
    """Add a hint about the likely cause to an error the student's code raised in this block."""
    try:
        yield
    except StudentError as error:
        raise StudentError(f"{error.message}\nLikely mistake: {hint}", error.traceback) from None
