"""Checks of VAE.negative_elbo_bound(x): (nelbo, kl, rec), batch means, one reparameterized sample.

The worker runs the student's bound with the grader's weights and batch, and with the other student functions
replaced by the reference's (grader/homeworks/vae/worker_ops.py, ``isolated``): utils.kl_normal is the closed
form, utils.sample_gaussian is m + sqrt(v) * eps for a fixed eps, and torch's generator is seeded so that noise
drawn inline (torch.randn_like(qm)) is that same eps. The bound's points depend on the bound alone, and it is
compared with the reference computed here on the same weights, batch and eps: values and gradients, whether the
student called the helpers or wrote their formulas inline.

The grader's weights are an untrained model with its encoder's last layer and its decoder's first and
last layers scaled up, so that the case spans what training reaches: per-image KLs of about 4 to 50
nats, variances from 0.005 to 5, logits up to about ±15. A loss that equals the right one only on
small values (a clipped KL, clamped logits, a floor on the KL) differs from it here.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.expect import require_close, require_finite, tensor_values
from grader.engine.feedback import hint_on_error, preview, worst_difference, wrong
from grader.engine.homework import Homework
from grader.engine.oracle import reference
from grader.grading.session import GradingSession
from grader.homeworks.vae.diagnose import Variant, likely_mistake
from grader.homeworks.vae.trusted import binarized_test_set

SEED_LABEL = "negative_elbo_bound"  # inputs from grading.check_seed(SEED_LABEL): grader/check_inputs.py
ENCODER_OUTPUT_SCALE = 25.0  # spreads the encoder's means and variances over the range training reaches
DECODER_INPUT_SCALE = 3.0  # makes the logits depend strongly on z, so every way of drawing z shows
DECODER_OUTPUT_SCALE = 5.0  # logits up to about ±15, as a trained decoder's
TEST_OFFSET = 5_000  # batches come from the binarized test set, from this image on
IMAGE_PIXELS = 784
KL_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
REC_TOLERANCE = {"rtol": 1e-4, "atol": 1e-3}
GRAD_TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}


@dataclass(frozen=True)
class BoundCase:
    z_dim: int
    weights: dict[str, np.ndarray]
    x: np.ndarray  # (batch, 784)
    epsilon: np.ndarray  # (batch, z_dim)
    noise_seed: int  # the worker seeds torch's generator with it: torch.randn((batch, z_dim)) then draws epsilon
    nelbo: float
    kl: float
    rec: float
    grads: dict[str, np.ndarray]
    kl_variants: list[Variant]
    rec_variants: list[Variant]
    grad_variants: list[tuple[str, dict[str, np.ndarray]]]  # (mistake, the gradients it produces)


def binarized_test_images(homework: Homework) -> np.ndarray:
    return binarized_test_set(homework.data_paths[0]).numpy()


def parameter_grads(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, np.ndarray]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: (p.grad if p.grad is not None else torch.zeros_like(p)).numpy().copy()
            for name, p in model.named_parameters()}


@functools.cache
def bound_case(homework: Homework, z_dim: int, batch: int, seed: int) -> BoundCase:
    ref = reference(homework)
    ut = ref.utils
    torch.manual_seed(seed)
    model = ref.vae.VAE(z_dim=z_dim)
    with torch.no_grad():
        model.enc.net[-1].weight.mul_(ENCODER_OUTPUT_SCALE)
        model.dec.net[0].weight.mul_(DECODER_INPUT_SCALE)
        model.dec.net[-1].weight.mul_(DECODER_OUTPUT_SCALE)
    weights = {name: tensor.detach().numpy().copy() for name, tensor in model.state_dict().items()}
    x = torch.from_numpy(binarized_test_images(homework)[TEST_OFFSET + seed % 1000:][:batch].copy())  # (batch, 784)
    epsilon = torch.randn((batch, z_dim), generator=torch.Generator().manual_seed(seed))  # (batch, z_dim)
    prior_m, prior_v = model.z_prior_m, model.z_prior_v

    def terms(z_detached: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        qm, qv = model.enc(x)  # (batch, z_dim) each
        kl_rows = ut.kl_normal(qm, qv, prior_m, prior_v)  # (batch,)
        z = qm + torch.sqrt(qv) * epsilon  # (batch, z_dim)
        if z_detached:
            z = z.detach()
        rec_rows = -ut.log_bernoulli_with_logits(x, model.dec(z))  # (batch,)
        return kl_rows, rec_rows, z

    kl_rows, rec_rows, z = terms()
    kl, rec = kl_rows.mean(), rec_rows.mean()
    grads = parameter_grads(model, kl + rec)
    kl_rows, rec_rows, _ = terms()
    grads_kl_detached = parameter_grads(model, kl_rows.mean().detach() + rec_rows.mean())
    kl_rows, rec_rows, _ = terms(z_detached=True)
    grads_z_detached = parameter_grads(model, kl_rows.mean() + rec_rows.mean())

    with torch.no_grad():
        qm, qv = model.enc(x)
        logits = model.dec(z)

        def rec_with(z_used: torch.Tensor) -> torch.Tensor:
            return -ut.log_bernoulli_with_logits(x, model.dec(z_used)).mean()

        rec_no_sample = rec_with(qm)
        rec_std = rec_with(qm + qv * epsilon)
        rec_std_given = rec_with(qm + qv.pow(0.25) * epsilon)
        rec_log_variance = rec_with(qm + torch.exp(0.5 * qv) * epsilon)
        rec_prior = rec_with(epsilon)
        rec_double_sigmoid = -ut.log_bernoulli_with_logits(x, torch.sigmoid(logits)).mean()
        rec_swapped = -ut.log_bernoulli_with_logits(logits, x).mean()
        kl_reversed = ut.kl_normal(prior_m.expand_as(qm), prior_v.expand_as(qv), qm, qv).mean()
        kl_log_variance = ut.kl_normal(qm, torch.exp(qv), prior_m, prior_v).mean()
    scalar = lambda t: np.asarray(float(t.detach()) if isinstance(t, torch.Tensor) else t, np.float64)  # noqa: E731
    kl_value, rec_value = kl.item(), rec.item()
    swapped = "kl and rec are swapped in the returned tuple; return (nelbo, kl, rec)."
    kl_variants = [
        ("the KL was summed over the batch instead of averaged (use .mean()).", scalar(kl_rows.sum())),
        ("the KL was averaged over the latent dimensions too; sum over z_dim, then average over the batch.",
         scalar(kl_value / z_dim)),
        (swapped, scalar(rec_value)),
        ("this is KL(p(z) || q(z|x)); the arguments of kl_normal are (qm, qv, pm, pv).", scalar(kl_reversed)),
        ("the sign of the KL is flipped: kl = +KL(q || p), a non-negative number.", scalar(-kl_value)),
        ("kl is 2 times the reference: a factor 2 or a KL weight (beta) on the KL; the bound weights it 1.",
         scalar(2 * kl_value)),
        ("kl is 0.5 times the reference: a factor 0.5 or a KL weight (beta) on the KL; the bound weights it 1.",
         scalar(0.5 * kl_value)),
        ("qv was treated as a log-variance (exponentiated); the encoder already returns the variance.",
         scalar(kl_log_variance)),
    ]
    rec_variants = [
        ("rec was averaged over the 784 pixels; sum over pixels (log_bernoulli_with_logits does), "
         "then average over the batch.", scalar(rec_value / IMAGE_PIXELS)),
        ("rec was summed over the batch instead of averaged (use .mean()).", scalar(rec_rows.sum())),
        ("the sign of rec is flipped: rec = -log p(x|z), a positive number.", scalar(-rec_value)),
        ("the decoder's output was passed through a sigmoid before log_bernoulli_with_logits, which expects "
         "logits.", scalar(rec_double_sigmoid)),
        ("the arguments of log_bernoulli_with_logits are swapped: it takes (x, logits).", scalar(rec_swapped)),
        ("z was not sampled (z = qm); draw z = ut.sample_gaussian(qm, qv).", scalar(rec_no_sample)),
        ("z was drawn from the prior p(z) (self.sample_z) instead of from q(z|x): z = ut.sample_gaussian(qm, qv).",
         scalar(rec_prior)),
        ("qv was used as a standard deviation when sampling z.", scalar(rec_std)),
        ("sample_gaussian was given the standard deviation sqrt(qv); it takes the variance qv.",
         scalar(rec_std_given)),
        ("qv was treated as a log-variance (exponentiated) when sampling z; it is the variance itself.",
         scalar(rec_log_variance)),
        (swapped, scalar(kl_value)),
    ]
    grad_variants = [
        ("the values are right but kl is detached (.detach(), .item() or torch.no_grad()), so the KL does not "
         "train the encoder.", grads_kl_detached),
        ("the values are right but the gradient does not reach the encoder through z: z must not be detached "
         "(no .detach(), .data or torch.no_grad()).", grads_z_detached),
    ]
    return BoundCase(z_dim, weights, x.numpy(), epsilon.numpy(), seed, kl_value + rec_value, kl_value, rec_value, grads,
                     kl_variants, rec_variants, grad_variants)


def main_case(grading: GradingSession) -> BoundCase:
    """The case most checks share: z_dim 10, a batch of 100, this grading's weights, images and noise."""
    return bound_case(grading.homework, 10, 100, grading.check_seed(SEED_LABEL))


