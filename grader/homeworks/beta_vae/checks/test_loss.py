"""Checks of loss(x, beta) on the student's freshly built model: the grader recomputes each term from what the
student's own encode and decode returned during the call, with the noise it gave utils.sample_gaussian
(grader/homeworks/beta_vae/worker_ops.py records the calls)."""

import numpy as np
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.expect import require_close, tensor_values
from grader.engine.feedback import WrongAnswer, preview, wrong
from grader.grading.session import GradingSession
from grader.homeworks.beta_vae import trusted

FLOAT = "torch.float32"
SCALAR_HINT = "a scalar is the mean over the batch: .mean() over the rows, after summing each image's terms."


def terms(call: dict) -> tuple[float, float, float]:
    """(total, kl, rec) of one call, after checking they are three finite scalar tensors."""
    parts = call.get("parts")
    if parts is None or len(parts) != 3:
        raise wrong(f"loss(x, beta={call['beta']:g}) did not return three values.", "(total, kl, rec)",
                    f"{call['returned'].get('type')} of length {call['returned'].get('length')}",
                    "return rec + beta * kl, kl, rec in that order.")
    values = []
    for part, name in zip(parts, ("total", "kl", "rec"), strict=True):
        value = tensor_values(part, f"loss's {name}", (), FLOAT, SCALAR_HINT)
        if not np.isfinite(value).all():
            raise wrong(f"loss's {name} is not finite.", "a finite number", preview(value),
                        "a log of zero: compute rec from logits with F.binary_cross_entropy_with_logits.")
        values.append(float(value))
    return values[0], values[1], values[2]


