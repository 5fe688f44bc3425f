"""The grader's evaluation of a student's own architecture: encode and decode in processes of their own, so that a
model that carries the image from encode to decode (in an attribute, a file, the data set) earns nothing for its
NELBO; and the reference's short training evaluates, draws the figure and reports the beta = 0 pixel error."""

import pytest

from grader.grading.grade import grade
from grader.grading.session import GradeConfig
from grader.instructor.catalogue import Mutant, load_catalogue, student_sources
from tests.homeworks.beta_vae.conftest import BETA_VAE

SHORT = GradeConfig(iterations=200, threads=1)
NELBO_CHECKS = ("3.1", "3.2")

THROUGH_A_FILE = '''
import pathlib as _pathlib

import numpy as _numpy

_SEEN = [_pathlib.Path("/tmp/seen.npy"), _pathlib.Path.cwd() / "seen.npy"]


def _keep(x):
    for path in _SEEN:
        try:
            _numpy.save(path, x.detach().numpy())
        except OSError:
            pass


def _recall(rows):
    for path in _SEEN:
        if path.exists():
            return torch.from_numpy(_numpy.load(path))[:rows]
    return torch.zeros(rows, IMAGE_SIZE)
'''


def file_channel_submission(folder):
    """The reference, with encode saving the images to /tmp and the working folder, and decode returning them."""
    source = student_sources(BETA_VAE)["beta_vae.py"]
    source = source.replace("\n\nclass BetaVAE", THROUGH_A_FILE + "\n\nclass BetaVAE")
    source = source.replace("        h = self.encoder(x)  # (batch, 2 * z_dim)",
                            "        _keep(x)\n        h = self.encoder(x)")
    source = source.replace("        return self.decoder(z)  # (batch, 784)",
                            "        return self.decoder(z) * 0 + (_recall(z.shape[0]) * 2 - 1) * 20")
    folder.mkdir(parents=True)
    (folder / "beta_vae.py").write_text(source)
    return folder


def copy_mutant() -> Mutant:
    return next(m for m in load_catalogue(BETA_VAE) if m.id == "copies_the_image_to_decode")


def nelbo_checks(result):
    checks = {check.number: check for check in result.checks}
    return [checks[number] for number in NELBO_CHECKS]


@pytest.mark.slow
@pytest.mark.parametrize("channel", ["attribute", "file"])
def test_a_model_that_carries_the_image_to_decode_earns_nothing_for_its_nelbo(channel, tmp_path):
    if channel == "attribute":
        submission = copy_mutant().write(BETA_VAE, tmp_path / "submission")
    else:
        submission = file_channel_submission(tmp_path / "submission")
    result = grade(BETA_VAE, submission, tmp_path / "out", SHORT)
    assert not result.grader_fault
    learned, band = nelbo_checks(result)
    assert not learned.passed and "not learned" in learned.output
    assert band.score == 0
    assert result.metrics["nelbo"] > 1_000  # decode, given z alone, predicts the blank image it falls back on
