"""What a wrong answer says about the mistake behind it, and how a failed check says so.

The grader names a mistake only when the evidence singles it out. Each check computes, on its own inputs, what
the known mistakes return, alone and combined (``Hypothesis``: the mistakes, the value they compute). A value that
matches exactly the hypotheses containing some mistakes gets those mistakes claimed ("Likely mistake: ..."); the
mistakes only some of the matching hypotheses contain are guesses; a value that matches none gets what was observed
and the candidates, marked as guesses. A fitted number (a KL weight, a ratio to the reference) is never a cause by
itself: it is named only when it is a value a known mistake produces.

A failed check's message has fixed parts (``Diagnosis.lines``), so a student, and the tests, can tell a claim
from a guess:

    <what is wrong>
    Expected: ...
    Got:      ...
    Likely mistake: <a MISTAKES text>                              one line per claimed mistake
    Likely mistake: <a MISTAKES text> (found by check 3.3; ...)    another check's mistake, which explains this one
    Not a new mistake: <why this check fails because of another>
    Observed: <facts measured on this submission>
    Possible causes (guesses, most likely first): <a>; <b>; ...
    To fix: <the right computation>

Every claim is a tag of ``MISTAKES``: its function and its text. The mutant catalogue (mutants.toml) names the
true mistakes of each entry with these tags (``mistakes = [...]``), and a test holds every claim of every graded
entry to them.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from grader.engine.feedback import WrongAnswer, preview

SAMPLE_GAUSSIAN, KL_NORMAL, BOUND = "sample_gaussian", "kl_normal", "negative_elbo_bound"
MATCH_RTOL = 1e-4  # a hypothesis matches a value computed in float32 on the same inputs to float32 rounding
MATCH_ATOL = 1e-4
LOG_CONSTANTS = (1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)  # "safety" constants students add inside a log
CLAIM_PREFIX = "Likely mistake: "
FOUND_BY = " (found by check {number}; this check fails because of it)"
DEFERRED_PREFIX = "Not a new mistake: "
OBSERVED_PREFIX = "Observed: "
GUESSES_PREFIX = "Possible causes (guesses, most likely first): "
FIX_PREFIX = "To fix: "


@dataclass(frozen=True)
class Mistake:
    """A mistake the grader can name: the student function it is in, and the words that name it."""

    tag: str
    function: str
    text: str


_MISTAKES = [
    # -- sample_gaussian -----------------------------------------------------------------------------------------
    Mistake("sg_not_implemented", SAMPLE_GAUSSIAN, "sample_gaussian is still the starter's stub."),
    Mistake("sg_no_noise", SAMPLE_GAUSSIAN,
            "there is no noise in the sample: z = m; add sqrt(v) * eps with eps = torch.randn_like(m)."),
    Mistake("sg_variance_as_std", SAMPLE_GAUSSIAN,
            "v was used as a standard deviation (z = m + v * eps); v is the variance: scale the noise by "
            "torch.sqrt(v)."),
    Mistake("sg_variance_as_log_variance", SAMPLE_GAUSSIAN,
            "v was treated as a log-variance (z = m + exp(v / 2) * eps); v is the variance itself: scale the noise by "
            "torch.sqrt(v)."),
    Mistake("sg_variance_ignored", SAMPLE_GAUSSIAN, "v was ignored (z = m + eps); scale the noise by torch.sqrt(v)."),
    Mistake("sg_root_taken_twice", SAMPLE_GAUSSIAN,
            "the noise was scaled by v ** 0.25 (the square root taken twice) instead of sqrt(v)."),
    Mistake("sg_uniform_noise", SAMPLE_GAUSSIAN,
            "the noise is uniform on [0, 1) (torch.rand_like); draw standard normal noise with torch.randn_like(m)."),
    Mistake("sg_uniform_matched_moments", SAMPLE_GAUSSIAN,
            "the noise is uniform, rescaled to mean 0 and variance 1 (it never leaves [-1.73, 1.73]): right moments, "
            "but not normal; draw it with torch.randn_like(m)."),
    Mistake("sg_heavy_tailed_noise", SAMPLE_GAUSSIAN,
            "the noise has heavier tails than a normal's (kurtosis near 6, as a Laplace's): right moments, but not "
            "normal; draw it with torch.randn_like(m)."),
    Mistake("sg_discrete_noise", SAMPLE_GAUSSIAN,
            "the noise takes only a few distinct values (as +-1 from torch.randint or torch.sign): right moments, but "
            "not normal; draw it with torch.randn_like(m)."),
    Mistake("sg_noise_shared_across_batch", SAMPLE_GAUSSIAN,
            "one noise vector was shared by every row (torch.randn(dim) or similar, broadcast); draw eps with m's "
            "full shape: torch.randn_like(m)."),
    Mistake("sg_rows_repeated", SAMPLE_GAUSSIAN,
            "rows of the noise repeat (a block of noise used twice, or the same rows with their sign flipped): every "
            "row needs noise of its own, torch.randn_like(m)."),
    Mistake("sg_noise_shared_across_dims", SAMPLE_GAUSSIAN,
            "one noise value was shared across a row's coordinates (eps of shape (batch, 1), broadcast); draw eps "
            "with m's full shape: torch.randn_like(m)."),
    Mistake("sg_reseeds_generator", SAMPLE_GAUSSIAN,
            "torch's generator is re-seeded inside the function (torch.manual_seed), so every call draws the same "
            "noise; never seed there: draw eps = torch.randn_like(m) from the global generator."),
    Mistake("sg_noise_reused_across_calls", SAMPLE_GAUSSIAN,
            "the noise of an earlier call is returned again (kept in a global, a default argument or an attribute); "
            "draw fresh noise on every call: eps = torch.randn_like(m)."),
    Mistake("sg_torch_normal", SAMPLE_GAUSSIAN,
            "torch.normal(m, std) draws without the reparameterization (zero gradient for m and v); write "
            "z = m + torch.sqrt(v) * eps with eps = torch.randn_like(m)."),
    Mistake("sg_detached_sample", SAMPLE_GAUSSIAN,
            "the sample is cut from the autograd graph (.detach(), .data, torch.no_grad() or a trip through numpy); "
            "compute z from m and v with torch operations."),
    Mistake("sg_scale_detached", SAMPLE_GAUSSIAN,
            "the noise's scale is cut from the graph (sqrt(v) detached, or v converted to a number), so no gradient "
            "reaches v; compute z = m + torch.sqrt(v) * eps."),
    Mistake("sg_mean_detached", SAMPLE_GAUSSIAN,
            "m is cut from the graph (detached, or converted to a number), so no gradient reaches m; compute "
            "z = m + torch.sqrt(v) * eps."),
    Mistake("sg_hard_coded_shape", SAMPLE_GAUSSIAN,
            "the noise's shape is hard-coded for (batch, 10); draw it with m's own shape: torch.randn_like(m)."),
    Mistake("sg_casts_dtype", SAMPLE_GAUSSIAN,
            "the sample comes back in another dtype than m's (a .float() or noise created with a fixed dtype); "
            "torch.randn_like(m) follows m's dtype."),
    Mistake("sg_in_place", SAMPLE_GAUSSIAN,
            "an in-place operation changed the caller's m or v (m.add_, v.sqrt_(), m += ...); use out-of-place "
            "operations."),
    # -- kl_normal --------------------------------------------------------------------------------------------------
    Mistake("kl_not_implemented", KL_NORMAL, "kl_normal is still the starter's stub."),
    Mistake("kl_missing", KL_NORMAL, "kl_normal is missing from utils.py."),
    Mistake("kl_missing_half", KL_NORMAL, "the factor 0.5 is missing."),
    Mistake("kl_sign_flipped", KL_NORMAL, "the sign is flipped: KL(q || p) is never negative."),
    Mistake("kl_mean_over_latent", KL_NORMAL, "averaged over the latent dimension instead of summed (use .sum(-1))."),
    Mistake("kl_missing_minus_one", KL_NORMAL, "the '- 1' term is missing from each dimension."),
    Mistake("kl_reversed", KL_NORMAL,
            "this is KL(p || q); the homework needs KL(q || p) (q is the encoder's distribution)."),
    Mistake("kl_log_std", KL_NORMAL,
            "the log of the standard deviation was used where the log of the variance belongs."),
    Mistake("kl_mean_term_not_scaled", KL_NORMAL,
            "the squared mean difference is not divided by the prior variance pv."),
    Mistake("kl_variances_as_std", KL_NORMAL, "the variances were treated as standard deviations (squared again)."),
    Mistake("kl_variance_ratio_inverted", KL_NORMAL, "the variance ratio qv / pv is inverted."),
    Mistake("kl_log_ratio_inverted", KL_NORMAL,
            "the log-ratio has the wrong sign: it is log(pv) - log(qv), the log of the prior's variance first."),
    Mistake("kl_mean_difference_not_squared", KL_NORMAL, "the mean difference (qm - pm) is not squared."),
    Mistake("kl_standard_normal_only", KL_NORMAL,
            "pm and pv were ignored: this is the closed form for a N(0, 1) prior only; use the given pm and pv (the "
            "prior is not always standard normal)."),
    Mistake("kl_log_constant", KL_NORMAL,
            "a constant was added inside the logs (log(qv + c)); the variances are already positive: use "
            "torch.log(qv) and torch.log(pv) as they are."),
    Mistake("kl_summed_over_everything", KL_NORMAL,
            "the KL was summed over every dimension, the batch included; sum over the last dimension only: .sum(-1)."),
    Mistake("kl_sum_over_wrong_dim", KL_NORMAL,
            "the KL was summed over another dimension than the last; sum over dim=-1, whatever the shape."),
    Mistake("kl_detached", KL_NORMAL,
            "the result is cut from the autograd graph (.detach(), .item(), numpy or math.log); use torch operations "
            "throughout."),
    Mistake("kl_in_place", KL_NORMAL,
            "an in-place operation changed the caller's tensors (qm.sub_(pm), qv.log_(), pv += ...); use out-of-place "
            "operations."),
    # -- negative_elbo_bound: the KL term ---------------------------------------------------------------------------
    Mistake("bound_kl_summed_over_batch", BOUND, "the KL was summed over the batch instead of averaged (use .mean())."),
    Mistake("bound_kl_averaged_over_latent", BOUND,
            "the KL was averaged over the latent dimensions too; sum over z_dim, then average over the batch."),
    Mistake("bound_kl_reversed_arguments", BOUND,
            "this is KL(p(z) || q(z|x)): kl_normal takes (qm, qv, pm, pv), the encoder's q first."),
    Mistake("bound_kl_sign_flipped", BOUND,
            "the sign of the KL is flipped: kl = +KL(q || p), a non-negative number."),
    Mistake("bound_kl_scaled", BOUND,
            "kl carries a constant factor (a KL weight beta folded into kl, or the closed form's 0.5 missing or "
            "doubled); kl is the plain KL, weight 1."),
    Mistake("bound_kl_log_variance", BOUND,
            "qv was treated as a log-variance (exponentiated) in the KL; the encoder already returns the variance."),
    Mistake("bound_kl_monte_carlo", BOUND,
            "the KL was estimated from the sample z (log q(z|x) - log p(z)); kl is the analytic KL, "
            "ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v)."),
    Mistake("bound_kl_log_q_only", BOUND,
            "log p(z) was left out of the KL: kl is the mean of log q(z|x) alone; kl is the analytic KL, "
            "ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v)."),
    Mistake("bound_kl_log_p_only", BOUND,
            "log q(z|x) was left out of the KL: kl is the mean of -log p(z) alone; kl is the analytic KL, "
            "ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v)."),
    Mistake("bound_kl_clipped", BOUND,
            "the per-image KL was clipped from above (.clamp(max=...)), so images above the cap get no KL gradient; "
            "the bound has no clamp."),
    Mistake("bound_kl_free_bits", BOUND,
            "the KL was floored (free bits: .clamp(min=...) per image or per dimension), so it is not penalised "
            "below the floor; the bound has no floor."),
    Mistake("bound_prior_swapped", BOUND,
            "the prior's mean and variance were swapped (a variance of 0): the prior is "
            "(self.z_prior_m, self.z_prior_v), its mean first."),
    Mistake("bound_trainable_prior", BOUND,
            "the prior was made a trainable nn.Parameter (or a persistent buffer); the prior is the fixed N(0, I) "
            "of the provided buffers: keep __init__ as provided."),
    Mistake("bound_vae_changed", BOUND,
            "the VAE class was changed (its encoder and decoder are not the provided self.enc and self.dec); keep "
            "__init__ as provided."),
    # -- negative_elbo_bound: the reconstruction term -----------------------------------------------------------
    Mistake("bound_rec_averaged_over_pixels", BOUND,
            "rec was averaged over the 784 pixels; sum over pixels (log_bernoulli_with_logits does), then average "
            "over the batch."),
    Mistake("bound_rec_summed_over_batch", BOUND, "rec was summed over the batch instead of averaged (use .mean())."),
    Mistake("bound_rec_sign_flipped", BOUND, "the sign of rec is flipped: rec = -log p(x|z), a positive number."),
    Mistake("bound_sigmoid_twice", BOUND,
            "probabilities were fed as logits: the decoder's output went through a sigmoid before "
            "log_bernoulli_with_logits, which expects logits."),
    Mistake("bound_rec_arguments_swapped", BOUND,
            "the arguments of log_bernoulli_with_logits are swapped: it takes (x, logits)."),
    Mistake("bound_no_sampling", BOUND, "z was not sampled (z = qm); draw z = ut.sample_gaussian(qm, qv)."),
    Mistake("bound_z_from_prior", BOUND,
            "z was drawn from the prior p(z) (self.sample_z) instead of from q(z|x): z = ut.sample_gaussian(qm, qv)."),
    Mistake("bound_variance_as_std", BOUND,
            "qv was used as a standard deviation when sampling z (z = qm + qv * eps); qv is the variance."),
    Mistake("bound_std_passed_as_variance", BOUND,
            "sample_gaussian was given the standard deviation sqrt(qv); it takes the variance qv."),
    Mistake("bound_variance_exponentiated", BOUND,
            "qv was treated as a log-variance (exponentiated) when sampling z; it is the variance itself."),
    Mistake("bound_uniform_noise", BOUND,
            "z was drawn with uniform noise (torch.rand_like) where standard normal noise belongs "
            "(ut.sample_gaussian(qm, qv), or torch.randn_like)."),
    Mistake("bound_logits_clamped", BOUND,
            "the decoder's logits were clamped (.clamp(-c, c)), so confident pixels get no gradient; use them as "
            "they are."),
    Mistake("bound_decoder_sample_as_logits", BOUND,
            "a Bernoulli sample of the decoder (torch.bernoulli, self.sample_x_given) or rounded probabilities were "
            "used instead of its logits."),
    Mistake("bound_kl_and_rec_swapped", BOUND,
            "kl and rec are swapped in the returned tuple; return (nelbo, kl, rec)."),
    # -- negative_elbo_bound: nelbo, gradients, shapes, sizes, state ----------------------------------------------
    Mistake("bound_nelbo_rec_minus_kl", BOUND, "nelbo = rec - kl; the negative ELBO adds the two: nelbo = kl + rec."),
    Mistake("bound_nelbo_kl_minus_rec", BOUND, "nelbo = kl - rec; the negative ELBO adds the two: nelbo = kl + rec."),
    Mistake("bound_nelbo_kl_weight", BOUND,
            "the KL's weight in nelbo is not 1 (the KL left out, a beta, or KL annealing or warm-up); the negative "
            "ELBO weights it 1: nelbo = kl + rec."),
    Mistake("bound_nelbo_without_rec", BOUND, "nelbo leaves rec out (nelbo = kl); nelbo = kl + rec."),
    Mistake("bound_kl_detached", BOUND,
            "kl is detached (.detach(), .item() or torch.no_grad()), so the KL does not train the encoder."),
    Mistake("bound_z_detached", BOUND,
            "the gradient does not reach the encoder through z: z is detached (.detach(), .data or torch.no_grad())."),
    Mistake("bound_returns_python_floats", BOUND,
            "the terms were returned as Python numbers (.item() or float()), which carry no gradient: return the "
            "tensors."),
    Mistake("bound_vector_terms", BOUND,
            "a term was returned per image instead of averaged over the batch: return batch means (.mean())."),
    Mistake("bound_hard_coded_batch_size", BOUND,
            "the batch size 100 is hard-coded (a sum divided by 100, or a shape or view of 100); use x.shape[0] or "
            ".mean()."),
    Mistake("bound_hard_coded_z_dim", BOUND,
            "the latent size 10 is hard-coded; use self.z_dim and the shapes of qm and qv."),
    Mistake("bound_state_between_calls", BOUND,
            "the bound keeps state between calls (a step counter, a KL weight or an annealing schedule on self): the "
            "negative ELBO is kl + rec on every call, with weight 1 from the first iteration to the last."),
]
MISTAKES: dict[str, Mistake] = {mistake.tag: mistake for mistake in _MISTAKES}


# -- messages ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnosis:
    """What a failed check says beyond expected and got: claimed mistakes (tags of MISTAKES), mistakes another check
    found that explain this failure, observations, guesses (most likely first) and the fix."""

    mistakes: tuple[str, ...] = ()
    inherited: tuple[tuple[str, str], ...] = ()  # (check number, tag)
    deferred: str = ""  # this check fails because of another's failure, whose cause is not named
    observed: str = ""
    guesses: tuple[str, ...] = ()  # texts: a MISTAKES text or plain words
    fix: str = ""

    def lines(self) -> list[str]:
        lines = [CLAIM_PREFIX + MISTAKES[tag].text for tag in dict.fromkeys(self.mistakes)]
        lines += [CLAIM_PREFIX + MISTAKES[tag].text + FOUND_BY.format(number=number)
                  for number, tag in dict.fromkeys(self.inherited) if tag not in self.mistakes]
        if self.deferred:
            lines.append(DEFERRED_PREFIX + self.deferred)
        if self.observed:
            lines.append(OBSERVED_PREFIX + self.observed)
        guesses = [guess for guess in dict.fromkeys(self.guesses) if guess]
        if guesses:
            lines.append(GUESSES_PREFIX + "; ".join(f"({k}) {guess}" for k, guess in enumerate(guesses, start=1)))
        if self.fix:
            lines.append(FIX_PREFIX + self.fix)
        return lines

    def adding(self, **changes: object) -> "Diagnosis":
        """This diagnosis with some parts replaced; ``observed`` is appended to, not replaced."""
        values = {**self.__dict__, **changes}
        if "observed" in changes and self.observed and changes["observed"]:
            values["observed"] = f"{self.observed}; {changes['observed']}"
        return Diagnosis(**values)


def guess_texts(tags: Iterable[str]) -> tuple[str, ...]:
    return tuple(MISTAKES[tag].text for tag in tags)


def fail(summary: str, expected: str, got: str, diagnosis: Diagnosis = Diagnosis()) -> WrongAnswer:
    """The wrong answer of a check, in the fixed layout above."""
    lines = [summary, f"Expected: {expected}", f"Got:      {got}", *diagnosis.lines()]
    return WrongAnswer("\n".join(lines))


def worst_difference(got: np.ndarray, expected: np.ndarray) -> str:
    """Where ``got`` is furthest from ``expected`` (same shape): an observation for a failed comparison."""
    got64, expected64 = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got64.shape != expected64.shape or got64.size == 0:
        return ""
    difference = np.where(np.isfinite(got64), np.abs(got64 - expected64), np.inf)
    index = np.unravel_index(int(np.argmax(difference)), difference.shape)
    gap = float(difference[index])
    where = f" at index {tuple(int(i) for i in index)}" if got64.ndim else ""
    return (f"largest difference {gap:.4g}{where}: got {float(got64[index]):.6g}, expected "
            f"{float(expected64[index]):.6g}" if np.isfinite(gap) else f"a value that is not finite{where}")


def require_close(got: np.ndarray, expected: np.ndarray, what: str, diagnosis: Diagnosis, rtol: float = 1e-4,
                  atol: float = 1e-4) -> None:
    if not np.allclose(np.asarray(got, np.float64), np.asarray(expected, np.float64), rtol=rtol, atol=atol):
        raise fail(f"{what} does not match the reference.", preview(expected), preview(got),
                   diagnosis.adding(observed=worst_difference(got, expected)))


def require_finite(values: np.ndarray, what: str, diagnosis: Diagnosis) -> None:
    if not np.all(np.isfinite(values)):
        raise fail(f"{what} contains NaN or infinity.", "finite values", preview(values), diagnosis)


# -- what came back ----------------------------------------------------------------------------------------------

PLAIN_TENSOR = "torch.Tensor"
NUMBER_TYPES = ("builtins.float", "builtins.int")


def returned_tensor(description: object, what: str, shape: tuple[int, ...] | None, dtype: str | None,
                    shape_diagnosis: Callable[[tuple[int, ...]], Diagnosis] | None = None,
                    number_tag: str = "", dtype_tag: str = "") -> np.ndarray:
    """The values of a returned tensor, after checking it is a plain tensor of the expected shape and dtype.

    ``shape_diagnosis(got_shape)`` explains a wrong shape; ``number_tag`` is the mistake a Python number shows,
    ``dtype_tag`` the one a wrong dtype shows (both claimed only on that evidence).
    """
    if not isinstance(description, dict) or not description.get("is_tensor"):
        got_type = description.get("type", "?") if isinstance(description, dict) else "?"
        claimed = (number_tag,) if number_tag and got_type in NUMBER_TYPES else ()
        raise fail(f"{what} did not return a tensor.", "a torch.Tensor", f"a value of type {got_type}",
                   Diagnosis(claimed, fix="return a tensor computed with torch operations (not a Python number from "
                                          ".item() or float(), a numpy array or a tuple)."))
    if description.get("type") != PLAIN_TENSOR:
        raise fail(f"{what} returned a tensor subclass.", "exactly torch.Tensor", str(description.get("type")),
                   Diagnosis(fix="return the result of torch operations, not an instance of your own Tensor subclass."))
    got_shape = tuple(description.get("shape", ()))
    if shape is not None and got_shape != shape:
        diagnosis = shape_diagnosis(got_shape) if shape_diagnosis else Diagnosis(
            guesses=("a sum or mean over the wrong dimension", "an unintended broadcast"))
        raise fail(f"{what} returned a tensor of the wrong shape.", f"shape {shape}", f"shape {got_shape}", diagnosis)
    if dtype is not None and description.get("dtype") != dtype:
        raise fail(f"{what} returned the wrong dtype.", dtype, str(description.get("dtype")),
                   Diagnosis((dtype_tag,) if dtype_tag else (),
                             fix="create new tensors like the inputs (e.g. torch.randn_like), with no fixed dtype."))
    values = description.get("value")
    if not isinstance(values, np.ndarray) or tuple(values.shape) != got_shape:
        raise fail(f"{what}: the returned values could not be read.", "a tensor", repr(values)[:100])
    return values


# -- one explanation per known variant (vae-iwae's bound checks use this simpler form) -------------------------------

Variant = tuple[str, np.ndarray]  # (explanation, the value that mistake produces)
VARIANT_RTOL, VARIANT_ATOL = 1e-3, 1e-4  # as vae-iwae's checks were written against


def likely_mistake(got: np.ndarray, variants: list[Variant], fallback: str, rtol: float = VARIANT_RTOL,
                   atol: float = VARIANT_ATOL) -> str:
    """The explanation of the first variant whose value ``got`` matches, else ``fallback``."""
    for explanation, value in variants:
        if _close(got, value, rtol, atol):
            return explanation
    return fallback


# -- hypotheses: the mistakes, alone and combined, and what they compute -------------------------------------------

Hypothesis = tuple[frozenset[str], np.ndarray]  # (the mistakes, the value they compute on the check's inputs)
RIGHT: frozenset[str] = frozenset()


def _close(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    return got.shape == expected.shape and bool(np.all(np.isfinite(expected))) and bool(
        np.allclose(got, expected, rtol=rtol, atol=atol))


@dataclass(frozen=True)
class Explanation:
    """The hypotheses a value matches, the smallest only (a mistake that changes nothing on these inputs is no cause):
    the mistakes all of them share are certain, the others possible."""

    matches: tuple[frozenset[str], ...] = ()

    @property
    def certain(self) -> frozenset[str]:
        return frozenset.intersection(*self.matches) if self.matches else frozenset()

    @property
    def found(self) -> bool:
        return bool(self.certain)

    def possible(self) -> tuple[str, ...]:
        """The mistakes some matching hypotheses contain and others do not, in the smallest hypotheses first."""
        certain = self.certain
        ordered = sorted(self.matches, key=len)
        return tuple(dict.fromkeys(tag for found in ordered for tag in sorted(found) if tag not in certain))

    def diagnosis(self, fix: str = "") -> Diagnosis:
        return Diagnosis(tuple(sorted(self.certain)), guesses=guess_texts(self.possible()), fix=fix)


def explain(got: np.ndarray, hypotheses: Sequence[Hypothesis], rtol: float = MATCH_RTOL,
            atol: float = MATCH_ATOL) -> Explanation:
    """The smallest hypotheses ``got`` matches. A right answer among them (within these tolerances) leaves nothing
    certain."""
    matches = list(dict.fromkeys(found for found, value in hypotheses if _close(got, value, rtol, atol)))
    return Explanation(tuple(found for found in matches if not any(other < found for other in matches)))


def combine(*dimensions: Sequence[tuple[frozenset[str], object]]) -> list[tuple[frozenset[str], tuple]]:
    """Every combination of one choice per dimension: (the union of their mistakes, the tuple of their values)."""
    combos: list[tuple[frozenset[str], tuple]] = [(RIGHT, ())]
    for dimension in dimensions:
        combos = [(tags | more, (*values, value)) for tags, values in combos for more, value in dimension]
    return combos


def tags(*names: str) -> frozenset[str]:
    unknown = [name for name in names if name not in MISTAKES]
    if unknown:
        raise KeyError(f"not in MISTAKES: {unknown}")
    return frozenset(names)


# -- kl_normal: the closed form, term by term ------------------------------------------------------------------


def kl_hypotheses(qm: np.ndarray, qv: np.ndarray, pm: np.ndarray, pv: np.ndarray) -> list[Hypothesis]:
    """What kl_normal returns with each known mistake and each combination of mistakes in different terms of
    0.5 * (log pv - log qv + qv / pv + (qm - pm)^2 / pv - 1), summed over the last dimension (float64)."""
    qm, qv, pm, pv = (np.asarray(a, np.float64) for a in (qm, qv, pm, pv))
    qm, qv, pm, pv = np.broadcast_arrays(qm, qv, pm, pv)
    log_terms = [
        (RIGHT, np.log(pv) - np.log(qv)),
        (tags("kl_log_ratio_inverted"), np.log(qv) - np.log(pv)),
        (tags("kl_log_std"), 0.5 * (np.log(pv) - np.log(qv))),
        *[(tags("kl_log_constant"), np.log(pv + c) - np.log(qv + c)) for c in LOG_CONSTANTS],
    ]
    ratio_terms = [(RIGHT, qv / pv), (tags("kl_variance_ratio_inverted"), pv / qv)]
    mean_terms = [
        (RIGHT, (qm - pm) ** 2 / pv),
        (tags("kl_mean_term_not_scaled"), (qm - pm) ** 2),
        (tags("kl_mean_difference_not_squared"), (qm - pm) / pv),
    ]
    constants = [(RIGHT, -1.0), (tags("kl_missing_minus_one"), 0.0)]
    forms = [(found, sum(parts)) for found, parts in combine(log_terms, ratio_terms, mean_terms, constants)]
    forms += [
        (tags("kl_reversed"), np.log(qv) - np.log(pv) + pv / qv + (qm - pm) ** 2 / qv - 1),
        (tags("kl_standard_normal_only"), -np.log(qv) + qv + qm**2 - 1),
        (tags("kl_variances_as_std"), np.log(pv**2) - np.log(qv**2) + qv**2 / pv**2 + (qm - pm) ** 2 / pv**2 - 1),
    ]
    factors = [(RIGHT, 0.5), (tags("kl_missing_half"), 1.0)]
    reductions: list[tuple[frozenset[str], Callable[[np.ndarray], np.ndarray]]] = [
        (RIGHT, lambda a: a.sum(-1)), (tags("kl_mean_over_latent"), lambda a: a.mean(-1))]
    signs = [(RIGHT, 1.0), (tags("kl_sign_flipped"), -1.0)]
    return [(found, sign * reduce(factor * form))
            for found, (form, factor, reduce, sign) in combine(forms, factors, reductions, signs)]


def kl_shape_diagnosis(input_shape: tuple[int, ...]) -> Callable[[tuple[int, ...]], Diagnosis]:
    """Explains the shape kl_normal returned for inputs of ``input_shape`` from the dimensions it reduced."""

    def diagnose(got: tuple[int, ...]) -> Diagnosis:
        fix = "sum over the last dimension only: .sum(-1) (or dim=-1), one KL per row."
        if got == ():
            return Diagnosis(("kl_summed_over_everything",), fix=fix)
        kept = [input_shape[:axis] + input_shape[axis + 1:] for axis in range(len(input_shape) - 1)]
        if got in kept:
            return Diagnosis(("kl_sum_over_wrong_dim",), fix=fix)
        if got == input_shape:
            return Diagnosis(observed="nothing was summed", fix=fix)
        return Diagnosis(guesses=("a sum or mean over the wrong dimension", "an unintended broadcast"), fix=fix)

    return diagnose


# -- sample_gaussian: the sample's moments -------------------------------------------------------------------------


def moment_hypotheses(m: np.ndarray, v: np.ndarray) -> list[tuple[frozenset[str], np.ndarray, np.ndarray]]:
    """(mistakes, means, variances) per column of z = m + scale * noise for the known wrong scales and noises."""
    scales = [
        (RIGHT, np.sqrt(v)),
        (tags("sg_variance_as_std"), v),
        (tags("sg_variance_as_log_variance"), np.exp(0.5 * v)),
        (tags("sg_variance_ignored"), np.ones_like(v)),
        (tags("sg_root_taken_twice"), v**0.25),
    ]
    noises = [(RIGHT, (0.0, 1.0)), (tags("sg_uniform_noise"), (0.5, 1.0 / 12.0))]  # (mean, variance) of the noise
    return [(found, m + scale * noise_mean, scale**2 * noise_variance)
            for found, (scale, (noise_mean, noise_variance)) in combine(scales, noises)]


def moments_explanation(means: np.ndarray, variances: np.ndarray, m: np.ndarray, v: np.ndarray,
                        mean_tolerance: np.ndarray) -> Explanation:
    """The hypotheses whose means lie within ``mean_tolerance`` and whose variances within 10 % of the sample's."""
    matches = [found for found, expected_means, expected_variances in moment_hypotheses(m, v)
               if np.all(np.abs(means - expected_means) <= np.maximum(mean_tolerance, 0.02 * np.abs(expected_means)))
               and np.allclose(variances, expected_variances, rtol=0.1, atol=1e-3)]
    return Explanation(tuple(found for found in matches if not any(other < found for other in matches)))


# -- reading a message back (the tests, the hint-precision report) -----------------------------------------------


@dataclass(frozen=True)
class Hints:
    """The hints of a failed check's message: the mistakes it claims, those it guesses, and any claim line that
    names no known mistake."""

    claimed: frozenset[str]
    guessed: frozenset[str]
    unnamed: tuple[str, ...]
    claim_lines: tuple[frozenset[str], ...]  # the mistakes each "Likely mistake" line names


def read_hints(output: str) -> Hints:
    by_length = sorted(MISTAKES.values(), key=lambda mistake: -len(mistake.text))
    claimed: set[str] = set()
    guessed: set[str] = set()
    unnamed: list[str] = []
    lines: list[frozenset[str]] = []
    for line in output.splitlines():
        if line.startswith(CLAIM_PREFIX):
            named = frozenset(mistake.tag for mistake in by_length if mistake.text in line)
            lines.append(named)
            claimed |= named
            if not named:
                unnamed.append(line)
        elif line.startswith(GUESSES_PREFIX):
            guessed |= {mistake.tag for mistake in by_length if mistake.text in line}
    return Hints(frozenset(claimed), frozenset(guessed), tuple(unnamed), tuple(lines))