def recorded(call: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(m, v) encode returned, the z decode was given and the logits it returned, during the call."""
    if call["encode_calls"] < 1 or call["decode_calls"] < 1:
        raise wrong("loss did not call self.encode and self.decode.", "one call of each",
                    f"{call['encode_calls']} call(s) of encode, {call['decode_calls']} of decode",
                    "loss must go through the interface (m, v = self.encode(x); logits = self.decode(z)), not the "
                    "layers directly: the grader checks the terms against what these two return.")
    parts = call["encoded"].get("parts")
    if parts is None or len(parts) != 2:
        raise WrongAnswer("encode did not return a pair (m, v) inside loss (see check 1.2).")
    m = tensor_values(parts[0], "encode's m inside loss", None, FLOAT)
    v = tensor_values(parts[1], "encode's v inside loss", m.shape, FLOAT)
    z = tensor_values(call["decoded_z"], "the z given to decode", m.shape, None, "z must have m's shape.")
    logits = tensor_values(call["decoded"]["returned"], "decode(z) inside loss", (m.shape[0], trusted.IMAGE_PIXELS),
                           FLOAT)
    return m, v, z, logits


def usable(m: np.ndarray, v: np.ndarray) -> bool:
    return bool(np.isfinite(m).all() and np.isfinite(v).all() and (v > 0).all())


def require_usable(m: np.ndarray, v: np.ndarray) -> None:
    if not usable(m, v):
        raise wrong("encode returned a variance that is not positive (or values that are not finite) inside loss, "
                    "so no KL or sample can be computed from it.", "finite m and v > 0",
                    f"smallest v {float(np.nanmin(v)):.4g}", "v returned as a log-variance or an unconstrained "
                    "output (see check 1.3): encode must return the variance itself.")


def first_call(grading: GradingSession) -> dict:
    return trusted.loss_calls(grading)[0]


def kl_per_image(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """KL(N(m, diag(v)) || N(0, I)) of each row, in float64: (batch, z_dim) -> (batch,)."""
    m64, v64 = m.astype(np.float64), v.astype(np.float64)
    return 0.5 * (v64 + m64**2 - 1 - np.log(v64)).sum(-1)


def cross_entropy_per_pixel(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """-log Bernoulli(x; sigmoid(logits)) of each pixel, in float64, computed stably: (batch, 784)."""
    logits64 = logits.astype(np.float64)
    return np.maximum(logits64, 0) - logits64 * x + np.log1p(np.exp(-np.abs(logits64)))


def kl_matches(call: dict) -> bool:
    m, v, _, _ = recorded(call)
    return usable(m, v) and bool(np.isclose(terms(call)[1], float(kl_per_image(m, v).mean()), rtol=1e-4, atol=1e-4))


def rec_matches(grading: GradingSession, call: dict) -> bool:
    _, _, _, logits = recorded(call)
    x = trusted.check_images(grading).astype(np.float64)
    expected = float(cross_entropy_per_pixel(x, logits).sum(-1).mean())
    return bool(np.isclose(terms(call)[2], expected, rtol=1e-4, atol=1e-3))


@number("2.1")
def test_total_weights_kl_by_beta(grading: GradingSession) -> None:
    """loss: returns three scalars with total = rec + beta * kl, for beta = 1, 0 and 0.37"""
    for call in trusted.loss_calls(grading):
        total, kl, rec = terms(call)
        expected = rec + call["beta"] * kl
        if not np.isclose(total, expected, rtol=1e-5, atol=1e-4):
            raise wrong(f"With beta = {call['beta']:g}, total is not rec + beta * kl.",
                        f"{expected:.6g} (your rec + {call['beta']:g} x your kl)", f"{total:.6g}",
                        "the weight on the wrong term (beta * rec + kl), beta ignored, or a fixed weight: the loop "
                        "passes the KL weight as the argument beta.")
    call = first_call(grading)
    try:  # the relation alone (three zeros satisfy it) earns nothing: one term must come from the model's outputs
        attempted = kl_matches(call) or rec_matches(grading, call)
    except WrongAnswer:
        attempted = False
    if not attempted:
        raise wrong("total = rec + beta * kl holds, but neither kl nor rec is computed from what encode and decode "
                    "returned during the call (checks 2.2 and 2.3 say more), so the relation alone earns nothing.",
                    "kl or rec recomputed from your own encode and decode outputs", "neither matches",
                    "terms that are constants or computed without self.encode and self.decode.")


@number("2.2")
def test_kl(grading: GradingSession) -> None:
    """loss: kl is KL(q(z|x) || N(0, I)) of the model's own (m, v), summed over z, averaged over the batch"""
    call = first_call(grading)
    _, kl, _ = terms(call)
    m, v, _, _ = recorded(call)
    require_usable(m, v)
    m64, v64 = m.astype(np.float64), v.astype(np.float64)
    per_image = kl_per_image(m, v)
    if not kl_matches(call):
        as_std = 0.5 * (v64**2 + m64**2 - 1 - 2 * np.log(v64)).sum(-1)  # (batch,)
        mistakes = {"summed over the batch": float(per_image.sum()), "averaged over the z coordinates":
                    float(per_image.mean() / m.shape[1]), "v used as a standard deviation": float(as_std.mean())}
        likely = [name for name, value in mistakes.items() if np.isclose(kl, value, rtol=1e-4, atol=1e-4)]
        raise wrong("kl does not match KL(N(m, v) || N(0, I)) of the m, v your encode returned.",
                    "1/2 sum over z of (v + m^2 - 1 - log v), then the batch mean", f"{kl:.6g}",
                    f"{likely[0]}." if likely else "the sign, a missing term (-1 or log v), v treated as a "
                    "standard deviation or a log-variance, or a sum over the batch instead of its mean.")


@number("2.3")
def test_rec(grading: GradingSession) -> None:
    """loss: rec is the Bernoulli cross-entropy of x under the model's own logits, summed over pixels"""
    call = first_call(grading)
    _, _, rec = terms(call)
    _, _, _, logits = recorded(call)
    x = trusted.check_images(grading).astype(np.float64)
    logits64 = logits.astype(np.float64)
    per_pixel = cross_entropy_per_pixel(x, logits)
    if not rec_matches(grading, call):
        mistakes = {"a mean over the pixels instead of their sum": float(per_pixel.mean()),
                    "a sum over the batch instead of its mean": float(per_pixel.sum()),
                    "decode returning probabilities, which loss then treats as such (decode must return logits)":
                        float(-(x * np.log(np.clip(logits64, 1e-12, None))
                                + (1 - x) * np.log(np.clip(1 - logits64, 1e-12, None))).sum(-1).mean())}
        likely = [name for name, value in mistakes.items() if np.isclose(rec, value, rtol=1e-3, atol=1e-2)]
        raise wrong("rec does not match the cross-entropy of x under the logits your decode returned.",
                    "F.binary_cross_entropy_with_logits(logits, x) summed over the 784 pixels, then the batch mean",
                    f"{rec:.6g}", f"{likely[0]}." if likely else "the sign, probabilities instead of logits, a mean "
                    "over pixels, or the wrong target (x is the input image).")


@number("2.4")
def test_reparameterized_sample(grading: GradingSession) -> None:
    """loss: decode gets z = m + sqrt(v) * eps, drawn with utils.sample_gaussian(m, v)"""
    call = first_call(grading)
    m, v, z, _ = recorded(call)
    require_usable(m, v)
    if call["sample_calls"] < 1:
        raise wrong("loss did not call utils.sample_gaussian.", "z = ut.sample_gaussian(m, v)",
                    "no call", "sampling inline (torch.randn_like, torch.normal) or no sampling at all (z = m): use "
                    "the provided helper, so that the grader can give it known noise.")
    expected = m + np.sqrt(v) * trusted.known_noise(grading, m.shape)
    require_close(z, expected, "The z given to decode", "v passed where the standard deviation goes (or the "
                  "other way round), z detached or replaced after sampling, or a second sample", rtol=1e-4, atol=1e-5)


@number("2.5")
def test_gradients(grading: GradingSession) -> None:
    """loss: the total's gradient reaches the encoder's and the decoder's parameters, rec's through z"""
    call = first_call(grading)
    if "grad_error" in call:
        raise wrong("loss's total has no gradient.", "a tensor connected to the model's parameters",
                    call["grad_error"], "a .item(), .detach(), torch.tensor(...) or numpy step inside loss.")
    reached = set(call.get("reached_parameters", []))
    for side in ("encoder", "decoder"):
        used = set(call.get(f"{side}_parameters", []))
        if used and not used & reached:
            raise wrong(f"The total's gradient does not reach the {side}'s parameters.",
                        f"non-zero gradients for the parameters {'encode' if side == 'encoder' else 'decode'} uses",
                        "all zero", "a detached tensor on the way, or a term computed without the model.")
    m, _, _, _ = recorded(call)
    gradient = call.get("grad_mean")
    if gradient is not None and np.allclose(gradient, m / m.shape[0], rtol=1e-4, atol=1e-7):
        raise wrong("rec's gradient does not reach the encoder: the gradient of the total with respect to m is the "
                    "KL's alone.", "a gradient from rec through z = m + sqrt(v) * eps as well",
                    "exactly the KL's gradient, m / batch", "z detached from m and v (z.detach(), torch.no_grad, "
                    "torch.normal(m, std) which does not backpropagate): the reparameterization trick is what lets "
                    "the encoder learn from rec.")
