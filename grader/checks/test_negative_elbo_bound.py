"""Checks of VAE.negative_elbo_bound(x): (nelbo, kl, rec), batch means, one reparameterized sample.

The worker runs the student's bound with the grader's weights and batch, and with
utils.sample_gaussian replaced by m + sqrt(v) * eps for a fixed eps: the bound becomes deterministic
and is compared with the reference computed here on the same weights, batch and eps.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch
from gradescope_utils.autograder_utils.decorators import number, weight

from grader.diagnose import likely_mistake
from grader.expect import require_close, require_finite, tensor_values
from grader.feedback import preview, wrong
from grader.oracle import reference
from grader.session import GradingSession

SEED = 3_571
ENCODER_OUTPUT_SCALE = 4.0  # spreads the untrained encoder's means and variances, so mistakes show
TEST_OFFSET = 5_000  # batches come from the binarized test set, from this image on
IMAGE_PIXELS = 784


@dataclass(frozen=True)
class BoundCase:
    z_dim: int
    weights: dict[str, np.ndarray]
    x: np.ndarray  # (batch, 784)
    epsilon: np.ndarray  # (batch, z_dim)
    nelbo: float
    kl: float
    rec: float
    grads: dict[str, np.ndarray]
    kl_variants: list[tuple[str, np.ndarray]]
    rec_variants: list[tuple[str, np.ndarray]]


@functools.cache
def binarized_test_images() -> np.ndarray:
    from grader.workspace import DATA_FILE

    with np.load(DATA_FILE, allow_pickle=False) as arrays:
        return arrays["x_test_binarized"].astype(np.float32)


@functools.cache
def bound_case(z_dim: int, batch: int, seed: int) -> BoundCase:
    ref = reference()
    ut = ref.utils
    torch.manual_seed(seed)
    model = ref.vae.VAE(z_dim=z_dim)
    with torch.no_grad():
        model.enc.net[-1].weight.mul_(ENCODER_OUTPUT_SCALE)
    weights = {name: tensor.detach().numpy().copy() for name, tensor in model.state_dict().items()}
    x = torch.from_numpy(binarized_test_images()[TEST_OFFSET + seed % 1000:][:batch].copy())  # (batch, 784)
    epsilon = torch.from_numpy(np.random.default_rng(seed).standard_normal((batch, z_dim)).astype(np.float32))

    qm, qv = model.enc(x)  # (batch, z_dim) each
    kl_rows = ut.kl_normal(qm, qv, model.z_prior_m, model.z_prior_v)  # (batch,)
    z = qm + torch.sqrt(qv) * epsilon  # (batch, z_dim)
    rec_rows = -ut.log_bernoulli_with_logits(x, model.dec(z))  # (batch,)
    kl, rec = kl_rows.mean(), rec_rows.mean()
    nelbo = kl + rec
    nelbo.backward()
    grads = {name: p.grad.numpy().copy() for name, p in model.named_parameters()}

    with torch.no_grad():
        logits = model.dec(z)
        rec_no_sample = -ut.log_bernoulli_with_logits(x, model.dec(qm)).mean()
        rec_std = -ut.log_bernoulli_with_logits(x, model.dec(qm + qv * epsilon)).mean()
        rec_double_sigmoid = -ut.log_bernoulli_with_logits(x, torch.sigmoid(logits)).mean()
        kl_reversed = ut.kl_normal(model.z_prior_m.expand_as(qm), model.z_prior_v.expand_as(qv), qm, qv).mean()
    scalar = lambda t: np.asarray(float(t), np.float64)  # noqa: E731
    kl_value, rec_value = kl.item(), rec.item()
    kl_variants = [
        ("the KL was summed over the batch instead of averaged (use .mean()).", scalar(kl_rows.sum())),
        ("the KL was averaged over the latent dimensions too; sum over z_dim, then average over the batch.",
         scalar(kl_value / z_dim)),
        ("kl and rec are swapped in the returned tuple; return (nelbo, kl, rec).", scalar(rec_value)),
        ("this is KL(p(z) || q(z|x)); the arguments of kl_normal are (qm, qv, pm, pv).", scalar(kl_reversed)),
        ("the sign of the KL is flipped.", scalar(-kl_value)),
    ]
    rec_variants = [
        ("rec was averaged over the 784 pixels; sum over pixels (log_bernoulli_with_logits does), "
         "then average over the batch.", scalar(rec_value / IMAGE_PIXELS)),
        ("rec was summed over the batch instead of averaged (use .mean()).", scalar(rec_rows.sum())),
        ("the sign of rec is flipped: rec = -log p(x|z), a positive number.", scalar(-rec_value)),
        ("the decoder's output was passed through a sigmoid before log_bernoulli_with_logits, which expects "
         "logits.", scalar(rec_double_sigmoid)),
        ("z was not sampled (z = qm); draw z = ut.sample_gaussian(qm, qv).", scalar(rec_no_sample)),
        ("qv was used as a standard deviation when sampling z.", scalar(rec_std)),
        ("kl and rec are swapped in the returned tuple; return (nelbo, kl, rec).", scalar(kl_value)),
    ]
    return BoundCase(z_dim, weights, x.numpy(), epsilon.numpy(), float(nelbo), kl_value, rec_value, grads,
                     kl_variants, rec_variants)


def run_bound(grading: GradingSession, case: BoundCase) -> tuple[dict, list[np.ndarray]]:
    """The student's (nelbo, kl, rec) on the case, checked to be three numeric scalars."""
    result = grading.unit("negative_elbo_bound", z_dim=case.z_dim, weights=case.weights, x=case.x,
                          epsilon=case.epsilon)
    if result.get("missing_weights"):
        raise wrong("The VAE does not have the provided networks.", "self.enc and self.dec from nns.py",
                    f"missing weights {result['missing_weights'][:4]}",
                    "the VAE class was changed; keep __init__ as provided.")
    returned = result.get("returned", {})
    terms = result.get("terms")
    if terms is None:
        raise wrong("negative_elbo_bound must return three values.", "a tuple (nelbo, kl, rec)",
                    f"a {returned.get('type', '?')}" + (f" of length {returned['length']}" if "length" in returned
                                                        else ""),
                    "return nelbo, kl, rec (in that order).")
    values = []
    for name, term in zip(("nelbo", "kl", "rec"), terms, strict=True):
        if isinstance(term, dict) and term.get("is_tensor") and term.get("shape") == [1]:
            term = {**term, "shape": [], "value": term["value"].reshape(())}
        value = tensor_values(term, f"the {name} returned by negative_elbo_bound", (), None,
                              "each term is averaged over the batch: a 0-dimensional tensor (use .mean()).")
        require_finite(value, name, "a log of zero or of a negative number; use log_bernoulli_with_logits on logits.")
        values.append(value.astype(np.float64))
    return result, values


