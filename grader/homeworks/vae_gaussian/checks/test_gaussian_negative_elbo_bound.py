"""Checks of GaussianVAE.negative_elbo_bound(x): part B's bound on a batch of dequantized test images, with the
grader's weights and noise, its helpers being the grader's (grader/homeworks/vae_gaussian/worker_ops.py), against
the reference's bound on the same inputs.

A failed comparison names the mistake when the student's terms match one: the decoder's variance given to
log_normal as a standard deviation, the variance ignored (a squared error), rec averaged over the pixels, the
terms summed over the batch, z taken as the encoder's mean, rec's sign flipped.
"""

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.homework import Homework
from grader.engine.oracle import reference
from grader.grading.session import GradingSession
from grader.homeworks.vae.diagnose import Diagnosis, Variant, fail, likely_mistake, require_close, returned_tensor
from grader.homeworks.vae_gaussian.trusted import data_file, intensities_of_test_set

SEED_LABEL = "gaussian_negative_elbo_bound"
Z_DIM, BATCH = 10, 100
# The decoder's z inputs scaled up: an untrained decoder barely uses z, and a bound that never samples z would come
# within a nat of the right one.
Z_INPUT_SCALE = 4.0
TOLERANCE = {"rtol": 1e-4, "atol": 1e-2}  # terms of hundreds of nats, in float32
GRADIENT_TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}
FIX = ("qm, qv = self.enc(x); kl = ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v).mean(); z = "
       "ut.sample_gaussian(qm, qv); mean, variance = self.dec(z); rec = -ut.log_normal(x, mean, variance).mean(); "
       "return kl + rec, kl, rec.")


@dataclass(frozen=True)
class BoundCase:
    weights: dict[str, np.ndarray]
    x: np.ndarray  # (BATCH, 784) dequantized test images
    epsilon: np.ndarray  # (BATCH, Z_DIM): the noise of sample_gaussian
    terms: np.ndarray  # (3,) the reference's nelbo, kl, rec
    grads: dict[str, np.ndarray]
    variants: list[Variant]  # (explanation, the (kl, rec) that mistake gives)


@functools.cache
def bound_case(homework: Homework, path_of_data: Path, seed: int) -> BoundCase:
    ref = reference(homework)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ref.gaussian_vae.GaussianVAE(z_dim=Z_DIM)
    with torch.no_grad():
        model.dec.net[0].weight.mul_(Z_INPUT_SCALE)
    start = seed % 5_000
    intensities = intensities_of_test_set(path_of_data)[start : start + BATCH]  # (BATCH, 784) uint8
    x = ref.data.dequantize(intensities, generator)  # (BATCH, 784)
    # The noise a bound draws inline (torch.randn_like(qm)) after the worker seeds torch with noise_seed: the same
    # as the fixed noise its ut.sample_gaussian gets.
    epsilon = torch.randn((BATCH, Z_DIM), generator=torch.Generator().manual_seed(noise_seed(seed)))
    qm, qv = model.enc(x)  # (BATCH, Z_DIM) each
    kl_each = ref.utils.kl_normal(qm, qv, model.z_prior_m, model.z_prior_v)  # (BATCH,)
    z = qm + qv.sqrt() * epsilon  # (BATCH, Z_DIM)
    mean, variance = model.dec(z)  # (BATCH, 784) each
    log_normal = ref.utils.log_normal
    rec_each = -log_normal(x, mean, variance)  # (BATCH,)
    nelbo = kl_each.mean() + rec_each.mean()
    nelbo.backward()
    grads = {name: p.grad.numpy().copy() for name, p in model.named_parameters()}
    with torch.no_grad():
        kl, rec = kl_each.mean().item(), rec_each.mean().item()
        at_mean = model.dec(qm)
        variants = [
            ("the decoder's variance was given to log_normal as a standard deviation (variance.sqrt() or ** 2): "
             "log_normal takes the variance itself", [kl, -log_normal(x, mean, variance.sqrt()).mean().item()]),
            ("the decoder's variance was given to log_normal squared", [kl, -log_normal(x, mean, variance**2).mean()
                                                                       .item()]),
            ("the variance was ignored (a squared error, or a variance of 1): rec is -log N(x; mean, variance)",
             [kl, -log_normal(x, mean, torch.ones_like(variance)).mean().item()]),
            ("rec was averaged over the pixels: sum over the 784 pixels (log_normal does), then average over the "
             "batch", [kl, (rec_each / 784).mean().item()]),
            ("the terms were summed over the batch instead of averaged", [kl_each.sum().item(), rec_each.sum()
                                                                          .item()]),
            ("z was the encoder's mean (no sample): draw z with ut.sample_gaussian(qm, qv)",
             [kl, -log_normal(x, *at_mean).mean().item()]),
            ("rec's sign is flipped: rec = -log N(x; mean, variance)", [kl, -rec]),
        ]
    weights = {name: tensor.detach().numpy().copy() for name, tensor in model.state_dict().items()}
    return BoundCase(weights, x.numpy(), epsilon.numpy(), np.array([nelbo.item(), kl, rec]), grads,
                     [(text, np.array(value)) for text, value in variants])


