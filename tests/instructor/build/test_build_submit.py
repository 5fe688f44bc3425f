"""The student Makefile's `make submit`: exactly utils.py and vae.py, and only when both exist and import."""

import shutil
import sys
import zipfile

import pytest

from grader.instructor.build.layout import HANDOUT_DATA_FOLDER
from grader.instructor.catalogue import student_sources
from tests.conftest import FLAGSHIP

SUBMITTED = sorted(FLAGSHIP.student_files)

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.fixture
def unpacked_handout(handouts):
    return handouts(FLAGSHIP)[1]


@pytest.fixture
def student_folder(unpacked_handout, tmp_path):
    """The unpacked handout (without its data) with the reference solution copied in, as a student would have."""
    folder = tmp_path / "vae-homework"
    shutil.copytree(unpacked_handout, folder, ignore=shutil.ignore_patterns(HANDOUT_DATA_FOLDER))
    for name, text in student_sources(FLAGSHIP).items():
        (folder / name).write_text(text)
    return folder


def make_submit(run_command, folder):
    return run_command(["make", "--no-print-directory", "submit", f"PYTHON={sys.executable}"], cwd=folder)


def test_make_submit_packs_exactly_utils_and_vae(student_folder, run_command):
    result = make_submit(run_command, student_folder)
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(student_folder / "submission.zip") as archive:
        assert sorted(archive.namelist()) == SUBMITTED
        for name in SUBMITTED:
            assert archive.read(name) == student_sources(FLAGSHIP)[name].encode()
    assert "warning" not in result.stdout


def test_make_submit_refuses_when_a_file_is_missing(student_folder, run_command):
    (student_folder / "vae.py").unlink()
    (student_folder / "submission.zip").write_bytes(b"an old submission")
    result = make_submit(run_command, student_folder)
    assert result.returncode != 0
    assert "vae.py is missing" in result.stdout
    assert not (student_folder / "submission.zip").exists(), "a stale zip must not stay around to be uploaded"


def test_make_submit_refuses_a_file_that_does_not_import(student_folder, run_command):
    (student_folder / "utils.py").write_text("def sample_gaussian(m, v):\n    return m +\n")
    result = make_submit(run_command, student_folder)
    assert result.returncode != 0
    assert "utils.py does not import (SyntaxError" in result.stdout
    assert not (student_folder / "submission.zip").exists()


def test_make_submit_warns_about_an_unfinished_starter(unpacked_handout, tmp_path, run_command):
    folder = tmp_path / "starter"
    shutil.copytree(unpacked_handout, folder, ignore=shutil.ignore_patterns("datasets"))
    result = make_submit(run_command, folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: utils.py still raises NotImplementedError" in result.stdout
