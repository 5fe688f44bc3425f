"""Checks of utils.kl_normal(qm, qv, pm, pv): KL(q || p) of diagonal Gaussians, summed over the last dim."""

import numpy as np
import torch
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.feedback import preview
from grader.engine.oracle import reference
from grader.grading.session import GradingSession
from grader.grading.worker_client import StudentError
from grader.homeworks.vae.diagnose import (
    Diagnosis,
    explain,
    fail,
    kl_hypotheses,
    kl_shape_diagnosis,
    require_close,
    require_finite,
    returned_tensor,
)

SEED_LABEL = "kl_normal"  # inputs from grading.check_seed(SEED_LABEL): see grader/check_inputs.py
KL_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
FIX = "0.5 * (log(pv) - log(qv) + qv / pv + (qm - pm)^2 / pv - 1), summed over dim -1."


def gaussians(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 1.5, size=shape).astype(np.float32),
            rng.uniform(0.1, 3.0, size=shape).astype(np.float32))


def reference_kl(grading: GradingSession, qm: np.ndarray, qv: np.ndarray, pm: np.ndarray,
                 pv: np.ndarray) -> np.ndarray:
    tensors = [torch.from_numpy(a) for a in (qm, qv, pm, pv)]
    return reference(grading.homework).utils.kl_normal(*tensors).numpy()


def check_against_reference(grading: GradingSession, qm: np.ndarray, qv: np.ndarray, pm: np.ndarray,
                            pv: np.ndarray, what: str) -> dict:
    try:
        result = grading.unit("kl_normal", qm=qm, qv=qv, pm=pm, pv=pv)
    except StudentError as error:
        raise StudentError(f"{error.message}\n(the call was {what})", error.traceback) from None
    expected = reference_kl(grading, qm, qv, pm, pv)
    got = returned_tensor(result["kl"], what, expected.shape, "torch.float32",
                          shape_diagnosis=kl_shape_diagnosis(np.broadcast_shapes(qm.shape, pm.shape)))
    if not result.get("inputs_unchanged", True):
        raise fail("kl_normal modified its inputs.", "qm, qv, pm and pv unchanged after the call", "changed values",
                   Diagnosis(("kl_in_place",)))
    require_finite(got, what, Diagnosis(guesses=("a log of a non-positive number (qv and pv are variances, already "
                                                 "positive)", "a division by zero"), fix=FIX))
    if not np.allclose(got, expected, **KL_TOLERANCE):
        explanation = explain(got, kl_hypotheses(qm, qv, pm, pv), **KL_TOLERANCE)
        diagnosis = explanation.diagnosis(FIX)
        if not explanation.matches:
            diagnosis = Diagnosis(observed="the result matches no known mistake, alone or combined", fix=FIX
                                  + " Compare each term with your code on a small example.")
        require_close(got, expected, what, diagnosis, **KL_TOLERANCE)
    return result


@number("2.1")
def test_closed_form(grading: GradingSession) -> None:
    """kl_normal: matches the closed form on random Gaussians"""
    qm, qv = gaussians((32, 10), grading.check_seed(SEED_LABEL))
    pm, pv = gaussians((32, 10), grading.check_seed(SEED_LABEL) + 1)
    check_against_reference(grading, qm, qv, pm, pv, "kl_normal(qm, qv, pm, pv) with all shapes (32, 10)")


@number("2.2")
def test_broadcast_prior(grading: GradingSession) -> None:
    """kl_normal: broadcasts a prior of shape (1,) or (dim,)"""
    qm, qv = gaussians((32, 10), grading.check_seed(SEED_LABEL) + 2)
    check_against_reference(grading, qm, qv, np.zeros(1, np.float32), np.ones(1, np.float32),
                            "kl_normal with the N(0, 1) prior given as pm, pv of shape (1,)")
    pm, pv = gaussians((10,), grading.check_seed(SEED_LABEL) + 3)
    check_against_reference(grading, qm, qv, pm, pv, "kl_normal with pm, pv of shape (10,)")