def noise_seed(seed: int) -> int:
    return (seed + 1) % 2**31


def case_of(grading: GradingSession) -> BoundCase:
    return bound_case(grading.homework, data_file(grading), grading.check_seed(SEED_LABEL))


def answer(grading: GradingSession) -> dict:
    case = case_of(grading)

    def ask() -> dict:
        result = grading.unit("gaussian_negative_elbo_bound", z_dim=Z_DIM, weights=case.weights, x=case.x,
                              epsilon=case.epsilon, noise_seed=noise_seed(grading.check_seed(SEED_LABEL)))
        if result.get("missing_weights"):
            raise fail("The GaussianVAE does not have the provided networks.", "self.enc and self.dec, built in the "
                       "provided __init__", f"model parameters the grader's weights do not fill: "
                       f"{result['missing_weights'][:4]}", Diagnosis(fix="keep the provided __init__ as it is."))
        return result

    return grading.memo("gaussian bound answer", ask)


def terms_of(grading: GradingSession) -> np.ndarray:
    """The student's (nelbo, kl, rec), checked to be three float32 scalars."""
    result = answer(grading)
    if "terms" not in result:
        raise fail("GaussianVAE.negative_elbo_bound did not return three values.", "a tuple (nelbo, kl, rec)",
                   str(result["returned"].get("type")), Diagnosis(fix=FIX))
    return np.array([float(returned_tensor(term, f"the {name} returned by GaussianVAE.negative_elbo_bound", (),
                                           "torch.float32"))
                     for term, name in zip(result["terms"], ("nelbo", "kl", "rec"), strict=True)])


@number("7.1")
def test_terms(grading: GradingSession) -> None:
    """GaussianVAE.negative_elbo_bound: nelbo, kl and rec match the reference on the grader's inputs and noise"""
    case, got = case_of(grading), terms_of(grading)
    if np.allclose(got, case.terms, **TOLERANCE):
        return
    mistake = likely_mistake(got[1:], case.variants, "", **TOLERANCE)
    diagnosis = Diagnosis(guesses=(mistake,), fix=FIX) if mistake else Diagnosis(
        observed="the terms match no known mistake" + ("" if abs(got[0] - got[1] - got[2]) < 1e-2
                                                      else "; nelbo is not kl + rec"), fix=FIX)
    require_close(got, case.terms, "(nelbo, kl, rec) of GaussianVAE.negative_elbo_bound on a batch of 100", diagnosis,
                  **TOLERANCE)


@number("7.2")
def test_gradients(grading: GradingSession) -> None:
    """GaussianVAE.negative_elbo_bound: the gradients of nelbo in every weight of both networks are the reference's"""
    terms_of(grading)  # three scalars, or this check says why there is nothing to differentiate
    case, result = case_of(grading), answer(grading)
    grads = result.get("grads")
    if not grads:
        raise fail("nelbo is not differentiable in the weights.", "gradients for every weight", "none",
                   Diagnosis(guesses=("a .detach(), .item() or numpy round trip in the bound",), fix=FIX))
    for name, expected in case.grads.items():
        got = grads.get(name)
        if got is None:
            raise fail(f"nelbo does not depend on {name}.", "a gradient for every weight", f"none for {name}",
                       Diagnosis(guesses=("z detached from the encoder (z.detach(), torch.no_grad())",), fix=FIX))
        require_close(np.asarray(got), expected, f"the gradient of nelbo in {name}", Diagnosis(fix=FIX),
                      **GRADIENT_TOLERANCE)
