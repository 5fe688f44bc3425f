"""Checks of CVAE.negative_elbo_bound(x, y): (nelbo, kl, rec), batch means, one reparameterized sample, each image
conditioned on its own label.

The worker runs the student's bound with the grader's weights, images, labels and noise (seeded before each call:
grader/homeworks/cvae/worker_ops.py), three times on one model: with the images' labels, with another label for
every image, and with the images' labels again. Each is compared with the reference computed here on the same inputs
(grader/homeworks/cvae/bound.py): values, gradients, the change the labels make, and the absence of state between
calls. A failed comparison names the mistake whose value matches what came back, when one does.
"""

from dataclasses import dataclass

import numpy as np
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.feedback import hint_on_error, preview, worst_difference
from grader.grading.session import GradingSession
from grader.homeworks.cvae.bound import GRAD_TOLERANCE, LABEL_MISTAKES, TERM_TOLERANCE, BoundCase, bound_case
from grader.homeworks.vae.diagnose import Diagnosis, fail, likely_mistake, returned_tensor

SEED_LABEL = "negative_elbo_bound"
Z_DIM, BATCH = 10, 100
SMALL_BATCH, SMALL_Z_DIM = 7, 4
MISSING_LABEL = 9  # the small case has no image of this label: F.one_hot(y) without num_classes gives 9 columns
TERM_NAMES = ("nelbo", "kl", "rec")
LABEL_FIX = ("y_one_hot = F.one_hot(y, NUM_CLASSES).float(), row b for image b, given to both networks: "
             "self.enc(x, y_one_hot) and self.dec(z, y_one_hot).")
KL_FIX = "qm, qv = self.enc(x, y_one_hot); kl = ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v).mean()."
REC_FIX = ("z = ut.sample_gaussian(qm, qv); rec = -ut.log_bernoulli_with_logits(x, self.dec(z, y_one_hot)).mean(), "
           "with the decoder's logits as they are.")
FIX = f"{LABEL_FIX} Then {KL_FIX} Then {REC_FIX} nelbo = kl + rec."
FIXES = {1: KL_FIX, 2: REC_FIX}


@dataclass(frozen=True)
class Answer:
    """The student's three calls on one model: terms on (x, y), on (x, other_y), on (x, y) again."""

    case: BoundCase
    first: np.ndarray  # (3,) nelbo, kl, rec
    other: np.ndarray | None
    again: np.ndarray | None
    grads: dict[str, np.ndarray] | None


def close(got: np.ndarray, expected: np.ndarray, tolerance: dict[str, float] = TERM_TOLERANCE) -> bool:
    return bool(np.all(np.isfinite(got))) and np.allclose(got, expected, **tolerance)


def read_terms(returned: object, what: str, batch: int) -> np.ndarray:
    """Three scalars (nelbo, kl, rec) from what a call returned."""
    if not isinstance(returned, list) or len(returned) != 3:
        raise fail(f"{what} must return three values.", "a tuple (nelbo, kl, rec)",
                   "something else" if not isinstance(returned, list) else f"{len(returned)} values",
                   Diagnosis(fix="return nelbo, kl, rec (in that order)."))
    values = []
    for name, term in zip(TERM_NAMES, returned, strict=True):
        if isinstance(term, dict) and term.get("is_tensor") and term.get("shape") == [1]:
            term = {**term, "shape": [], "value": term["value"].reshape(())}
        value = returned_tensor(
            term, f"the {name} returned by {what}", (), None,
            shape_diagnosis=lambda shape: Diagnosis(observed=f"a term of shape {shape}", fix=(
                f"each term is averaged over the batch of {batch}: a 0-dimensional tensor (.mean())."))
        )
        values.append(float(value))
    return np.array(values)


def ask(grading: GradingSession, case: BoundCase) -> Answer:
    result = grading.unit("negative_elbo_bound", z_dim=case.z_dim, weights=case.weights, x=case.x,
                          labels_per_call=[case.y, case.other_y, case.y], noise_seed=case.noise_seed)
    missing = result.get("missing_weights")
    if missing:
        raise fail("The CVAE does not have the provided networks.", "self.enc and self.dec from nns.py, built in "
                   "the provided __init__", f"model parameters the grader's weights do not fill: {missing[:4]}",
                   Diagnosis(fix="keep the provided __init__ as it is: the grader loads its weights into your model."))
    what = "negative_elbo_bound(x, y)"
    first = read_terms(result.get("terms") if "terms" in result else [result.get("returned")], what, case.batch)
    repeated = result.get("repeated_terms", [])
    other = read_terms(repeated[0], what, case.batch) if len(repeated) > 0 else None
    again = read_terms(repeated[1], what, case.batch) if len(repeated) > 1 else None
    return Answer(case, first, other, again, result.get("grads"))


