"""Checks of VAE.negative_iwae_bound(x, iw): (niwae, kl, rec), batch means, with iw importance samples per image.

The worker runs the student's bound with the grader's weights and batch, and with the other student functions it
may call replaced by the grader's (grader/homeworks/vae_iwae/worker_ops.py): ``ut.sample_gaussian`` returns
m + sqrt(v) * eps with eps[j, b] for the j-th latent drawn for image b, whatever the layout of the samples, and
``ut.kl_normal`` and ``VAE.negative_elbo_bound`` are the reference's. The bound is then deterministic, and it is
compared with the reference computed here on the same weights, batch and noise: its points depend on it alone.

The grader's weights are the reference VAE after a few dozen Adam steps on test images (seeded per grading), with
the means of its encoder spread twice as far: the decoder's logits depend on z and on which image z came from, the
per-image KLs are about 10 nats and the log-weights of one image spread over a few nats, so that log-mean-exp
differs from the mean and from the maximum of the log-weights, and pairing an image with another's samples shows.
The log-weights lie near -200, where exp() is 0 in float32. For the stability check the decoder's last layer is
scaled up 40 times: log-weights of -1,000 to -3,000, where exp() is 0 even in float64.
"""

import functools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.expect import require_close, tensor_values
from grader.engine.feedback import hint_on_error, preview, worst_difference, wrong
from grader.engine.homework import Homework
from grader.engine.oracle import reference
from grader.grading.session import GradingSession
from grader.homeworks.vae.diagnose import Variant, likely_mistake
from grader.homeworks.vae_iwae.trusted import binarized_test_set

SEED_LABEL = "negative_iwae_bound"  # inputs from grading.check_seed(SEED_LABEL): grader/engine/check_inputs.py
PRETRAINING_STEPS = 40  # Adam steps of the reference's negative ELBO: an encoder and a decoder that fit each other
PRETRAINING_RATE = 3e-3
PRETRAINING_BATCH = 100
PRETRAINING_IMAGES = 2_000  # test images from TEST_OFFSET on
ENCODER_MEAN_SCALE = 2.0  # then q's means spread twice as far: per-image KLs of about 10 nats
STABLE_DECODER_OUTPUT_SCALE = 40.0  # logits in the hundreds: log-weights of -1,000 to -3,000, exp() is 0 in float64
TEST_OFFSET = 6_000  # batches come from the binarized test set, from this image on
MAIN = (10, 100, 10)  # z_dim, batch, iw of the case most checks share
OTHER_SIZES = ((4, 37, 7), (10, 2, 500))
STABLE = (10, 20, 50)
REPEATED_CALLS = 3
NIWAE_TOLERANCE = {"rtol": 1e-4, "atol": 1e-3}
TERM_TOLERANCE = {"rtol": 1e-4, "atol": 1e-3}
GRAD_TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class IWAECase:
    z_dim: int
    iw: int
    weights: dict[str, np.ndarray]
    x: np.ndarray  # (batch, 784)
    epsilon: np.ndarray  # (iw, batch, z_dim): the noise of latent j of image b
    extra_seed: int  # the noise of latents beyond the iw of an image
    niwae: float
    kl: float  # the reference's: mean over the iw * batch samples of log q(z | x) - log p(z)
    rec: float  # mean over the iw * batch samples of -log p(x | z)
    kl_analytic: float  # the closed form's batch mean: also accepted as the ELBO's kl
    rec_first: float  # -log p(x | z) at each image's first sample: the ELBO's rec on one sample, also accepted
    nelbo_first: float  # the single-sample ELBO on the first sample, with the closed-form KL
    niwae_one_sample: float  # -log w of each image's first sample: what one sample reused iw times gives
    mean_log_weight: float  # for the messages: where the log-weights lie
    grads: dict[str, np.ndarray]
    niwae_variants: list[Variant]
    kl_variants: list[Variant]
    rec_variants: list[Variant]
    grad_variants: list[tuple[str, dict[str, np.ndarray]]]

    @property
    def batch(self) -> int:
        return self.x.shape[0]