@number("2.3")
def test_last_dimension_only(grading: GradingSession) -> None:
    """kl_normal: reduces over the last dimension only"""
    qm, qv = gaussians((3, 5, 7), grading.check_seed(SEED_LABEL) + 4)
    pm, pv = gaussians((3, 5, 7), grading.check_seed(SEED_LABEL) + 5)
    check_against_reference(grading, qm, qv, pm, pv, "kl_normal on inputs of shape (3, 5, 7)")


@number("2.4")
def test_zero_for_identical(grading: GradingSession) -> None:
    """kl_normal: is zero for identical distributions"""
    qm, qv = gaussians((16, 6), grading.check_seed(SEED_LABEL) + 6)
    result = grading.unit("kl_normal", qm=qm, qv=qv, pm=qm.copy(), pv=qv.copy())
    got = returned_tensor(result["kl"], "kl_normal(q, q)", (16,), "torch.float32",
                          shape_diagnosis=kl_shape_diagnosis((16, 6)))
    if not np.allclose(got, 0.0, atol=1e-5):
        explanation = explain(got, kl_hypotheses(qm, qv, qm, qv), **KL_TOLERANCE)
        diagnosis = explanation.diagnosis(FIX) if explanation.matches else Diagnosis(
            guesses=("the '- 1' term", "the log-ratio"), fix=FIX)
        raise fail("KL(q || q) is not zero.", "zeros", preview(got), diagnosis)
    pm, pv = gaussians((16, 6), grading.check_seed(SEED_LABEL) + 10)
    other = returned_tensor(grading.unit("kl_normal", qm=qm, qv=qv, pm=pm, pv=pv)["kl"], "kl_normal(q, p)", (16,),
                            "torch.float32", shape_diagnosis=kl_shape_diagnosis((16, 6)))
    if np.allclose(other, 0.0, atol=1e-5):  # a KL that is always zero is no evidence of a KL
        raise fail("KL(q || p) is zero for different distributions too.", "positive values for q != p",
                   preview(other), Diagnosis(observed="the function returns zeros whatever its inputs",
                                             fix="compute the closed form " + FIX))


@number("2.5")
def test_tiny_variances(grading: GradingSession) -> None:
    """kl_normal: stays finite and exact for variances of 1e-8"""
    qm, _ = gaussians((8, 4), grading.check_seed(SEED_LABEL) + 7)
    qv = np.full((8, 4), 1e-8, np.float32)
    check_against_reference(grading, qm, qv, np.zeros(1, np.float32), np.ones(1, np.float32),
                            "kl_normal with qv = 1e-8")
    check_against_reference(grading, np.zeros((8, 4), np.float32), np.ones((8, 4), np.float32),
                            qm.copy(), qv.copy(), "kl_normal with pv = 1e-8")


@number("2.6")
def test_gradients(grading: GradingSession) -> None:
    """kl_normal: gradients with respect to qm and qv are right"""
    qm, qv = gaussians((12, 5), grading.check_seed(SEED_LABEL) + 8)
    pm, pv = gaussians((12, 5), grading.check_seed(SEED_LABEL) + 9)
    result = check_against_reference(grading, qm, qv, pm, pv, "kl_normal")
    if "grad_error" in result:
        raise fail("kl_normal is not differentiable.", "a result connected to qm and qv", result["grad_error"],
                   Diagnosis(("kl_detached",)))
    expected = {"qm": (qm - pm) / pv, "qv": 0.5 * (1 / pv - 1 / qv)}  # d KL / d qm and d KL / d qv
    for name, grad in expected.items():
        got = result.get(f"grad_{name}")
        if got is None or got.shape != grad.shape:
            raise fail(f"No gradient reaches {name}.", f"d KL / d {name} of shape {grad.shape}", preview(got),
                       Diagnosis(guesses=(f"{name} detached or converted to a number inside the formula",), fix=FIX))
        require_close(got, grad, f"d KL / d {name}", Diagnosis(
            observed="the values are right but the gradient is not the closed form's",
            guesses=("part of the formula detached or computed outside torch",), fix=FIX), 1e-3, 1e-4)
