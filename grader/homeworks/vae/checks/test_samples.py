"""Checks of the retrained model's images. The grader draws them itself, from the returned weights, with its own
copy of the provided model and sampling code and its own seed (grader/homeworks/vae/trusted.py): the sample grid
of ``sample_x`` and 100 test digits above their reconstructions. Nothing the worker drew or said is scored."""

from collections.abc import Callable

import numpy as np
from gradescope_utils.autograder_utils.decorators import number

from grader.digits import grids
from grader.engine.feedback import WrongAnswer
from grader.grading.session import GradingSession
from grader.homeworks.vae import trusted


def report(check: grids.GridCheck, note: list[str]) -> None:
    """Pass with the figures as a note, or fail with the check's message (expected, found, likely cause)."""
    if not check.passed:
        raise WrongAnswer(check.message)
    note.append(check.message)


def caption(grading: GradingSession, name: str) -> str:
    return next(grid.caption for grid in grading.homework.grids if grid.name == name)


@number("5.1")
def test_not_blank_or_noise(grading: GradingSession, note: list[str],
                            attach_image: Callable[[str, bytes], None]) -> None:
    """samples: are neither blank nor noise (digit-like ink, in strokes)"""
    drawn = trusted.trusted_grids(grading)
    attach_image(caption(grading, "samples"), drawn.samples_png)
    report(grids.check_not_blank_or_noise(drawn.samples), note)


@number("5.2")
def test_looks_like_digits(grading: GradingSession, note: list[str]) -> None:
    """samples: a digit classifier finds most of the 10 classes"""
    settings = grading.homework.settings
    report(grids.check_looks_like_digits(trusted.trusted_grids(grading).samples.astype(np.float32),
                                         min_classes=int(settings.get("min_sample_classes", grids.MIN_CLASSES))),
           note)


@number("5.3")
def test_reconstructions(grading: GradingSession, note: list[str], attach_image: Callable[[str, bytes], None]) -> None:
    """samples: reconstructions of test digits resemble their originals"""
    drawn = trusted.trusted_grids(grading)
    attach_image(caption(grading, "reconstructions"), drawn.reconstructions_png)
    images = grids.reconstruction_grid_images(drawn.originals, drawn.reconstructions)
    report(grids.check_reconstructions(images), note)
