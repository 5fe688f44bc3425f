"""Checks of part B's images, drawn by the grader from the returned weights with its own copy of the provided
model and its own seed (grader/homeworks/vae_gaussian/trusted.py): the decoder's means for latents of the prior,
the same latents with their pixel noise, and part A's samples beside them. Nothing the worker drew is scored."""

from collections.abc import Callable

from gradescope_utils.autograder_utils.decorators import number

from grader.digits import grids
from grader.grading.session import GradingSession
from grader.homeworks.vae.checks.test_samples import caption, report
from grader.homeworks.vae_gaussian import trusted


@number("9.1")
def test_gaussian_means_not_blank_or_noise(grading: GradingSession, note: list[str],
                                           attach_image: Callable[[str, bytes], None]) -> None:
    """part B samples: the decoder's means are neither blank nor noise (digit-like ink, in strokes)"""
    drawn = trusted.gaussian_images(grading)
    attach_image(caption(grading, "gaussian_means"), drawn.means_png)
    report(grids.check_not_blank_or_noise(drawn.means), note)


@number("9.2")
def test_gaussian_means_look_like_digits(grading: GradingSession, note: list[str]) -> None:
    """part B samples: a digit classifier finds most of the 10 classes among the decoder's means"""
    settings = grading.homework.settings
    report(grids.check_looks_like_digits(trusted.gaussian_images(grading).means,
                                         min_classes=int(settings.get("min_sample_classes", grids.MIN_CLASSES))),
           note)


@number("9.3")
def test_comparison_drawn(grading: GradingSession, note: list[str],
                          attach_image: Callable[[str, bytes], None]) -> None:
    """part B samples: the Gaussian samples with their pixel noise, beside part A's samples (the figure to discuss)"""
    drawn = trusted.gaussian_images(grading)
    attach_image(caption(grading, "gaussian_samples"), drawn.samples_png)
    attach_image(caption(grading, "comparison"), drawn.comparison_png)
    note.append("Part A's samples are binary: each pixel drawn 0 or 1. Part B's means are smooth grey-level digits; "
                "its samples add each pixel's own Gaussian noise, largest where the decoder is unsure (the strokes' "
                "edges), and no smaller than the variance floor on the background.")
