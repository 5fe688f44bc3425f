"""Checks of VAE.negative_elbo_bound(x): (nelbo, kl, rec), batch means, one reparameterized sample.

The worker runs the student's bound with the grader's weights and batch, and with the other student functions
replaced by the reference's (grader/homeworks/vae/worker_ops.py, ``isolated``): utils.kl_normal is the closed
form, utils.sample_gaussian is m + sqrt(v) * eps for a fixed eps, and torch's generator is seeded so that noise
drawn inline (torch.randn_like(qm)) is that same eps. The bound's points depend on the bound alone, and it is
compared with the reference computed here on the same weights, batch and eps: values and gradients, whether the
student called the helpers or wrote their formulas inline.

The case (grader/homeworks/vae/bound.py) spans what training reaches, so that a loss equal to the right one only on
small values (a clipped KL, clamped logits, a floor on the KL) differs from it here. The main case's answer is read
once (``analysis``) for checks 3.1 to 3.6: a check whose failure follows from a mistake another check names says so.
"""

import numpy as np
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.feedback import preview
from grader.grading.session import GradingSession
from grader.grading.worker_client import StudentError
from grader.homeworks.vae.bound import (
    GRAD_TOLERANCE,
    KL_TOLERANCE,
    MATCH,
    REC_TOLERANCE,
    TRAINING_BATCH,
    TRAINING_Z_DIM,
    Analysis,
    BoundCase,
    analyse,
    bound_case,
    term_diagnosis,
)
from grader.homeworks.vae.diagnose import (
    Diagnosis,
    explain,
    fail,
    require_close,
    require_finite,
    returned_tensor,
    worst_difference,
)

SEED_LABEL = "negative_elbo_bound"  # inputs from grading.check_seed(SEED_LABEL): grader/check_inputs.py
REPEATED_CALLS = 3  # the main case calls the bound this many times on the same model (check 3.6)
OTHER_SIZES = ((37, TRAINING_Z_DIM, "batch"), (TRAINING_BATCH, 4, "z_dim"))  # (batch, z_dim, what differs)
KL_FIX = "kl = ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v).mean(): the analytic KL, averaged over the batch."
REC_FIX = ("z = ut.sample_gaussian(qm, qv); rec = -ut.log_bernoulli_with_logits(x, self.dec(z)).mean(), with the "
           "decoder's logits as they are.")
NELBO_FIX = "nelbo = kl + rec, with the kl and rec you return."


def main_case(grading: GradingSession) -> BoundCase:
    """The case most checks share: z_dim 10, a batch of 100, this grading's weights, images and noise."""
    return bound_case(grading.homework, TRAINING_Z_DIM, TRAINING_BATCH, grading.check_seed(SEED_LABEL))


def term_shape_diagnosis(batch: int) -> object:
    def diagnose(shape: tuple[int, ...]) -> Diagnosis:
        if shape == (batch,):
            return Diagnosis(("bound_vector_terms",))
        return Diagnosis(observed=f"a term of shape {shape}", fix="each term is averaged over the batch: a "
                                                                 "0-dimensional tensor (.mean()).")
    return diagnose


