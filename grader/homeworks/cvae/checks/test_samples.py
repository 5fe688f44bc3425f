"""Checks of the retrained conditional model's images. The grader draws them itself from the returned weights, with
its own copy of the provided model and its own seed (grader/homeworks/cvae/trusted.py): samples for each label, judged
by the grader's digit classifier, and 100 test digits above their reconstructions. Nothing the worker drew is scored."""

from collections.abc import Callable

from gradescope_utils.autograder_utils.decorators import number

from grader.digits import grids
from grader.engine.feedback import wrong
from grader.engine.scoring import load_band
from grader.grading.session import GradingSession
from grader.homeworks.cvae import trusted
from grader.homeworks.vae.checks.test_samples import caption, report


def per_class(found: trusted.ConditionalSamples) -> str:
    return ", ".join(f"{label}: {accuracy:.2f}" for label, accuracy in enumerate(found.per_class_accuracy))


@number("4.1")
def test_not_blank_or_noise(grading: GradingSession, note: list[str],
                            attach_image: Callable[[str, bytes], None]) -> None:
    """samples: are neither blank nor noise (digit-like ink, in strokes)"""
    found = trusted.conditional_samples(grading)
    attach_image(caption(grading, "samples"), found.grid_png)
    report(grids.check_not_blank_or_noise(found.images), note)


@number("4.2")
def test_conditional_accuracy(grading: GradingSession, note: list[str], earn: Callable[[float], None]) -> None:
    """samples: the digit classifier labels the samples drawn for label y as y (conditional accuracy in the band)"""
    found = trusted.conditional_samples(grading)
    band = load_band(grading.homework, "conditional_accuracy")
    earn(band.fraction(found.accuracy))
    per_label = found.images.shape[0] // len(found.per_class_accuracy)
    note.append(f"The grader drew {per_label} samples for each label and classified them: conditional accuracy "
                f"{found.accuracy:.3f}; per label {per_class(found)}.")
    if not band.inside(found.accuracy):
        chance = found.accuracy < 0.2
        raise wrong("The samples drawn for a label are not often enough classified as that label.",
                    f"at least {band.full:g} (the reference's runs: 0.94 to 0.97); zero points at {band.zero:g} "
                    "and below",
                    f"{found.accuracy:.3f} (worst label {int(found.per_class_accuracy.argmin())}: "
                    f"{found.per_class_accuracy.min():.2f})",
                    "about one in ten is what a model that ignores the label gets: the decoder must be given y's "
                    "one-hot vector in training (negative_elbo_bound, checks 1.5) and in sampling (sample_x)."
                    if chance else "the label reaches the model only partly or wrongly (an off-by-one one-hot, the "
                    "labels out of line with the images): see checks 1.5 and 2.2.")


@number("4.3")
def test_reconstructions(grading: GradingSession, note: list[str], attach_image: Callable[[str, bytes], None]) -> None:
    """samples: reconstructions of test digits given their labels resemble the originals"""
    drawn = trusted.reconstructions(grading)
    attach_image(caption(grading, "reconstructions"), drawn.reconstructions_png)
    images = grids.reconstruction_grid_images(drawn.originals, drawn.reconstructions)
    report(grids.check_reconstructions(images), note)
