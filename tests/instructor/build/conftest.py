"""Shared fixtures of the build tests: subprocess runs, every homework's handout built once per session, a copy of
the reference layers to experiment on, and a homework's assembled reference."""

import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.engine.homework import REFERENCE_DIR, Homework
from grader.instructor.build.assemble import reference_files
from grader.instructor.build.handout import build_handout
from grader.instructor.build.layout import handout_top

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
def handouts(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Homework], tuple[Path, Path]]:
    """handouts(homework) -> (its handout zip, its unpacked top folder), built once per session. Do not modify."""
    built: dict[str, tuple[Path, Path]] = {}

    def get(homework: Homework) -> tuple[Path, Path]:
        if homework.id not in built:
            folder = tmp_path_factory.mktemp(f"handout-{homework.id}")
            out = folder / "handout.zip"
            build_handout(homework, out)
            with zipfile.ZipFile(out) as archive:
                archive.extractall(folder / "unpacked")
            built[homework.id] = (out, folder / "unpacked" / handout_top(homework.id))
        return built[homework.id]

    return get


def copy_reference(tmp_path: Path, homework: Homework) -> tuple[Homework, Path]:
    """A copy of reference/ to experiment on, and the homework reading its layers from that copy."""
    root = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, root, ignore=shutil.ignore_patterns("__pycache__", ".*_cache"))
    return dataclasses.replace(homework, reference_root=root, assignment_root=tmp_path / "assignment"), root


def assembled_reference(homework: Homework, folder: Path) -> Path:
    """The homework's full source (solutions included) in one folder, as ``run_vae.py`` sees it."""
    for name, content in reference_files(homework).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return folder