def run_bound(grading: GradingSession, case: BoundCase, repeats: int = 1) -> tuple[dict, list[np.ndarray]]:
    """The student's (nelbo, kl, rec) on the case, checked to be three finite numeric scalars.

    ``repeats`` > 1 calls the bound that many times on the same model (``result["repeated_terms"]``).
    """
    result = grading.unit("negative_elbo_bound", z_dim=case.z_dim, weights=case.weights, x=case.x,
                          epsilon=case.epsilon, noise_seed=case.noise_seed, repeats=repeats)
    missing = result.get("missing_weights")
    if missing and all(name.startswith("z_prior") for name in missing):
        raise fail("The VAE's prior is part of its weights.", "the fixed prior buffers of the provided __init__",
                   f"weights {missing} the grader's model does not have", Diagnosis(("bound_trainable_prior",)))
    if missing:
        raise fail("The VAE does not have the provided networks.", "self.enc and self.dec from nns.py",
                   f"model parameters the grader's weights do not fill: {missing[:4]}",
                   Diagnosis(("bound_vae_changed",)))
    returned = result.get("returned", {})
    terms = result.get("terms")
    if terms is None:
        raise fail("negative_elbo_bound must return three values.", "a tuple (nelbo, kl, rec)",
                   f"a {returned.get('type', '?')}" + (f" of length {returned['length']}" if "length" in returned
                                                       else ""), Diagnosis(fix="return nelbo, kl, rec (in that "
                                                                                   "order)."))
    values = []
    for name, term in zip(("nelbo", "kl", "rec"), terms, strict=True):
        if isinstance(term, dict) and term.get("is_tensor") and term.get("shape") == [1]:
            term = {**term, "shape": [], "value": term["value"].reshape(())}
        value = returned_tensor(term, f"the {name} returned by negative_elbo_bound", (), None,
                                shape_diagnosis=term_shape_diagnosis(case.batch),
                                number_tag="bound_returns_python_floats")
        values.append(value.astype(np.float64))
    nelbo, kl, rec = values
    require_finite(kl, "kl", Diagnosis(guesses=(
        "the prior's mean and variance swapped (a variance of 0): the prior is (self.z_prior_m, self.z_prior_v)",
        "a log of zero or of a negative variance"), fix=KL_FIX))
    require_finite(rec, "rec", Diagnosis(guesses=("a log of zero or of a negative number (probabilities instead of "
                                                  "log_bernoulli_with_logits on the logits)",), fix=REC_FIX))
    require_finite(nelbo, "nelbo", Diagnosis(fix=NELBO_FIX))
    return result, values


def analysis(grading: GradingSession) -> Analysis:
    """The main case's answer (REPEATED_CALLS calls), read once per grading; its failures are every check's."""

    def read() -> Analysis:
        case = main_case(grading)
        result, values = run_bound(grading, case, repeats=REPEATED_CALLS)
        return analyse(case, result, values)

    return grading.memo("negative_elbo_bound: main case", read)


def require_a_computed_term(found: Analysis, property_name: str) -> None:
    """A property of the returned numbers (their sum, their repeatability) is credited only for a bound that
    computes at least one of its terms: constants would have the property too."""
    if found.kl.right or found.rec.right:
        return
    raise fail(f"{property_name} holds, but neither kl nor rec matches the reference on this batch (see checks 3.2 "
               "and 3.3).", "kl or rec computed from the batch, and the property", "both terms differ from the "
               "reference", Diagnosis(inherited=found.inherited("kl", "rec"), deferred=(
                   "this property earns its points only for a bound that computes at least one of its terms; fix "
                   "kl or rec first (checks 3.2 and 3.3).")))


@number("3.1")
def test_three_scalars(grading: GradingSession) -> None:
    """negative_elbo_bound: returns three scalars with nelbo = kl + rec"""
    found = analysis(grading)
    kl, rec, nelbo = found.kl.value, found.rec.value, found.nelbo_value
    if not found.nelbo.identity:
        reading = found.nelbo
        if reading.hidden and not reading.mistakes:
            # nelbo was computed from a right term, and another value was returned: the returned term is wrong
            computed = "right: the reference's kl + rec" if reading.right else (
                f"the returned {reading.used[0]} plus the reference's {reading.hidden[0]}")
            returned = " and ".join(reading.hidden)
            diagnosis = Diagnosis(inherited=found.inherited(*reading.hidden), observed=(
                f"nelbo = {nelbo:.6g} is {computed}; the returned {returned} "
                f"{'differ' if len(reading.hidden) > 1 else 'differs'} from what nelbo was computed from"),
                fix=NELBO_FIX)
        elif reading.mistakes:
            weight = "" if reading.weight is None else f"the KL has weight {reading.weight:.4g} in nelbo"
            diagnosis = Diagnosis(reading.mistakes, observed=weight, fix=NELBO_FIX)
        else:
            diagnosis = Diagnosis(observed=f"nelbo - (kl + rec) = {nelbo - kl - rec:.6g}", guesses=(
                "a weight other than 1 on the KL or on rec (a beta, KL annealing or warm-up)",
                "nelbo computed from other values than the kl and rec returned",
                "an extra term in nelbo"), fix=NELBO_FIX)
        raise fail("nelbo is not kl + rec.", f"{kl + rec:.4f} (kl + rec)", f"{nelbo:.4f}", diagnosis)
    require_a_computed_term(found, "nelbo = kl + rec")


