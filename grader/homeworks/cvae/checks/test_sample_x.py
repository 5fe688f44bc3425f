"""Checks of CVAE.sample_x(y): one binary image per requested label, row i drawn from p(x | y[i]).

The worker calls the student's sampler on the grader's weights (the reference CVAE after a few dozen training steps)
with shuffled labels, 200 per digit (grader/homeworks/cvae/worker_ops.py). Sampling is random, so the rows are not
compared one by one: the mean image of each label's samples is compared with the pixel probabilities a right sampler
draws from, computed here with the reference's networks (grader/homeworks/cvae/sampling.py).
"""

import numpy as np
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.feedback import hint_on_error
from grader.grading.session import GradingSession
from grader.homeworks.cvae.sampling import (
    MAX_MEAN_SQUARED_DEVIATION,
    PER_LABEL,
    SampleCase,
    mean_squared_deviation,
    pixel_means,
    sample_case,
)
from grader.homeworks.vae.diagnose import Diagnosis, fail, returned_tensor

SEED_LABEL = "sample_x"
Z_DIM = 10
FEW_LABELS = np.array([3, 3, 3, 3, 3], dtype=np.int64)  # one label only: F.one_hot(y) without num_classes is 4 wide
FIX = ("z = self.sample_z(y.shape[0]); y_one_hot = F.one_hot(y, NUM_CLASSES).float(); "
       "return torch.bernoulli(self.compute_sigmoid_given(z, y_one_hot)).")
BINARY_FIX = "draw each pixel: torch.bernoulli(probabilities), a float tensor of 0s and 1s."


def case_of(grading: GradingSession) -> SampleCase:
    return sample_case(grading.homework, Z_DIM, grading.check_seed(SEED_LABEL))


def samples(grading: GradingSession, labels: np.ndarray, key: str) -> np.ndarray:
    """The student's sample_x(labels) on the case's weights: checked to be (n, 784) float32 in {0, 1}."""
    case = case_of(grading)

    def ask() -> np.ndarray:
        with hint_on_error(f"sample_x was given {labels.shape[0]} labels (int64, shape ({labels.shape[0]},)); "
                           "the one-hot vector needs F.one_hot(y, NUM_CLASSES), and torch.bernoulli takes "
                           "probabilities, not logits"):
            result = grading.unit("sample_x", z_dim=case.z_dim, weights=case.weights, labels=labels, seed=case.seed)
        if result.get("missing_weights"):
            raise fail("The CVAE does not have the provided networks.", "self.enc and self.dec from nns.py",
                       f"model parameters the grader's weights do not fill: {result['missing_weights'][:4]}",
                       Diagnosis(fix="keep the provided __init__ as it is."))
        if not result.get("labels_unchanged", True):
            raise fail("sample_x changed the labels it was given.", "y left as it was", "y modified in place",
                       Diagnosis(fix="build new tensors from y (F.one_hot(y, ...)) instead of writing into it."))
        values = returned_tensor(result.get("returned"), "sample_x", (labels.shape[0], 784), "torch.float32",
                                 shape_diagnosis=lambda shape: Diagnosis(
                                     observed=f"shape {shape} for {labels.shape[0]} labels",
                                     fix="one row of 784 pixels per label: (len(y), 784)."))
        if not np.all(np.isfinite(values)):
            raise fail("sample_x returned NaN or infinity.", "0s and 1s", "values that are not finite",
                       Diagnosis(fix=FIX))
        if not np.all((values == 0) | (values == 1)):
            inside = bool(np.all((values >= 0) & (values <= 1)))
            raise fail("sample_x returned values other than 0 and 1.", "binary images: every pixel 0 or 1",
                       f"values between 0 and 1, e.g. {float(values[(values != 0) & (values != 1)][0]):.4g}"
                       if inside else f"values outside [0, 1] (from {values.min():.4g} to {values.max():.4g})",
                       Diagnosis(guesses=("the pixel probabilities (or logits) were returned instead of a draw",),
                                 fix=BINARY_FIX))
        return values

    return grading.memo(f"sample_x: {key}", ask)


@number("2.1")
def test_shape_dtype_binary(grading: GradingSession) -> None:
    """sample_x: one binary float32 image of 784 pixels per label"""
    samples(grading, case_of(grading).labels, "main")


@number("2.2")
def test_draws_from_the_labels_distribution(grading: GradingSession) -> None:
    """sample_x: row i is drawn from p(x | y[i]): each label's mean image matches the reference's pixel probabilities"""
    case = case_of(grading)
    images = samples(grading, case.labels, "main")
    means = pixel_means(case.labels, images)
    found = mean_squared_deviation(means, case.expected, PER_LABEL)
    if found <= MAX_MEAN_SQUARED_DEVIATION:
        return
    scores = [(mean_squared_deviation(means, expected, PER_LABEL), text) for text, expected in case.variants]
    matching = [text for score, text in sorted(scores) if score <= MAX_MEAN_SQUARED_DEVIATION]
    worst_label = int(np.nanargmax(np.nanmean(np.abs(means - case.expected), axis=1)))
    raise fail(f"The samples drawn for each label do not follow p(x | y): over {PER_LABEL} samples per label, their "
               "mean images differ from the pixel probabilities of the reference's model.",
               f"a mean squared standardized deviation of about 1 (at most {MAX_MEAN_SQUARED_DEVIATION:g})",
               f"{found:.2f}; the label whose samples differ most is {worst_label}",
               Diagnosis(guesses=tuple(matching[:1]) or (
                   "row i must be drawn for label y[i], in the order of y, from z ~ N(0, I) (self.sample_z)",),
                   fix=FIX))


@number("2.3")
def test_other_sizes(grading: GradingSession) -> None:
    """sample_x: other numbers of labels (five samples of one digit)"""
    samples(grading, FEW_LABELS, "few")