@weight(3)
@number("3.1")
def test_three_scalars(grading: GradingSession) -> None:
    """negative_elbo_bound: returns three scalars with nelbo = kl + rec"""
    _, (nelbo, kl, rec) = run_bound(grading, bound_case(10, 100, SEED))
    if not np.isclose(nelbo, kl + rec, rtol=1e-5, atol=1e-3):
        mistake = "nelbo must be the sum kl + rec."
        if np.isclose(nelbo, rec - kl, rtol=1e-5, atol=1e-3):
            mistake = "nelbo = rec - kl; the negative ELBO adds the two: nelbo = kl + rec."
        raise wrong("nelbo is not kl + rec.", f"{float(kl + rec):.4f} (kl + rec)", f"{float(nelbo):.4f}", mistake)


@weight(5)
@number("3.2")
def test_kl_term(grading: GradingSession) -> None:
    """negative_elbo_bound: kl matches the reference (analytic, batch mean)"""
    case = bound_case(10, 100, SEED)
    _, (_, kl, _) = run_bound(grading, case)
    mistake = likely_mistake(kl, case.kl_variants, "kl = ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v).mean()")
    require_close(kl, np.asarray(case.kl), "kl", mistake, rtol=1e-4, atol=1e-4)


@weight(5)
@number("3.3")
def test_rec_term(grading: GradingSession) -> None:
    """negative_elbo_bound: rec matches the reference (one sample via sample_gaussian, pixels summed)"""
    case = bound_case(10, 100, SEED)
    result, (_, _, rec) = run_bound(grading, case)
    calls = result.get("sample_gaussian_calls", [])
    mistake = likely_mistake(rec, case.rec_variants, "rec = -ut.log_bernoulli_with_logits(x, self.dec(z)).mean()")
    if not calls and not np.isclose(rec, case.rec, rtol=1e-4, atol=1e-3):
        mistake = ("negative_elbo_bound never called ut.sample_gaussian; sample z with "
                   "z = ut.sample_gaussian(qm, qv) (the grader controls the noise through it).")
    require_close(rec, np.asarray(case.rec), "rec", mistake, rtol=1e-4, atol=1e-3)


@weight(5)
@number("3.4")
def test_gradients(grading: GradingSession) -> None:
    """negative_elbo_bound: gradients of nelbo match the reference, through z into the encoder"""
    case = bound_case(10, 100, SEED)
    result, (_, kl, rec) = run_bound(grading, case)
    grads = result.get("grads")
    if not isinstance(grads, dict) or not grads:
        raise wrong("nelbo has no gradient.", "nelbo connected to the encoder and decoder weights",
                    "no gradients", "nelbo must come from torch operations (no .item(), .detach() or numpy).")
    values_right = np.isclose(kl, case.kl, rtol=1e-4, atol=1e-4) and np.isclose(rec, case.rec, rtol=1e-4, atol=1e-3)
    for name, expected in case.grads.items():
        got = grads.get(name)
        if got is not None and got.shape == expected.shape and np.allclose(got, expected, rtol=1e-3, atol=1e-5):
            continue
        if not values_right:
            mistake = "the values of kl or rec are wrong (see the checks above); the gradients follow from them."
        elif name.startswith("enc"):
            mistake = ("the values are right but the gradient does not reach the encoder through z: "
                       "z must not be detached (no .detach(), .data or torch.no_grad()).")
        else:
            mistake = "the values are right but the gradient differs: part of the computation is detached."
        raise wrong(f"The gradient of nelbo with respect to {name} differs from the reference.",
                    preview(expected), preview(got), mistake)


@weight(2)
@number("3.5")
def test_other_sizes(grading: GradingSession) -> None:
    """negative_elbo_bound: works for any batch size and z_dim"""
    case = bound_case(4, 37, SEED + 1)
    _, (_, kl, rec) = run_bound(grading, case)
    mistake = ("a hard-coded batch size (100) or latent size (10); use x.shape[0], self.z_dim, and "
               "the shapes of qm and qv.")
    require_close(np.array([kl, rec]), np.array([case.kl, case.rec]), "(kl, rec) for batch 37 and z_dim 4",
                  mistake, rtol=1e-4, atol=1e-3)