def kl_guesses(value: float, expected: float) -> tuple[str, ...]:
    """Candidates for a kl that matches no known mistake, most likely first, from how it compares with the KL."""
    other_way = "the KL computed another way than ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v)"
    if value < 0:
        return ("a sign error in the KL", "log p(z) or log q(z|x) left out of a Monte Carlo estimate", other_way)
    if value < expected:
        return ("a cap on the per-image KL (clamp(max=...))", "a weight below 1 on the KL", other_way)
    return ("a floor on the KL (free bits, clamp(min=...))", "a weight above 1 on the KL", other_way)


@number("3.2")
def test_kl_term(grading: GradingSession) -> None:
    """negative_elbo_bound: kl matches the reference (analytic, batch mean)"""
    found = analysis(grading)
    if found.kl.right:
        return
    diagnosis = term_diagnosis(found, "kl", KL_FIX)
    if not diagnosis.mistakes and not diagnosis.guesses:
        diagnosis = diagnosis.adding(guesses=kl_guesses(found.kl.value, found.kl.expected))
    require_close(np.asarray(found.kl.value), np.asarray(found.kl.expected), "kl", diagnosis, **KL_TOLERANCE)


def rec_guesses(found: Analysis) -> tuple[str, tuple[str, ...]]:
    """What was observed of a rec that matches no known mistake, and the candidates, most likely first."""
    grads = found.result.get("grads")
    decoder_silent = isinstance(grads, dict) and grads and not any(
        name.startswith("dec.") and np.any(grad != 0) for name, grad in grads.items())
    if decoder_silent and "bound_nelbo_without_rec" not in found.nelbo.mistakes:
        return ("nelbo's gradient does not reach the decoder's weights", (
            "a Bernoulli sample of the decoder (torch.bernoulli, self.sample_x_given) or rounded probabilities used "
            "instead of its logits", "the logits detached"))
    if not found.result.get("sample_gaussian_calls"):
        return ("ut.sample_gaussian was not called: z was drawn another way", (
            "noise drawn otherwise than torch.randn_like(qm) (numpy, another shape, another random draw first)",
            "z computed otherwise than qm + sqrt(qv) * eps"))
    return ("", ("z drawn otherwise than ut.sample_gaussian(qm, qv)",
                 "the logits changed before log_bernoulli_with_logits (a scale, a clamp, a sigmoid)",
                 "the pixels reduced otherwise than a sum over the 784 pixels and a mean over the batch"))


@number("3.3")
def test_rec_term(grading: GradingSession) -> None:
    """negative_elbo_bound: rec matches the reference (one sample via sample_gaussian, pixels summed)"""
    found = analysis(grading)
    if found.rec.right:
        return
    diagnosis = term_diagnosis(found, "rec", REC_FIX)
    if not diagnosis.mistakes and not diagnosis.guesses:
        observed, guesses = rec_guesses(found)
        diagnosis = diagnosis.adding(observed=observed, guesses=guesses)
    require_close(np.asarray(found.rec.value), np.asarray(found.rec.expected), "rec", diagnosis, **REC_TOLERANCE)