def run_bound(grading: GradingSession, case: BoundCase, repeats: int = 1) -> tuple[dict, list[np.ndarray]]:
    """The student's (nelbo, kl, rec) on the case, checked to be three finite numeric scalars.

    ``repeats`` > 1 calls the bound that many times on the same model (``result["repeated_terms"]``).
    """
    result = grading.unit("negative_elbo_bound", z_dim=case.z_dim, weights=case.weights, x=case.x,
                          epsilon=case.epsilon, noise_seed=case.noise_seed, repeats=repeats)
    missing = result.get("missing_weights")
    if missing and all(name.startswith("z_prior") for name in missing):
        raise wrong("The VAE's prior is part of its weights.", "the fixed prior buffers of the provided __init__",
                    f"weights {missing} the grader's model does not have",
                    "the prior z_prior_m / z_prior_v was made a trainable nn.Parameter (or a persistent buffer); "
                    "the prior is the fixed N(0, I): keep __init__ as provided.")
    if missing:
        raise wrong("The VAE does not have the provided networks.", "self.enc and self.dec from nns.py",
                    f"missing weights {missing[:4]}",
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
        values.append(value.astype(np.float64))
    nelbo, kl, rec = values
    require_finite(kl, "kl", "a log of zero or of a negative variance: check the prior, "
                   "ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v) (the prior's mean, then its variance).")
    require_finite(rec, "rec", "a log of zero or of a negative number; use log_bernoulli_with_logits on the "
                   "decoder's logits.")
    require_finite(nelbo, "nelbo", "nelbo must be kl + rec.")
    return result, values


def _kl_weight(nelbo: np.ndarray, kl: np.ndarray, rec: np.ndarray) -> float | None:
    """w when nelbo = w * kl + rec for some w other than 1, else None."""
    if abs(float(kl)) < 1e-6:
        return None
    w = float((nelbo - rec) / kl)
    return None if np.isclose(w, 1.0, rtol=1e-4) else w


def require_a_computed_term(case: BoundCase, kl: np.ndarray, rec: np.ndarray, property_name: str) -> None:
    """A property of the returned numbers (their sum, their repeatability) is credited only for a bound that
    computes at least one of its terms: constants would have the property too."""
    if np.isclose(kl, case.kl, **KL_TOLERANCE) or np.isclose(rec, case.rec, **REC_TOLERANCE):
        return
    raise wrong(f"{property_name} holds, but neither kl nor rec matches the reference on this batch (see checks 3.2 "
                "and 3.3).", "kl or rec computed from the batch, and the property", "both terms differ from the "
                "reference", "this property earns its points only for a bound that computes at least one of its "
                "terms; fix kl or rec first.")


@number("3.1")
def test_three_scalars(grading: GradingSession) -> None:
    """negative_elbo_bound: returns three scalars with nelbo = kl + rec"""
    case = main_case(grading)
    _, (nelbo, kl, rec) = run_bound(grading, case)
    if not np.isclose(nelbo, kl + rec, rtol=1e-5, atol=1e-3):
        mistake = "nelbo must be the sum kl + rec."
        w = _kl_weight(nelbo, kl, rec)
        if np.isclose(nelbo, rec - kl, rtol=1e-5, atol=1e-3):
            mistake = "nelbo = rec - kl; the negative ELBO adds the two: nelbo = kl + rec."
        elif w is not None:
            mistake = (f"nelbo = {w:.4g} * kl + rec: the KL has weight {w:.4g} in the loss; the negative ELBO "
                       "weights it 1 (no beta, no KL annealing): nelbo = kl + rec.")
        raise wrong("nelbo is not kl + rec.", f"{float(kl + rec):.4f} (kl + rec)", f"{float(nelbo):.4f}", mistake)
    require_a_computed_term(case, kl, rec, "nelbo = kl + rec")


@number("3.2")
def test_kl_term(grading: GradingSession) -> None:
    """negative_elbo_bound: kl matches the reference (analytic, batch mean)"""
    case = main_case(grading)
    _, (_, kl, _) = run_bound(grading, case)
    ratio = f"kl is {float(kl) / case.kl:.4g} times the reference; " if case.kl != 0 else ""
    fallback = (f"{ratio}kl = ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v).mean(), with no clamp, clip, "
                "floor (free bits) or weight on the KL.")
    mistake = likely_mistake(kl, case.kl_variants, fallback, **KL_TOLERANCE)
    require_close(kl, np.asarray(case.kl), "kl", mistake, **KL_TOLERANCE)


@number("3.3")
def test_rec_term(grading: GradingSession) -> None:
    """negative_elbo_bound: rec matches the reference (one sample via sample_gaussian, pixels summed)"""
    case = main_case(grading)
    result, (_, _, rec) = run_bound(grading, case)
    if np.isclose(rec, case.rec, **REC_TOLERANCE):
        return
    fallback = ("rec = -ut.log_bernoulli_with_logits(x, self.dec(z)).mean(), with the decoder's logits as they are "
                "(no clamp and no sigmoid).")
    grads = result.get("grads")
    if isinstance(grads, dict) and grads and not any(name.startswith("dec.") and np.any(grad != 0)
                                                     for name, grad in grads.items()):
        fallback = ("rec does not depend on the decoder's weights through the graph: use the decoder's logits "
                    "self.dec(z) directly, not a sample of it (torch.bernoulli, self.sample_x_given), rounded "
                    "probabilities or detached values.")
    elif not result.get("sample_gaussian_calls"):
        fallback = ("negative_elbo_bound never called ut.sample_gaussian; sample z with "
                    "z = ut.sample_gaussian(qm, qv) (the grader controls the noise through it).")
    mistake = likely_mistake(rec, case.rec_variants, fallback, **REC_TOLERANCE)
    require_close(rec, np.asarray(case.rec), "rec", mistake, **REC_TOLERANCE)


@number("3.4")
def test_gradients(grading: GradingSession) -> None:
    """negative_elbo_bound: gradients of nelbo match the reference, through z into the encoder"""
    case = main_case(grading)
    result, (_, kl, rec) = run_bound(grading, case)
    grads = result.get("grads")
    if not isinstance(grads, dict) or not grads:
        raise wrong("nelbo has no gradient.", "nelbo connected to the encoder and decoder weights",
                    "no gradients", "nelbo must come from torch operations (no .item(), .detach() or numpy).")
    extra = sorted(set(grads) - set(case.grads))
    if extra:
        raise wrong("nelbo has gradients for parameters the VAE should not have.",
                    f"gradients for the encoder and decoder only ({len(case.grads)} tensors)",
                    f"also for {extra[:4]}",
                    "the prior (or something else) was made a trainable nn.Parameter; the prior is the fixed "
                    "N(0, I) of the buffers self.z_prior_m and self.z_prior_v.")
    values_right = (np.isclose(kl, case.kl, **KL_TOLERANCE) and np.isclose(rec, case.rec, **REC_TOLERANCE))

    def matches(expected: dict[str, np.ndarray]) -> bool:
        return all(grads.get(name) is not None and grads[name].shape == value.shape
                   and np.allclose(grads[name], value, **GRAD_TOLERANCE) for name, value in expected.items())

    if matches(case.grads):
        return
    mistake = "the values of kl or rec are wrong (see the checks above); the gradients follow from them."
    if values_right:
        mistake = ("the values are right but the gradient differs: part of the computation is detached, or the "
                   "loss weights its terms differently from nelbo = kl + rec (a KL weight, even 0.9999).")
        for explanation, variant in case.grad_variants:
            if matches(variant):
                mistake = explanation
                break
    for name, expected in case.grads.items():
        got = grads.get(name)
        if got is None or got.shape != expected.shape or not np.allclose(got, expected, **GRAD_TOLERANCE):
            where = f" ({worst_difference(got, expected)})" if got is not None and got.shape == expected.shape else ""
            raise wrong(f"The gradient of nelbo with respect to {name} differs from the reference.",
                        preview(expected), preview(got), mistake + where)


@number("3.5")
def test_other_sizes(grading: GradingSession) -> None:
    """negative_elbo_bound: works for any batch size and z_dim"""
    case = bound_case(grading.homework, 4, 37, grading.check_seed(SEED_LABEL) + 1)
    mistake = ("a hard-coded batch size (100) or latent size (10); use x.shape[0], self.z_dim, and "
               "the shapes of qm and qv.")
    with hint_on_error(f"this call had a batch of 37 images and z_dim 4: {mistake}"):
        _, (_, kl, rec) = run_bound(grading, case)
    require_close(np.array([kl, rec]), np.array([case.kl, case.rec]), "(kl, rec) for batch 37 and z_dim 4",
                  mistake, rtol=1e-4, atol=1e-3)


REPEATED_CALLS = 3


@number("3.6")
def test_no_state_between_calls(grading: GradingSession) -> None:
    """negative_elbo_bound: the same batch gives the same bound on every call"""
    case = main_case(grading)
    result, first = run_bound(grading, case, repeats=REPEATED_CALLS)
    repeated = result.get("repeated_terms")
    if not isinstance(repeated, list) or len(repeated) != REPEATED_CALLS - 1:
        raise wrong("The repeated calls returned nothing to compare.", f"{REPEATED_CALLS - 1} more calls answered",
                    f"{0 if not isinstance(repeated, list) else len(repeated)} answered",
                    "the grader's worker could not report the repeated calls: was the VAE class or the worker's "
                    "channel changed?")
    for call, terms in enumerate(repeated, start=2):
        values = [tensor_values(term, f"call {call} of negative_elbo_bound", None, None).astype(np.float64)
                  .reshape(-1)[:1] for term in terms]
        got, expected = np.concatenate(values), np.concatenate([value.reshape(-1) for value in first])
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-6, atol=0.0):
            raise wrong(f"Call {call} on the same model and batch returned a different bound.",
                        f"(nelbo, kl, rec) = {np.round(expected, 4).tolist()} on every call (the grader fixes the "
                        "noise of ut.sample_gaussian)", f"{np.round(got, 4).tolist()}",
                        "the bound keeps state between calls (a step counter, a KL weight or annealing schedule "
                        "stored on self, a changing beta): the negative ELBO is kl + rec on every call, with "
                        "weight 1 from the first iteration to the last.")
    require_a_computed_term(case, first[1], first[2], "The same bound on every call")