def main_answer(grading: GradingSession) -> Answer:
    def read() -> Answer:
        return ask(grading, bound_case(grading.homework, Z_DIM, BATCH, grading.check_seed(SEED_LABEL)))

    return grading.memo("negative_elbo_bound: main case", read)


def require_finite(found: Answer) -> None:
    if not np.all(np.isfinite(found.first)):
        raise fail("negative_elbo_bound returned NaN or infinity.", "finite nelbo, kl and rec",
                   f"nelbo, kl, rec = {preview(found.first)}",
                   Diagnosis(guesses=("a log of zero or of a negative number (probabilities instead of the logits "
                                      "given to ut.log_bernoulli_with_logits)", "the prior's mean and variance swapped "
                                      "(a variance of 0)"), fix=FIX))


def compare_term(found: Answer, index: int) -> None:
    case, name = found.case, TERM_NAMES[index]
    require_finite(found)
    expected = case.right.as_array()[index]
    got = found.first[index]
    if close(np.asarray(got), np.asarray(expected)):
        return
    mistake = likely_mistake(np.asarray(got), case.term_variants(index), "", **TERM_TOLERANCE)
    if not mistake and np.isclose(got, case.right.as_array()[3 - index], **TERM_TOLERANCE):
        mistake = "kl and rec are swapped in the returned tuple; return (nelbo, kl, rec)"
    raise fail(f"{name} does not match the reference on the grader's batch of {case.batch} images and labels.",
               f"{expected:.4f}", f"{got:.4f}",
               Diagnosis(observed=worst_difference(np.asarray(got), np.asarray(expected)),
                         guesses=(mistake,) if mistake else (), fix=FIXES[index]))


@number("1.1")
def test_three_scalars(grading: GradingSession) -> None:
    """negative_elbo_bound: returns three scalars with nelbo = kl + rec"""
    found = main_answer(grading)
    require_finite(found)
    nelbo, kl, rec = found.first
    if not np.isclose(nelbo, kl + rec, rtol=1e-5, atol=1e-4):
        raise fail("nelbo is not kl + rec.", f"nelbo = kl + rec = {kl + rec:.4f}", f"nelbo {nelbo:.4f}",
                   Diagnosis(guesses=("nelbo computed from other terms than the kl and rec returned",
                                      "a weight on one of the terms (the bound weighs both by 1)"),
                             fix="nelbo = kl + rec, with the kl and rec you return."))
    case = found.case
    if not (close(np.asarray(kl), np.asarray(case.right.kl)) or close(np.asarray(rec), np.asarray(case.right.rec))):
        raise fail("nelbo = kl + rec holds, but neither kl nor rec matches the reference (see checks 1.2 and 1.3).",
                   "kl or rec computed from the batch, and nelbo = kl + rec", "both terms differ from the reference",
                   Diagnosis(deferred="this property earns its points only for a bound that computes at least one "
                                      "of its terms; fix kl or rec first."))


@number("1.2")
def test_kl(grading: GradingSession) -> None:
    """negative_elbo_bound: kl is the batch mean of KL(q(z | x, y) || p(z))"""
    compare_term(main_answer(grading), 1)


@number("1.3")
def test_rec(grading: GradingSession) -> None:
    """negative_elbo_bound: rec is the batch mean of -log p(x | z, y) for one z ~ q(z | x, y)"""
    compare_term(main_answer(grading), 2)


@number("1.4")
def test_gradients(grading: GradingSession) -> None:
    """negative_elbo_bound: gradients of nelbo reach every weight of both networks, as the reference's"""
    found = main_answer(grading)
    case = found.case
    if found.grads is None:
        raise fail("nelbo has no gradient.", "a scalar nelbo that requires grad (backpropagation trains the model)",
                   "a value detached from the networks' weights",
                   Diagnosis(guesses=("a computation under torch.no_grad(), .detach() or .item()",), fix=FIX))
    for name, expected in case.grads.items():
        got = found.grads.get(name)
        if got is None or got.shape != expected.shape:
            raise fail(f"nelbo's gradient does not reach {name}.", f"a gradient of shape {expected.shape}",
                       "no gradient", Diagnosis(guesses=(
                           "a network skipped, or its output detached", "the label's one-hot built with requires_grad "
                           "cut from the graph is fine, but the networks' outputs must not be detached"), fix=FIX))
        if not np.allclose(got, expected, **GRAD_TOLERANCE):
            variant = next((text for text, grads in case.grad_variants if np.allclose(got, grads[name],
                                                                                        **GRAD_TOLERANCE)), "")
            term_right = close(found.first, case.right.as_array())
            guesses = (variant,) if variant else () if term_right else (
                "the value of the bound is wrong too (see checks 1.1 to 1.3): fix it first",)
            raise fail(f"nelbo's gradient with respect to {name} does not match the reference.",
                       preview(expected), preview(got),
                       Diagnosis(observed=worst_difference(got, expected), guesses=guesses, fix=FIX))


