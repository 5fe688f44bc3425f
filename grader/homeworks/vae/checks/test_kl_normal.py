"""Checks of utils.kl_normal(qm, qv, pm, pv): KL(q || p) of diagonal Gaussians, summed over the last dim."""

import numpy as np
import torch
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.expect import require_close, require_finite, tensor_values
from grader.engine.feedback import hint_on_error, preview, wrong
from grader.engine.oracle import reference
from grader.grading.session import GradingSession
from grader.homeworks.vae.diagnose import kl_variants, likely_mistake

SEED_LABEL = "kl_normal"  # inputs from grading.check_seed(SEED_LABEL): see grader/check_inputs.py
FALLBACK = "compare each term with 0.5 * (log(pv) - log(qv) + qv / pv + (qm - pm)^2 / pv - 1), summed over dim -1."
TINY_FALLBACK = ("exact at tiny variances means no constant inside the log (log(qv + 1e-6)) and no clamp: the "
                 "variances are already positive; use torch.log(qv) and torch.log(pv) as they are.")


def gaussians(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 1.5, size=shape).astype(np.float32),
            rng.uniform(0.1, 3.0, size=shape).astype(np.float32))


def reference_kl(grading: GradingSession, qm: np.ndarray, qv: np.ndarray, pm: np.ndarray,
                 pv: np.ndarray) -> np.ndarray:
    tensors = [torch.from_numpy(a) for a in (qm, qv, pm, pv)]
    return reference(grading.homework).utils.kl_normal(*tensors).numpy()


def check_against_reference(grading: GradingSession, qm: np.ndarray, qv: np.ndarray, pm: np.ndarray,
                            pv: np.ndarray, what: str, fallback: str = FALLBACK) -> dict:
    with hint_on_error(f"{what}: a shape or size hard-coded for (batch, 10), or a reduction over a fixed "
                       "dimension; work on the last dimension (dim=-1) whatever the shape."):
        result = grading.unit("kl_normal", qm=qm, qv=qv, pm=pm, pv=pv)
    expected = reference_kl(grading, qm, qv, pm, pv)
    got = tensor_values(result["kl"], what, expected.shape, "torch.float32",
                        "sum over the last dimension only: .sum(-1) (or dim=-1), one KL per row.")
    if not result.get("inputs_unchanged", True):
        raise wrong("kl_normal modified its inputs.", "qm, qv, pm and pv unchanged after the call", "changed values",
                    "an in-place operation such as qm.sub_(pm), qv.log_() or pv += ...; use out-of-place "
                    "operations.")
    require_finite(got, what, "a log of a non-positive number: qv and pv are variances, already positive.")
    mistake = likely_mistake(got, kl_variants(qm, qv, pm, pv), fallback)
    require_close(got, expected, what, mistake)
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
    got = tensor_values(result["kl"], "kl_normal(q, q)", (16,), "torch.float32")
    if not np.allclose(got, 0.0, atol=1e-5):
        raise wrong("KL(q || q) is not zero.", "zeros", preview(got),
                    likely_mistake(got, kl_variants(qm, qv, qm, qv), "the '- 1' term or the log-ratio is off."))
    pm, pv = gaussians((16, 6), grading.check_seed(SEED_LABEL) + 10)
    other = tensor_values(grading.unit("kl_normal", qm=qm, qv=qv, pm=pm, pv=pv)["kl"], "kl_normal(q, p)", (16,),
                          "torch.float32")
    if np.allclose(other, 0.0, atol=1e-5):  # a KL that is always zero is no evidence of a KL
        raise wrong("KL(q || p) is zero for different distributions too.", "positive values for q != p",
                    preview(other), "the function returns zeros whatever its inputs; compute the closed form "
                    "0.5 * (log(pv) - log(qv) + qv / pv + (qm - pm)^2 / pv - 1), summed over dim -1.")


@number("2.5")
def test_tiny_variances(grading: GradingSession) -> None:
    """kl_normal: stays finite and exact for variances of 1e-8"""
    qm, _ = gaussians((8, 4), grading.check_seed(SEED_LABEL) + 7)
    qv = np.full((8, 4), 1e-8, np.float32)
    check_against_reference(grading, qm, qv, np.zeros(1, np.float32), np.ones(1, np.float32),
                            "kl_normal with qv = 1e-8", TINY_FALLBACK)
    check_against_reference(grading, np.zeros((8, 4), np.float32), np.ones((8, 4), np.float32),
                            qm.copy(), qv.copy(), "kl_normal with pv = 1e-8", TINY_FALLBACK)


@number("2.6")
def test_gradients(grading: GradingSession) -> None:
    """kl_normal: gradients with respect to qm and qv are right"""
    qm, qv = gaussians((12, 5), grading.check_seed(SEED_LABEL) + 8)
    pm, pv = gaussians((12, 5), grading.check_seed(SEED_LABEL) + 9)
    result = check_against_reference(grading, qm, qv, pm, pv, "kl_normal")
    if "grad_error" in result:
        raise wrong("kl_normal is not differentiable.", "a result connected to qm and qv", result["grad_error"],
                    "numpy, math.log, .item() or .detach() cut the graph; use torch operations throughout.")
    expected = {"qm": (qm - pm) / pv, "qv": 0.5 * (1 / pv - 1 / qv)}  # d KL / d qm and d KL / d qv
    for name, grad in expected.items():
        got = result.get(f"grad_{name}")
        if got is None or got.shape != grad.shape:
            raise wrong(f"No gradient reaches {name}.", f"d KL / d {name} of shape {grad.shape}", preview(got),
                        "the result must be computed from the inputs with torch operations.")
        require_close(got, grad, f"d KL / d {name}", "the formula differs from the closed form", 1e-3, 1e-4)