@contextmanager
def reference_noise(ref: object, epsilon: torch.Tensor) -> Iterator[None]:
    """The reference's sample_gaussian with the case's noise, for the reference's own layout (ut.duplicate: copy j
    of the batch in rows [j * batch, (j + 1) * batch)), so row j * batch + b gets epsilon[j, b]."""
    original = ref.utils.sample_gaussian
    flat = epsilon.reshape(-1, epsilon.shape[-1])  # (iw * batch, z_dim)
    ref.utils.sample_gaussian = lambda m, v: m + torch.sqrt(v) * flat
    try:
        yield
    finally:
        ref.utils.sample_gaussian = original


def parameter_grads(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, np.ndarray]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: (p.grad if p.grad is not None else torch.zeros_like(p)).numpy().copy()
            for name, p in model.named_parameters()}


def log_mean_exp(values: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.logsumexp(values, dim) - math.log(values.shape[dim])


def distinct_images(homework: Homework, start: int, count: int) -> np.ndarray:
    """``count`` binarized test images from ``start`` on, in order, skipping any that repeats an earlier one: the
    worker tells a latent's image by its encoder mean, so two equal images would share their samples' noise."""
    seen: set[bytes] = set()
    chosen = []
    for image in binarized_test_set(homework.data_paths[0]).numpy()[start:]:
        if image.tobytes() not in seen:
            seen.add(image.tobytes())
            chosen.append(image)
        if len(chosen) == count:
            break
    return np.stack(chosen)  # (count, 784)


@functools.cache
def pretrained_weights(homework: Homework, z_dim: int, seed: int) -> dict[str, torch.Tensor]:
    """The reference VAE after PRETRAINING_STEPS steps on test images, its encoder's means then spread by
    ENCODER_MEAN_SCALE (seeded: the same weights for every case of a grading with this z_dim)."""
    ref = reference(homework)
    images = torch.from_numpy(binarized_test_set(homework.data_paths[0]).numpy()[TEST_OFFSET:][:PRETRAINING_IMAGES])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ref.vae.VAE(z_dim=z_dim)
        optimizer = torch.optim.Adam(model.parameters(), lr=PRETRAINING_RATE)
        order = torch.Generator().manual_seed(seed)
        for _ in range(PRETRAINING_STEPS):
            batch = images[torch.randint(0, images.shape[0], (PRETRAINING_BATCH,), generator=order)]  # (100, 784)
            optimizer.zero_grad(set_to_none=True)
            model.negative_elbo_bound(batch)[0].backward()
            optimizer.step()
    with torch.no_grad():
        last = model.enc.net[-1]  # Linear(300, 2 * z_dim): means first, then variances
        last.weight[:z_dim].mul_(ENCODER_MEAN_SCALE)
        last.bias[:z_dim].mul_(ENCODER_MEAN_SCALE)
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@functools.cache
def iwae_case(homework: Homework, z_dim: int, batch: int, iw: int, seed: int, weights_seed: int,
              decoder_scale: float = 1.0) -> IWAECase:
    """The reference's bound, terms, gradients and named wrong variants on the grader's weights, batch and noise.

    The weights come from ``weights_seed`` (pretrained_weights), the images and the noise from ``seed``: cases with
    the same seeds share weights, images and the noise of every image's first samples (epsilon is drawn sample
    after sample), whatever their iw."""
    ref = reference(homework)
    ut = ref.utils
    model = ref.vae.VAE(z_dim=z_dim)
    model.load_state_dict(pretrained_weights(homework, z_dim, weights_seed))
    with torch.no_grad():
        model.dec.net[-1].weight.mul_(decoder_scale)
    weights = {name: tensor.detach().numpy().copy() for name, tensor in model.state_dict().items()}
    x = torch.from_numpy(distinct_images(homework, TEST_OFFSET + seed % 1000, batch))  # (batch, 784)
    rng = np.random.default_rng(seed)
    epsilon = torch.from_numpy(rng.standard_normal((iw, batch, z_dim)).astype(np.float32))  # (iw, batch, z_dim)
    x_copies = x.expand(iw, -1, -1)  # (iw, batch, 784): the batch beside each copy of its samples
    prior_m, prior_v = model.z_prior_m, model.z_prior_v

    with reference_noise(ref, epsilon):
        niwae, kl, rec = model.negative_iwae_bound(x, iw)
    grads = parameter_grads(model, niwae)

    def log_weights(z_detached: bool = False, q_detached: bool = False) -> torch.Tensor:
        """(iw, batch) log-weights of the reference layout, with parts of the graph cut (the gradient mistakes)."""
        qm, qv = model.enc(x)  # (batch, z_dim)
        z = qm + torch.sqrt(qv) * epsilon  # (iw, batch, z_dim)
        if z_detached:
            z = z.detach()
        q_mean, q_variance = (qm.detach(), qv.detach()) if q_detached else (qm, qv)
        return (ut.log_bernoulli_with_logits(x_copies, model.dec(z)) + ut.log_normal(z, prior_m, prior_v)
                - ut.log_normal(z, q_mean, q_variance))

    grads_z_detached = parameter_grads(model, -log_mean_exp(log_weights(z_detached=True), 0).mean())
    grads_sticking = parameter_grads(model, -log_mean_exp(log_weights(q_detached=True), 0).mean())

    with torch.no_grad():
        qm, qv = model.enc(x)  # (batch, z_dim)
        z = qm + torch.sqrt(qv) * epsilon  # (iw, batch, z_dim)
        logits = model.dec(z)  # (iw, batch, 784)
        log_px = ut.log_bernoulli_with_logits(x_copies, logits).double()  # (iw, batch)
        log_pz = ut.log_normal(z, prior_m, prior_v).double()
        log_qz = ut.log_normal(z, qm, qv).double()
        lw = log_px + log_pz - log_qz  # (iw, batch)
        kl_analytic = ut.kl_normal(qm, qv, prior_m, prior_v).double()  # (batch,)
        unnormalised_q = (-0.5 * ((z - qm).pow(2) / qv).sum(-1)).double()  # log q without log(2 pi v) / 2
        unnormalised_p = (-0.5 * z.pow(2).sum(-1)).double()  # log p(z) without log(2 pi) / 2
        log_q_std = ut.log_normal(z, qm, torch.sqrt(qv)).double()  # the standard deviation as a variance

        def bound_at(z_used: torch.Tensor) -> torch.Tensor:
            """-IWAE with latents z_used (iw, batch, z_dim), weighed against q = N(qm, qv)."""
            used = (ut.log_bernoulli_with_logits(x_copies, model.dec(z_used)) + ut.log_normal(z_used, prior_m, prior_v)
                    - ut.log_normal(z_used, qm, qv)).double()
            return -log_mean_exp(used, 0).mean()

        rows = torch.arange(iw * batch)  # the sample-major rows of ut.duplicate
        x_interleaved = x[rows // iw].reshape(iw, batch, -1)  # x repeated image by image, z copy after copy
        log_px_mismatched = ut.log_bernoulli_with_logits(x_interleaved, logits).double()
        sample, image = torch.meshgrid(torch.arange(iw), torch.arange(batch), indexing="ij")
        x_copied = x[(image * iw + sample) % batch]  # (iw, batch, 784): x copy after copy, z image by image
        log_px_mismatched_back = ut.log_bernoulli_with_logits(x_copied, logits).double()
        log_px_sigmoid = ut.log_bernoulli_with_logits(x_copies, torch.sigmoid(logits)).double()
        z_std_given = qm + qv.pow(0.25) * epsilon  # sample_gaussian given the standard deviation
        z_mean = qm.expand(iw, -1, -1)  # no sampling at all

    def value(t: torch.Tensor | float) -> np.ndarray:
        return np.asarray(float(torch.as_tensor(t).detach()), np.float64)

    correct = -log_mean_exp(lw, 0).mean()
    half_log_2pi = 0.5 * z_dim * LOG_2PI
    fix = "compute log w = log p(x | z) + log p(z) - log q(z | x) for every sample, then -ut.log_mean_exp over the "
    stable_fix = "samples' dimension, then the batch mean."
    niwae_variants = [
        (f"the mean of the log-weights (the ELBO averaged over the samples), not the log of the mean weight: "
         f"log-mean-exp is not mean-log; use ut.log_mean_exp(log_w, dim) over the {iw} samples.", value(-lw.mean())),
        (f"log-sum-exp without the 1/iw: the sum of the weights instead of their mean (off by log({iw})); use "
         "ut.log_mean_exp, or subtract log(iw) from torch.logsumexp.", value(correct - math.log(iw))),
        ("the log-weights were summed over the samples instead of combined with log-mean-exp.",
         value(-lw.sum(0).mean())),
        ("samples and images are interleaved in the wrong order: the rows of ut.duplicate are copy after copy "
         "(row j * batch + b is sample j of image b), so reshape the log-weights to (iw, batch), not (batch, iw).",
         value(-log_mean_exp(lw.reshape(-1).reshape(batch, iw), 1).mean())),
        ("samples and images are interleaved in the wrong order: rows repeated image by image (repeat_interleave) "
         "hold image b's samples together, so reshape them to (batch, iw), not (iw, batch).",
         value(-log_mean_exp(lw.t().reshape(-1).reshape(iw, batch), 0).mean())),
        ("log-mean-exp over the images instead of over the samples: the bound of each image averages its own iw "
         "weights (the samples' dimension), then the batch mean.", value(-log_mean_exp(lw, 1).mean())),
        ("log-mean-exp over all iw * batch log-weights together: take it over each image's samples only, then the "
         "batch mean.", value(-log_mean_exp(lw.reshape(-1), 0))),
        ("the prior's density lacks its normaliser: log p(z) needs the -log(2 pi) / 2 of every dimension; use "
         "ut.log_normal(z, self.z_prior_m, self.z_prior_v).", value(correct - half_log_2pi)),
        ("the posterior's density lacks the -log(2 pi) / 2 of its normaliser; use ut.log_normal(z, qm, qv).",
         value(correct + half_log_2pi)),
        ("the posterior's density lacks its normaliser (-log(2 pi v) / 2 per dimension, which depends on qv); use "
         "ut.log_normal(z, qm, qv).", value(-log_mean_exp(log_px + log_pz - unnormalised_q, 0).mean())),
        ("the prior's and the posterior's densities both lack their normalisers (the log(2 pi) cancels, the log v "
         "does not); use ut.log_normal for both.",
         value(-log_mean_exp(log_px + unnormalised_p - unnormalised_q, 0).mean())),
        ("log p(z) and log q(z | x) are swapped: the weight is p(x | z) p(z) / q(z | x), so log w = log p(x | z) + "
         "log p(z) - log q(z | x).", value(-log_mean_exp(log_px - log_pz + log_qz, 0).mean())),
        ("the closed-form KL was mixed into the IW bound (-log-mean-exp of log p(x | z) plus kl_normal): the "
         "importance weights carry the prior and the posterior themselves; " + fix + stable_fix,
         value(-log_mean_exp(log_px, 0).mean() + kl_analytic.mean())),
        ("a sampled KL was added outside the log-mean-exp (-log-mean-exp of log p(x | z) plus the mean of log q - "
         "log p): log p(z) - log q(z | x) belongs inside each log-weight; " + fix + stable_fix,
         value(-log_mean_exp(log_px, 0).mean() + (log_qz - log_pz).mean())),
        ("the log-weights lack log p(z) - log q(z | x): only log p(x | z) was weighed; " + fix + stable_fix,
         value(-log_mean_exp(log_px, 0).mean())),
        ("the sign is flipped: niwae is the negative bound, a positive number of nats.", value(-correct)),
        ("niwae was summed over the batch instead of averaged (use .mean()).", value(correct * batch)),
        (f"one sample of z was reused for all {iw} (all weights equal): draw iw samples per image with "
         "ut.sample_gaussian, e.g. from ut.duplicate(qm, iw) and ut.duplicate(qv, iw).", value(-lw[0].mean())),
        ("z was not sampled (z = qm for every sample); draw z = ut.sample_gaussian(qm_rep, qv_rep).",
         value(bound_at(z_mean))),
        ("sample_gaussian was given the standard deviation sqrt(qv); it takes the variance qv.",
         value(bound_at(z_std_given))),
        ("log q(z | x) was computed with the standard deviation sqrt(qv) where ut.log_normal takes the variance qv.",
         value(-log_mean_exp(log_px + log_pz - log_q_std, 0).mean())),
        ("the decoder's output was passed through a sigmoid before log_bernoulli_with_logits, which expects "
         "logits.", value(-log_mean_exp(log_px_sigmoid + log_pz - log_qz, 0).mean())),
        ("x and z are duplicated in different orders (x image by image with repeat_interleave, z copy after copy "
         "with ut.duplicate, or the other way round): each x must meet its own samples; duplicate both the same "
         "way.", value(-log_mean_exp(log_px_mismatched + log_pz - log_qz, 0).mean())),
        ("x and z are duplicated in different orders (x copy after copy with ut.duplicate, z image by image with "
         "repeat_interleave, or the other way round): each x must meet its own samples; duplicate both the same "
         "way.", value(-log_mean_exp(log_px_mismatched_back + log_pz - log_qz, 0).mean())),
        ("the maximum log-weight was used instead of log-mean-exp (the largest weight alone, less log(iw)); "
         "use ut.log_mean_exp.", value(-(lw.max(0).values - math.log(iw)).mean())),
        ("the maximum log-weight was used instead of log-mean-exp; use ut.log_mean_exp.",
         value(-lw.max(0).values.mean())),
    ]
    kl_sampled, rec_all = float(kl.detach()), float(rec.detach())
    kl_variants = [
        ("the sign of kl is flipped: kl = log q(z | x) - log p(z), on average a positive number.",
         value(-kl_sampled)),
        ("kl was summed over the batch instead of averaged (use .mean()).", value(kl_sampled * batch)),
        (f"kl was summed over the {iw} samples instead of averaged over them: a mean over all iw * batch samples.",
         value(kl_sampled * iw)),
        ("kl is the closed form summed over the batch: average it.", value(float(kl_analytic.sum()))),
        ("kl and rec are swapped in the returned tuple; return (niwae, kl, rec).", value(rec_all)),
    ]
    rec_variants = [
        ("the sign of rec is flipped: rec = -log p(x | z), a positive number.", value(-rec_all)),
        ("rec was summed over the batch instead of averaged (use .mean()).", value(rec_all * batch)),
        (f"rec was summed over the {iw} samples instead of averaged over them: a mean over all iw * batch "
         "samples.", value(rec_all * iw)),
        ("rec was averaged over the 784 pixels; sum over pixels (log_bernoulli_with_logits does), then average.",
         value(rec_all / 784)),
        ("kl and rec are swapped in the returned tuple; return (niwae, kl, rec).", value(kl_sampled)),
    ]
    grad_variants = [
        ("the value is right but the gradient does not reach the encoder through z: z must not be detached "
         "(no .detach(), .data or torch.no_grad()).", grads_z_detached),
        ("the value is right but log q(z | x) was computed with detached qm and qv (the 'sticking the landing' "
         "estimator): a different gradient; keep the graph of the bound as it is.", grads_sticking),
    ]
    rec_first = float(-log_px[0].mean())
    return IWAECase(
        z_dim=z_dim, iw=iw, weights=weights, x=x.numpy(), epsilon=epsilon.numpy(), extra_seed=seed % 2**31,
        niwae=float(niwae.detach()), kl=kl_sampled, rec=rec_all, kl_analytic=float(kl_analytic.mean()),
        rec_first=rec_first, nelbo_first=float(kl_analytic.mean()) + rec_first, niwae_one_sample=float(-lw[0].mean()),
        mean_log_weight=float(lw.mean()), grads=grads,
        niwae_variants=niwae_variants, kl_variants=kl_variants, rec_variants=rec_variants, grad_variants=grad_variants,
    )


def seed_of(grading: GradingSession) -> int:
    return grading.check_seed(SEED_LABEL)


def main_case(grading: GradingSession, iw: int = MAIN[2]) -> IWAECase:
    """z_dim 10, a batch of 100, iw 10 (or another iw on the same weights, images and first samples)."""
    return iwae_case(grading.homework, MAIN[0], MAIN[1], iw, seed_of(grading), seed_of(grading))


def main_answer(grading: GradingSession) -> tuple[dict, list[np.ndarray]]:
    """The main case's answer, REPEATED_CALLS calls on one model (checks 6.1, 6.2, 6.4 and 6.7 read it): asked
    once per grading."""
    case = main_case(grading)
    return grading.memo("negative_iwae_bound: main case", lambda: run_bound(grading, case, (case.iw,) * REPEATED_CALLS))


def run_bound(grading: GradingSession, case: IWAECase, calls: tuple[int, ...] | None = None,
              what: str = "negative_iwae_bound") -> tuple[dict, list[np.ndarray]]:
    """The student's (niwae, kl, rec) on the case, each checked to be a numeric scalar (not yet for finiteness).

    ``calls``: the iw of each call on the same model (default: the case's, once); the first call's terms are
    returned, the later ones are in ``result["repeated_terms"]``."""
    result = grading.unit("negative_iwae_bound", z_dim=case.z_dim, weights=case.weights, x=case.x,
                          epsilon=case.epsilon, extra_seed=case.extra_seed, calls=list(calls or (case.iw,)))
    missing = result.get("missing_weights")
    if missing:
        raise wrong("The VAE does not have the provided networks.", "self.enc and self.dec from nns.py, the prior "
                    "as fixed buffers", f"model parameters the grader's weights do not fill: {missing[:4]}",
                    "the VAE class was changed; keep __init__ as provided.")
    returned = result.get("returned", {})
    terms = result.get("terms")
    if terms is None:
        raise wrong(f"{what} must return three values.", "a tuple (niwae, kl, rec)",
                    f"a {returned.get('type', '?')}" + (f" of length {returned['length']}" if "length" in returned
                                                        else ""),
                    "return niwae, kl, rec (in that order).")
    values = []
    for name, term in zip(("niwae", "kl", "rec"), terms, strict=True):
        if isinstance(term, dict) and term.get("is_tensor") and term.get("shape") == [1]:
            term = {**term, "shape": [], "value": term["value"].reshape(())}
        value = tensor_values(term, f"the {name} returned by {what}", (), None,
                              "each term is averaged over the batch: a 0-dimensional tensor (use .mean()).")
        values.append(value.astype(np.float64))
    return result, values


def require_finite_niwae(niwae: np.ndarray, case: IWAECase) -> None:
    if np.isfinite(niwae):
        return
    raise wrong("niwae is NaN or infinite.", f"{case.niwae:.4f}", f"{float(niwae)}",
                f"the log of a mean of exp(log-weights) computed naively overflows or underflows: these log-weights "
                f"are near {case.mean_log_weight:.0f}, where exp() is 0 in float32, so its log is -inf. Compute it "
                "stably with ut.log_mean_exp (torch.logsumexp(log_w, dim) - log(iw)), which subtracts the largest "
                "log-weight first.")


def niwae_mistake(result: dict, niwae: np.ndarray, case: IWAECase) -> str:
    """The named mistake behind a wrong niwae, else what to look at."""
    fallback = ("-niwae = log((1 / iw) * sum_k w_k) per image, log w = log p(x | z) + log p(z) - log q(z | x), with "
                "ut.log_bernoulli_with_logits and ut.log_normal, then the batch mean.")
    calls = result.get("sample_gaussian_calls") or []
    drawn = sum(math.prod(shape[:-1]) for shape in calls if shape)
    if not calls:
        fallback = ("negative_iwae_bound never called ut.sample_gaussian; draw the iw samples with it (the grader "
                    "controls the noise through it).")
    elif drawn < case.iw * case.batch and not np.isclose(niwae, case.niwae_one_sample, **NIWAE_TOLERANCE):
        fallback = (f"ut.sample_gaussian drew {drawn} latents, fewer than the {case.iw} x {case.batch} samples "
                    "(iw per image) the bound needs; duplicate qm and qv iw times first (ut.duplicate).")
    return likely_mistake(niwae, case.niwae_variants, fallback, **NIWAE_TOLERANCE)


def require_niwae(result: dict, niwae: np.ndarray, case: IWAECase, what: str) -> None:
    require_finite_niwae(niwae, case)
    if not np.isclose(niwae, case.niwae, **NIWAE_TOLERANCE):
        require_close(niwae, np.asarray(case.niwae), what, niwae_mistake(result, niwae, case), **NIWAE_TOLERANCE)


def matches_any(got: np.ndarray, accepted: tuple[float, ...]) -> bool:
    return bool(np.isfinite(got)) and any(np.isclose(got, value, **TERM_TOLERANCE) for value in accepted)


@number("6.1")
def test_bound_value(grading: GradingSession) -> None:
    """negative_iwae_bound: niwae matches the reference (iw = 10, a batch of 100)"""
    case = main_case(grading)
    result, (niwae, _, _) = main_answer(grading)
    require_niwae(result, niwae, case, f"niwae (iw = {case.iw}, batch {case.batch})")


@number("6.2")
def test_elbo_terms(grading: GradingSession) -> None:
    """negative_iwae_bound: kl and rec are the ELBO's terms on the same samples (batch means)"""
    case = main_case(grading)
    _, (_, kl, rec) = main_answer(grading)
    if not matches_any(kl, (case.kl, case.kl_analytic)):
        mistake = likely_mistake(kl, case.kl_variants, "kl = mean of log q(z | x) - log p(z) over the iw * batch "
                                 "samples (or the closed form ut.kl_normal(qm, qv, prior).mean()).", **TERM_TOLERANCE)
        raise wrong("kl does not match the reference.",
                    f"{case.kl:.4f} (sampled, the reference) or {case.kl_analytic:.4f} (closed form)",
                    f"{float(kl):.4f}", mistake)
    if not matches_any(rec, (case.rec, case.rec_first)):
        mistake = likely_mistake(rec, case.rec_variants, "rec = mean of -log p(x | z) over the iw * batch samples, "
                                 "with ut.log_bernoulli_with_logits(x, self.dec(z)).", **TERM_TOLERANCE)
        raise wrong("rec does not match the reference.",
                    f"{case.rec:.4f} (all samples) or {case.rec_first:.4f} (each image's first sample)",
                    f"{float(rec):.4f}", mistake)


@number("6.3")
def test_other_sizes(grading: GradingSession) -> None:
    """negative_iwae_bound: works for other iw, batch sizes and z_dim"""
    mistake = ("a hard-coded batch size (100), number of samples (10) or latent size (10); use x.shape[0], iw, "
               "self.z_dim and the shapes of qm and qv.")
    for offset, (z_dim, batch, iw) in enumerate(OTHER_SIZES, start=1):
        case = iwae_case(grading.homework, z_dim, batch, iw, seed_of(grading) + offset, seed_of(grading))
        where = f"batch {batch}, iw {iw} and z_dim {z_dim}"
        with hint_on_error(f"this call had a {where}: {mistake}"):
            _, (niwae, _, _) = run_bound(grading, case)
        require_finite_niwae(niwae, case)
        if not np.isclose(niwae, case.niwae, **NIWAE_TOLERANCE):
            require_close(niwae, np.asarray(case.niwae), f"niwae for a {where}",
                          likely_mistake(niwae, case.niwae_variants, mistake, **NIWAE_TOLERANCE), **NIWAE_TOLERANCE)


@number("6.4")
def test_gradients(grading: GradingSession) -> None:
    """negative_iwae_bound: gradients of niwae match the reference, through z into the encoder"""
    case = main_case(grading)
    result, (niwae, _, _) = main_answer(grading)
    grads = result.get("grads")
    if not isinstance(grads, dict) or not grads:
        raise wrong("niwae has no gradient.", "niwae connected to the encoder and decoder weights", "no gradients",
                    "niwae must come from torch operations (no .item(), .detach(), numpy or torch.no_grad()).")
    extra = sorted(set(grads) - set(case.grads))
    if extra:
        raise wrong("niwae has gradients for parameters the VAE should not have.",
                    f"gradients for the encoder and decoder only ({len(case.grads)} tensors)", f"also for {extra[:4]}",
                    "the prior (or something else) was made a trainable nn.Parameter; keep __init__ as provided.")

    def matches(expected: dict[str, np.ndarray]) -> bool:
        return all(grads.get(name) is not None and grads[name].shape == value.shape
                   and np.allclose(grads[name], value, **GRAD_TOLERANCE) for name, value in expected.items())

    if matches(case.grads):
        return
    mistake = "the value of niwae is wrong (see check 6.1); the gradients follow from it."
    if np.isfinite(niwae) and np.isclose(niwae, case.niwae, **NIWAE_TOLERANCE):
        mistake = ("the value is right but the gradient differs: part of the computation is detached, or computed "
                   "outside the graph.")
        for explanation, variant in case.grad_variants:
            if matches(variant):
                mistake = explanation
                break
    for name, expected in case.grads.items():
        got = grads.get(name)
        if got is None or got.shape != expected.shape or not np.allclose(got, expected, **GRAD_TOLERANCE):
            where = f" ({worst_difference(got, expected)})" if got is not None and got.shape == expected.shape else ""
            raise wrong(f"The gradient of niwae with respect to {name} differs from the reference.",
                        preview(expected), preview(got), mistake + where)


@number("6.5")
def test_one_sample_is_the_elbo(grading: GradingSession) -> None:
    """negative_iwae_bound: with iw = 1 it is the single-sample negative ELBO"""
    case = main_case(grading, iw=1)
    with hint_on_error("this call had iw = 1: one sample per image, a log-mean-exp over a dimension of size 1."):
        result, (niwae, _, _) = run_bound(grading, case)
    require_finite_niwae(niwae, case)
    if matches_any(niwae, (case.niwae, case.nelbo_first)):
        return
    mistake = niwae_mistake(result, niwae, case)
    raise wrong("With iw = 1, niwae is not the single-sample negative ELBO.",
                f"{case.niwae:.4f} (rec + log q(z | x) - log p(z) on the one sample) or {case.nelbo_first:.4f} (rec "
                "on that sample plus the closed-form KL)", f"{float(niwae):.4f}", mistake)


@number("6.6")
def test_stable_for_large_log_weights(grading: GradingSession) -> None:
    """negative_iwae_bound: finite and right when the log-weights are in the thousands below zero (log-mean-exp)"""
    z_dim, batch, iw = STABLE
    case = iwae_case(grading.homework, z_dim, batch, iw, seed_of(grading) + len(OTHER_SIZES) + 1, seed_of(grading),
                     STABLE_DECODER_OUTPUT_SCALE)
    result, (niwae, _, _) = run_bound(grading, case)
    if not np.isfinite(niwae):
        raise wrong("niwae is NaN or infinite when the log-weights are large and negative.",
                    f"{case.niwae:.2f} (log-weights near {case.mean_log_weight:.0f})", f"{float(niwae)}",
                    "a naive log(mean(exp(log_w))) overflows: exp(log_w) is 0 (even in float64) for log-weights "
                    "below about -745, and log(0) = -inf. Subtract the largest log-weight before exponentiating: "
                    "ut.log_mean_exp, or torch.logsumexp(log_w, dim) - log(iw).")
    if not np.isclose(niwae, case.niwae, **NIWAE_TOLERANCE):
        require_close(niwae, np.asarray(case.niwae), f"niwae with log-weights near {case.mean_log_weight:.0f}",
                      niwae_mistake(result, niwae, case), **NIWAE_TOLERANCE)


@number("6.7")
def test_no_state_between_calls(grading: GradingSession) -> None:
    """negative_iwae_bound: the same batch and noise give the same bound on every call"""
    case = main_case(grading)
    result, first = main_answer(grading)
    repeated = result.get("repeated_terms")
    if not isinstance(repeated, list) or len(repeated) != REPEATED_CALLS - 1:
        raise wrong("The repeated calls returned nothing to compare.", f"{REPEATED_CALLS - 1} more calls answered",
                    f"{0 if not isinstance(repeated, list) else len(repeated)} answered",
                    "the grader's worker could not report the repeated calls: was the VAE class changed?")
    expected = np.concatenate([value.reshape(-1) for value in first])
    for call, terms in enumerate(repeated, start=2):
        values = [tensor_values(term, f"call {call} of negative_iwae_bound", None, None).astype(np.float64)
                  .reshape(-1)[:1] for term in terms]
        got = np.concatenate(values)
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-6, atol=0.0, equal_nan=True):
            raise wrong(f"Call {call} on the same model, batch and noise returned a different bound.",
                        f"(niwae, kl, rec) = {np.round(expected, 4).tolist()} on every call (the grader fixes the "
                        "noise of ut.sample_gaussian)", f"{np.round(got, 4).tolist()}",
                        "the bound keeps state between calls (a counter, a cached sample or a schedule stored on "
                        "self): it must depend on x, iw and the samples only.")
    niwae, kl, rec = first
    computed = (matches_any(niwae, (case.niwae,)) or matches_any(kl, (case.kl, case.kl_analytic))
                or matches_any(rec, (case.rec, case.rec_first)))
    if not computed:
        raise wrong("The same bound on every call, but neither niwae nor kl nor rec matches the reference (see "
                    "checks 6.1 and 6.2).", "one term computed from the batch, and the property",
                    "every term differs from the reference", "this property earns its points only for a bound that "
                    "computes at least one of its terms; fix the bound first.")

