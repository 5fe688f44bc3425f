"""Shared fixtures of the build tests: the repository folders, subprocess runs, one handout per session."""

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.instructor.build.handout import build_handout
from grader.instructor.build.layout import ASSIGNMENT_DIR, DATA_FILE, HANDOUT_TOP, REFERENCE_DIR

SUBPROCESS_TIMEOUT = 300  # seconds; a hung child fails the test instead of the whole session


def run(command: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``command`` in ``cwd`` without writing bytecode caches into the folders under test."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200", **(extra_env or {})}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
                          check=False)


@pytest.fixture(scope="session")
def run_command() -> Callable[..., subprocess.CompletedProcess]:
    return run


@pytest.fixture(scope="session")
def run_public_tests() -> Callable[[Path], subprocess.CompletedProcess]:
    """Run the public tests of a homework folder the way ``make test`` does, in a child process."""

    def run_in(folder: Path) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "pytest", "-q", "tests", "-p", "no:cacheprovider"], cwd=folder)

    return run_in


@pytest.fixture(scope="session")
def handout_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The handout, built once per session from the repository's reference/, assignment/ and MNIST file."""
    out = tmp_path_factory.mktemp("handout") / "handout.zip"
    build_handout(REFERENCE_DIR, ASSIGNMENT_DIR, DATA_FILE, out)
    return out


@pytest.fixture(scope="session")
def unpacked_handout(handout_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The handout unzipped once per session; returns its top folder (vae-homework/). Do not modify it."""
    target = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(handout_zip) as archive:
        archive.extractall(target)
    return target / HANDOUT_TOP
