"""Checks of the grids the retrained model drew in the worker: 200 samples of ``sample_x`` (10 x 20)
and 100 test digits above their reconstructions. The PNG bytes are untrusted: grader/grids.py decodes
them defensively and measures them; only a grid that decoded is shown to the student."""

import functools

import numpy as np
from gradescope_utils.autograder_utils.decorators import number, weight

from grader import grids
from grader.feedback import WrongAnswer
from grader.session import RECONSTRUCTION_IMAGES, GradingSession

SAMPLES_CAPTION = "samples.png: 200 samples of sample_x, 10 rows of 20"
RECONSTRUCTIONS_CAPTION = "reconstructions.png: 100 test digits (top 5 rows) and their reconstructions (bottom 5)"


@functools.lru_cache(maxsize=2)
def samples_checks(png: bytes | None) -> dict[str, grids.GridCheck]:
    return {check.name: check for check in grids.check_samples_grid(png)}


@functools.lru_cache(maxsize=2)
def reconstruction_checks(png: bytes | None, data_file: str) -> dict[str, grids.GridCheck]:
    with np.load(data_file, allow_pickle=False) as arrays:
        originals = arrays["x_test_binarized"][:RECONSTRUCTION_IMAGES].astype(np.float32)  # (100, 784)
    return {check.name: check for check in grids.check_reconstruction_grid(png, originals)}


def report(check: grids.GridCheck, note: list[str]) -> None:
    """Pass with the figures as a note, or fail with the check's message (expected, found, likely cause)."""
    if not check.passed:
        raise WrongAnswer(check.message)
    note.append(check.message)


@weight(2)
@number("5.1")
def test_grid_decodes(grading: GradingSession, note: list[str], attach_image) -> None:  # noqa: ANN001
    """samples: samples.png is a 10 x 20 grid of 28 x 28 images"""
    png = grading.training().samples_png
    check = samples_checks(png)["decodes"]
    if check.passed:
        attach_image(SAMPLES_CAPTION, png)
    report(check, note)


@weight(4)
@number("5.2")
def test_not_blank_or_noise(grading: GradingSession, note: list[str]) -> None:
    """samples: are neither blank nor noise (digit-like ink, in strokes)"""
    report(samples_checks(grading.training().samples_png)["not blank or noise"], note)


@weight(6)
@number("5.3")
def test_looks_like_digits(grading: GradingSession, note: list[str]) -> None:
    """samples: a digit classifier finds at least 8 of the 10 classes"""
    report(samples_checks(grading.training().samples_png)["looks like digits"], note)


@weight(5)
@number("5.4")
def test_reconstructions(grading: GradingSession, note: list[str], attach_image) -> None:  # noqa: ANN001
    """samples: reconstructions of test digits resemble their originals"""
    png = grading.training().reconstructions_png
    checks = reconstruction_checks(png, str(grading.config.data_file))
    if checks["decodes"].passed:
        attach_image(RECONSTRUCTIONS_CAPTION, png)
    report(checks["decodes"], note)
    report(checks["reconstructions"], note)