def explained_by(found: Answer, on_both: bool) -> list[str]:
    """The named mistakes whose values match the first call (and, with ``on_both``, the call with other labels)."""
    case = found.case
    matches = []
    for (text, own), (_, other) in zip(case.variants, case.variants_other, strict=True):
        if close(found.first, own.as_array()) and (not on_both or (found.other is not None
                                                                   and close(found.other, other.as_array()))):
            matches.append(text)
    return matches


@number("1.5")
def test_each_image_gets_its_own_label(grading: GradingSession) -> None:
    """negative_elbo_bound: uses each image's own label, in the encoder and in the decoder"""
    found = main_answer(grading)
    case = found.case
    if found.other is None:
        raise fail("The bound was not called with other labels.", "three values", "no answer")
    if close(found.first[2:], case.right.as_array()[2:]) and close(found.other[2:], case.right_other.as_array()[2:]):
        return  # rec depends on both networks' labels (the encoder's through z): right with both label sets
    if np.allclose(found.other, found.first, rtol=1e-6, atol=1e-6):
        raise fail("The bound does not change when every image is given another label: it ignores y.",
                   f"(nelbo, kl, rec) = {preview(case.right_other.as_array())} with the other labels, against "
                   f"{preview(case.right.as_array())} with the images' own",
                   f"{preview(found.other)}, the same as with the images' own labels",
                   Diagnosis(guesses=("neither network is given the label's one-hot vector",), fix=LABEL_FIX))
    on_both = explained_by(found, on_both=True)
    named = [text for text in on_both if text in LABEL_MISTAKES] or [
        text for text in explained_by(found, on_both=False) if text in LABEL_MISTAKES]
    if named:
        raise fail("The bound does not condition each image on its own label.",
                   f"(nelbo, kl, rec) = {preview(case.right.as_array())} with the images' labels and "
                   f"{preview(case.right_other.as_array())} with other labels",
                   f"{preview(found.first)} and {preview(found.other)}", Diagnosis(guesses=tuple(named[:1]),
                                                                                    fix=LABEL_FIX))
    if on_both:
        return  # another check's mistake (a reduction, a sign) explains both calls: each image gets its own label
    raise fail("With the images' labels or with other labels, rec differs from the reference's, so the grader cannot "
               "confirm that each image is conditioned on its own label.",
               f"rec = {case.right.rec:.4f} with the images' labels and {case.right_other.rec:.4f} with other labels",
               f"{found.first[2]:.4f} and {found.other[2]:.4f}",
               Diagnosis(guesses=("the labels out of line with the images (shuffled or reordered): row b of the "
                                  "one-hot vector must be y[b]", "a mistake in rec itself (see check 1.3)"),
                         fix=LABEL_FIX))


@number("1.6")
def test_other_sizes_and_no_state(grading: GradingSession) -> None:
    """negative_elbo_bound: other batch sizes, z_dim and label sets; the same call twice gives the same terms"""
    found = main_answer(grading)
    if found.again is not None and not np.allclose(found.again, found.first, rtol=1e-6, atol=1e-6):
        raise fail("The same call on the same model gave different terms the second time.",
                   f"{preview(found.first)} again (the noise is the same for both calls)", preview(found.again),
                   Diagnosis(guesses=("the bound keeps state between calls (a counter, a KL weight or a schedule on "
                                      "self)",), fix="compute every term afresh from x and y on each call."))
    case = bound_case(grading.homework, SMALL_Z_DIM, SMALL_BATCH, grading.check_seed(SEED_LABEL + " small"),
                      MISSING_LABEL)
    def ask_small() -> Answer:
        with hint_on_error(f"the batch has {SMALL_BATCH} images, z_dim is {SMALL_Z_DIM} and no image is labelled "
                           f"{MISSING_LABEL}: a size written as a number, or F.one_hot(y) without num_classes (its "
                           f"width is then max(y) + 1); use F.one_hot(y, NUM_CLASSES)"):
            return ask(grading, case)

    small = grading.memo("negative_elbo_bound: small case", ask_small)
    if not close(small.first, case.right.as_array()):
        main_right = close(found.first, found.case.right.as_array())
        raise fail(f"On a batch of {SMALL_BATCH} images (z_dim {SMALL_Z_DIM}, no image labelled {MISSING_LABEL}) the "
                   "bound differs from the reference.", preview(case.right.as_array()), preview(small.first),
                   Diagnosis(guesses=(
                       "a size written as a number (100, 10, 784): take sizes from the tensors",
                       f"F.one_hot(y) without num_classes: its width is max(y) + 1, so a batch without a "
                       f"{MISSING_LABEL} gets too few columns; use F.one_hot(y, NUM_CLASSES)"), fix=FIX) if main_right
                   else Diagnosis(deferred="the bound differs from the reference on the main batch too: fix what "
                                           "checks 1.1 to 1.5 say first."))
