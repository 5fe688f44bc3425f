"""Checks of utils.log_normal(x, m, v): log N(x; m, diag(v)) with v a variance, summed over the last dimension.

A failed comparison names the mistake when the student's values match one: v used as a standard deviation, the
log(2 pi) term left out, the 1/2 missing, a mean over the dimension instead of a sum, the sign flipped.
"""

import math

import numpy as np
import torch
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.oracle import reference
from grader.grading.session import GradingSession
from grader.grading.worker_client import StudentError
from grader.homeworks.vae.diagnose import (
    Diagnosis,
    Variant,
    fail,
    likely_mistake,
    require_close,
    require_finite,
    returned_tensor,
)

SEED_LABEL = "log_normal"
TOLERANCE = {"rtol": 1e-4, "atol": 1e-3}
FIX = "-0.5 * (log(2 pi) + log(v) + (x - m)^2 / v) for each coordinate, summed over dim -1 (v is a variance)."
GRADIENT_TOLERANCE = {"rtol": 1e-3, "atol": 1e-4}


def gaussian_inputs(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, m and v (variances from 0.05 to 2: a standard deviation differs from them) of ``shape``."""
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 1.0, size=shape).astype(np.float32)
    v = rng.uniform(0.05, 2.0, size=shape).astype(np.float32)
    x = (m + np.sqrt(v) * rng.normal(size=shape)).astype(np.float32)
    return x, m, v


def variants(x: np.ndarray, m: np.ndarray, v: np.ndarray) -> list[Variant]:
    """What log_normal returns with each known mistake (float64)."""
    x, m, v = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (x, m, v)))
    log_2pi = math.log(2 * math.pi)

    def summed(terms: np.ndarray) -> np.ndarray:
        return terms.sum(-1)

    return [
        ("v was used as a standard deviation (log(v^2) and (x - m)^2 / v^2): v is already the variance",
         summed(-0.5 * (log_2pi + np.log(v**2) + (x - m) ** 2 / v**2))),
        ("the log(2 pi) term is missing", summed(-0.5 * (np.log(v) + (x - m) ** 2 / v))),
        ("the factor 1/2 is missing", summed(-(log_2pi + np.log(v) + (x - m) ** 2 / v))),
        ("the terms were averaged over the last dimension instead of summed",
         (-0.5 * (log_2pi + np.log(v) + (x - m) ** 2 / v)).mean(-1)),
        ("the sign is flipped: a log-density is -0.5 (...)", summed(0.5 * (log_2pi + np.log(v) + (x - m) ** 2 / v))),
        ("sqrt(v) was used as the variance (log(sqrt v) and (x - m)^2 / sqrt(v))",
         summed(-0.5 * (log_2pi + np.log(np.sqrt(v)) + (x - m) ** 2 / np.sqrt(v)))),
    ]


def call(grading: GradingSession, x: np.ndarray, m: np.ndarray, v: np.ndarray, what: str) -> tuple[dict, np.ndarray]:
    """The student's log_normal(x, m, v), checked against the reference's values; (the answer, the expected values)."""
    try:
        result = grading.unit("log_normal", x=x, m=m, v=v)
    except StudentError as error:
        raise StudentError(f"{error.message}\n(the call was {what})", error.traceback) from None
    expected = reference(grading.homework).utils.log_normal(*(torch.from_numpy(a) for a in (x, m, v))).numpy()
    got = returned_tensor(result["value"], what, expected.shape, "torch.float32",
                          shape_diagnosis=lambda shape: Diagnosis(
                              observed=f"shape {shape} for inputs of shape {np.broadcast_shapes(x.shape, m.shape)}",
                              fix="sum over the last dimension only: .sum(-1) (or .sum(dim=-1)), leaving the others."))
    if not result.get("inputs_unchanged", True):
        raise fail("log_normal modified its inputs.", "x, m and v unchanged after the call", "changed values",
                   Diagnosis(fix="compute new tensors (x - m, torch.log(v)) instead of writing into the inputs."))
    require_finite(got, what, Diagnosis(guesses=("a log of a non-positive number (v is a variance, already "
                                                 "positive)", "a division by zero"), fix=FIX))
    if not np.allclose(got, expected, **TOLERANCE):
        mistake = likely_mistake(got, variants(x, m, v), "")
        diagnosis = Diagnosis(guesses=(mistake,), fix=FIX) if mistake else Diagnosis(
            observed="the result matches no known mistake", fix=FIX + " Compare each term on a small example.")
        require_close(got, expected, what, diagnosis, **TOLERANCE)
    return result, expected


@number("6.1")
def test_log_density(grading: GradingSession) -> None:
    """log_normal: matches log N(x; m, diag(v)) on random Gaussians (v a variance)"""
    x, m, v = gaussian_inputs((64, 20), grading.check_seed(SEED_LABEL))
    call(grading, x, m, v, "log_normal(x, m, v) with all shapes (64, 20)")


@number("6.2")
def test_broadcast_and_last_dimension(grading: GradingSession) -> None:
    """log_normal: broadcasts a prior of shape (1,) and sums over the last dimension only"""
    x, _, _ = gaussian_inputs((32, 10), grading.check_seed(SEED_LABEL) + 1)
    call(grading, x, np.zeros(1, np.float32), np.ones(1, np.float32),
         "log_normal(z, m, v) with the N(0, 1) prior given as m, v of shape (1,) and z of shape (32, 10)")
    x, m, v = gaussian_inputs((3, 5, 7), grading.check_seed(SEED_LABEL) + 2)
    call(grading, x, m, v, "log_normal on inputs of shape (3, 5, 7)")


@number("6.3")
def test_gradients(grading: GradingSession) -> None:
    """log_normal: gradients in m and v are the log-density's"""
    x, m, v = gaussian_inputs((16, 8), grading.check_seed(SEED_LABEL) + 3)
    result, _ = call(grading, x, m, v, "log_normal(x, m, v) with shapes (16, 8)")
    if "grad_error" in result:
        raise fail("log_normal's result is not differentiable in m and v.", "a result that requires grad",
                   result["grad_error"], Diagnosis(fix="compute it with torch operations on m and v (no .detach(), "
                                                       "no numpy, no .item())."))
    x64, m64, v64 = (np.asarray(a, np.float64) for a in (x, m, v))
    expected = {"m": (x64 - m64) / v64, "v": -0.5 / v64 + 0.5 * (x64 - m64) ** 2 / v64**2}
    for name, value in expected.items():
        got = result.get(f"grad_{name}")
        if got is None:
            raise fail(f"log_normal's result does not depend on {name}.", f"d log N / d{name}", "no gradient",
                       Diagnosis(fix=FIX))
        require_close(np.asarray(got), value, f"the gradient of log_normal in {name}", Diagnosis(fix=FIX),
                      **GRADIENT_TOLERANCE)