@number("3.4")
def test_gradients(grading: GradingSession) -> None:
    """negative_elbo_bound: gradients of nelbo match the reference, through z into the encoder"""
    found = analysis(grading)
    case, grads = found.case, found.result.get("grads")
    if not isinstance(grads, dict) or not grads:
        raise fail("nelbo has no gradient.", "nelbo connected to the encoder and decoder weights", "no gradients",
                   Diagnosis(guesses=(".item(), .detach() or numpy on nelbo", "nelbo built from Python numbers"),
                             fix="compute nelbo from torch operations on the encoder's and decoder's outputs."))
    extra = sorted(set(grads) - set(case.grads))
    if extra:
        raise fail("nelbo has gradients for parameters the VAE should not have.",
                   f"gradients for the encoder and decoder only ({len(case.grads)} tensors)", f"also for {extra[:4]}",
                   Diagnosis(("bound_trainable_prior",) if any("prior" in name for name in extra) else (),
                             fix="keep __init__ as provided: the prior is the fixed N(0, I) of its buffers."))

    def matches(expected: dict[str, np.ndarray]) -> bool:
        return all(grads.get(name) is not None and grads[name].shape == value.shape
                   and np.allclose(grads[name], value, **GRAD_TOLERANCE) for name, value in expected.items())

    if matches(case.grads):
        return
    if found.nelbo_right():
        named = [mistake for mistake, variant in case.grad_variants if matches(variant)]
        diagnosis = Diagnosis(tuple(named[:1]), fix="compute nelbo = kl + rec with nothing detached.") if named else (
            Diagnosis(observed="nelbo's value is right but its gradient differs", guesses=(
                "part of the computation detached (.detach(), .data, torch.no_grad())",
                "a loss that weights its terms differently from nelbo = kl + rec while returning the right value"),
                fix="compute nelbo = kl + rec with nothing detached."))
    else:
        own, inherited = found.nelbo_causes()
        diagnosis = Diagnosis(own, inherited, deferred="nelbo's value is wrong (see checks 3.1 to 3.3), so its "
                              "gradient is too; it follows once the value is right.")
    for name, expected in case.grads.items():
        got = grads.get(name)
        if got is None or got.shape != expected.shape or not np.allclose(got, expected, **GRAD_TOLERANCE):
            where = worst_difference(got, expected) if got is not None and got.shape == expected.shape else ""
            raise fail(f"The gradient of nelbo with respect to {name} differs from the reference.",
                       preview(expected), preview(got), diagnosis.adding(observed=where))


def size_diagnosis(found: Analysis, case: BoundCase, differs: str, kl: float, rec: float) -> Diagnosis:
    """Why the bound is wrong at another size than the main case's: a new mistake of that size, the main case's
    mistakes showing again, or a size hard-coded (only when the main case is right)."""
    hard_coded = "bound_hard_coded_batch_size" if differs == "batch" else "bound_hard_coded_z_dim"
    claims: list[str] = []
    inherited: list[tuple[str, str]] = []
    unexplained_after_wrong_main: list[str] = []
    for name, value, expected, tolerance in (("kl", kl, case.kl, KL_TOLERANCE), ("rec", rec, case.rec, REC_TOLERANCE)):
        if np.isclose(value, expected, **tolerance):
            continue
        hypotheses = case.kl_hypotheses if name == "kl" else case.rec_hypotheses
        here = explain(np.asarray(value), hypotheses, **MATCH).certain
        main = found.term(name)
        if main.right:
            claims += sorted(here) if here else [hard_coded]
            continue
        before = set(found.term_mistakes(name))
        inherited += [(main.check, mistake) for mistake in sorted(before)]
        if here:
            claims += sorted(here - before)
        elif not before:
            unexplained_after_wrong_main.append(main.check)
    deferred = ""
    if unexplained_after_wrong_main and not claims:
        checks = " and ".join(sorted(set(unexplained_after_wrong_main)))
        deferred = (f"the values at batch {TRAINING_BATCH} and z_dim {TRAINING_Z_DIM} are already wrong (check "
                    f"{checks}); this size cannot tell more until they are right.")
    elif inherited and not claims:
        deferred = (f"the mistakes found at batch {TRAINING_BATCH} show at this size too; nothing points to a "
                    "hard-coded size.")
    sizes_fix = "use x.shape[0] (or .mean()), self.z_dim and the shapes of qm and qv; no fixed sizes."
    return Diagnosis(tuple(dict.fromkeys(claims)), tuple(dict.fromkeys(inherited)), deferred,
                     fix=sizes_fix if claims else "")  # no size advice when nothing points to a size


