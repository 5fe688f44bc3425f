"""The grader's evaluation of a student's own architecture: encode and decode run in processes of their own, so a
model that carries the image from encode to decode (in an attribute, in /tmp, in its working folder) finds nothing
there and earns nothing for its NELBO."""

import pytest

from grader.grading.grade import grade
from grader.grading.session import GradeConfig
from grader.instructor.catalogue import caught_as_declared, load_catalogue
from tests.homeworks.beta_vae.conftest import BETA_VAE

SHORT = GradeConfig(iterations=100, threads=1)
CARRIER = next(m for m in load_catalogue(BETA_VAE) if m.id == "copies_the_image_to_decode")


@pytest.mark.slow
def test_a_model_that_carries_the_image_to_decode_earns_nothing_for_its_nelbo(tmp_path):
    result = grade(BETA_VAE, CARRIER.write(BETA_VAE, tmp_path / "submission"), tmp_path / "out", SHORT)
    assert not result.grader_fault
    checks = {check.number: check for check in result.checks}
    assert caught_as_declared(CARRIER, result, BETA_VAE) == []
    assert checks["3.2"].score == 0
    assert checks["2.3"].passed  # in one process (the unit checks), the carried image is right there
    assert result.metrics["nelbo"] > 1_000  # decode, given z alone, falls back on the blank image
