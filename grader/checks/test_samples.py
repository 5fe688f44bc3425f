"""Checks of the retrained model's images. The grader draws them itself, from the returned weights, with
its own copy of the provided model and sampling code and its own seed (grader/session.py ``grids``):
200 samples of ``sample_x`` (10 x 20) and 100 test digits above their reconstructions. Nothing the
worker drew or said is scored here."""

import numpy as np
from gradescope_utils.autograder_utils.decorators import number, weight

from grader import grids
from grader.feedback import WrongAnswer
from grader.session import GradingSession

SAMPLES_CAPTION = "200 samples of sample_x from your trained weights, drawn by the grader (10 rows of 20)"
RECONSTRUCTIONS_CAPTION = ("100 test digits (top 5 rows) and their reconstructions by your trained weights "
                           "(bottom 5 rows), drawn by the grader")


def report(check: grids.GridCheck, note: list[str]) -> None:
    """Pass with the figures as a note, or fail with the check's message (expected, found, likely cause)."""
    if not check.passed:
        raise WrongAnswer(check.message)
    note.append(check.message)


@weight(5)
@number("5.1")
def test_not_blank_or_noise(grading: GradingSession, note: list[str], attach_image) -> None:  # noqa: ANN001
    """samples: are neither blank nor noise (digit-like ink, in strokes)"""
    drawn = grading.grids()
    attach_image(SAMPLES_CAPTION, drawn.samples_png)
    report(grids.check_not_blank_or_noise(drawn.samples), note)


@weight(7)
@number("5.2")
def test_looks_like_digits(grading: GradingSession, note: list[str]) -> None:
    """samples: a digit classifier finds at least 8 of the 10 classes"""
    report(grids.check_looks_like_digits(grading.grids().samples.astype(np.float32)), note)


@weight(5)
@number("5.3")
def test_reconstructions(grading: GradingSession, note: list[str], attach_image) -> None:  # noqa: ANN001
    """samples: reconstructions of test digits resemble their originals"""
    drawn = grading.grids()
    attach_image(RECONSTRUCTIONS_CAPTION, drawn.reconstructions_png)
    images = grids.reconstruction_grid_images(drawn.originals, drawn.reconstructions)
    report(grids.check_reconstructions(images), note)