@number("3.5")
def test_other_sizes(grading: GradingSession) -> None:
    """negative_elbo_bound: works for any batch size and z_dim"""
    found = analysis(grading)
    for offset, (batch, z_dim, differs) in enumerate(OTHER_SIZES, start=1):
        case = bound_case(grading.homework, z_dim, batch, grading.check_seed(SEED_LABEL) + offset)
        what = f"batch {batch} and z_dim {z_dim}"
        try:
            _, (_, kl, rec) = run_bound(grading, case)
        except StudentError as error:
            claim = "bound_hard_coded_batch_size" if differs == "batch" else "bound_hard_coded_z_dim"
            hint = "".join(f"\n{line}" for line in Diagnosis((claim,)).lines())  # the main case ran: sizes differ
            raise StudentError(f"{error.message}\n(this call had {what}; batch {TRAINING_BATCH} and z_dim "
                               f"{TRAINING_Z_DIM} ran){hint}", error.traceback) from None
        got, expected = np.array([kl, rec]), np.array([case.kl, case.rec])
        if not (np.isclose(kl, case.kl, **KL_TOLERANCE) and np.isclose(rec, case.rec, **REC_TOLERANCE)):
            raise fail(f"(kl, rec) for {what} does not match the reference.", preview(expected), preview(got),
                       size_diagnosis(found, case, differs, float(kl), float(rec)).adding(
                           observed=worst_difference(got, expected)))


@number("3.6")
def test_no_state_between_calls(grading: GradingSession) -> None:
    """negative_elbo_bound: the same batch gives the same bound on every call"""
    found = analysis(grading)
    repeated = found.result.get("repeated_terms")
    first = [found.nelbo_value, found.kl.value, found.rec.value]
    if not isinstance(repeated, list) or len(repeated) != REPEATED_CALLS - 1:
        raise fail("The repeated calls returned nothing to compare.", f"{REPEATED_CALLS - 1} more calls answered",
                   f"{0 if not isinstance(repeated, list) else len(repeated)} answered",
                   Diagnosis(guesses=("the VAE class or the worker's channel changed",)))
    for call, terms in enumerate(repeated, start=2):
        values = [returned_tensor(term, f"call {call} of negative_elbo_bound", None, None).astype(np.float64)
                  .reshape(-1)[:1] for term in terms]
        got = np.concatenate(values)
        if got.shape != (3,) or not np.allclose(got, first, rtol=1e-6, atol=0.0):
            diagnosis = Diagnosis(("bound_state_between_calls",)) if found.values_right() else Diagnosis(
                guesses=("the bound keeps state between calls (a step counter, a KL weight or an annealing schedule "
                         "on self)", "noise drawn outside torch's generator (numpy, Python's random)"),
                fix="nelbo = kl + rec on every call, from torch operations only.")
            raise fail(f"Call {call} on the same model and batch returned a different bound.",
                       f"(nelbo, kl, rec) = {np.round(first, 4).tolist()} on every call (the grader fixes the noise "
                       "of ut.sample_gaussian)", f"{np.round(got, 4).tolist()}", diagnosis)
    require_a_computed_term(found, "The same bound on every call")
