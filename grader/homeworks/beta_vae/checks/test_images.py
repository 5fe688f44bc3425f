"""Checks of the seed's deliverable, drawn by the grader through the trained models' encode and decode (trusted.py):
16 test images, their reconstructions and 16 new images (one figure), the new images judged by a digit classifier,
and the beta = 0 model's reconstructions, which should be near-perfect."""

from collections.abc import Callable

from gradescope_utils.autograder_utils.decorators import number

from grader.digits import grids
from grader.engine.feedback import WrongAnswer, wrong
from grader.engine.scoring import load_band
from grader.grading.session import GradingSession
from grader.homeworks.beta_vae import trusted

BETA_ZERO_METRIC = "beta_zero_pixel_error"


def caption(grading: GradingSession, name: str) -> str:
    return next(grid.caption for grid in grading.homework.grids if grid.name == name)


def report(check: grids.GridCheck, note: list[str]) -> None:
    if not check.passed:
        raise WrongAnswer(check.message)
    note.append(check.message)


@number("4.1")
def test_reconstructions(grading: GradingSession, note: list[str],
                         attach_image: Callable[[str, bytes], None]) -> None:
    """images: reconstructions of 100 test digits resemble their originals"""
    attach_image(caption(grading, "figure"), trusted.figure_png(grading))
    drawn = trusted.evaluated(grading)
    report(grids.check_reconstructions(grids.reconstruction_grid_images(drawn.originals, drawn.reconstructions)),
           note)


@number("4.2")
def test_new_images_not_blank_or_noise(grading: GradingSession, note: list[str],
                                       attach_image: Callable[[str, bytes], None]) -> None:
    """images: new images from z ~ N(0, I) are neither blank nor noise"""
    drawn = trusted.evaluated(grading)
    settings = trusted.settings(grading)
    shown = int(settings["grid_rows"]) * int(settings["grid_columns"])
    png = grids.encode_grid(drawn.new_samples[:shown], int(settings["grid_columns"]))
    grading.add_artifact("samples", png)
    attach_image(caption(grading, "samples"), png)
    report(grids.check_not_blank_or_noise(drawn.new_samples), note)


@number("4.3")
def test_new_images_look_like_digits(grading: GradingSession, note: list[str]) -> None:
    """images: a digit classifier finds most of the 10 classes among the new images"""
    report(grids.check_looks_like_digits(trusted.evaluated(grading).new_samples), note)


@number("4.4")
def test_beta_zero_reconstructions(grading: GradingSession, note: list[str], earn: Callable[[float], None],
                                   attach_image: Callable[[str, bytes], None]) -> None:
    """images: trained with beta = 0, the model reconstructs test digits near-perfectly"""
    originals, reconstructions, error = trusted.beta_zero_reconstructions(grading)
    columns = int(trusted.settings(grading)["figure_columns"])
    png = grids.encode_grid(
        grids.reconstruction_grid_images(originals, reconstructions)[[*range(columns),
                                                                      *range(100, 100 + columns)]], columns)
    grading.add_artifact("beta_zero", png)
    attach_image(caption(grading, "beta_zero"), png)
    band = load_band(grading.homework, BETA_ZERO_METRIC)
    earn(band.fraction(error))
    note.append(f"Pixel error of the beta = 0 model's reconstructions (100 test digits, decoded at the mean): "
                f"{error:.2%}.")
    if not band.inside(error):
        raise wrong("Trained with beta = 0 (no KL term), the model does not reconstruct near-perfectly.",
                    f"a pixel error of at most {band.full:.2%}; zero points from {band.zero:.2%}", f"{error:.2%}",
                    "with beta = 0 the loss is rec alone: if it is right (check 2.1), a decoder or latent space too "
                    "small to carry the image, or a loss that keeps a fixed KL weight.")
