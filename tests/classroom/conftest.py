"""Fixtures of the batch tests: the class of tests/classroom/classroom.py as a Gradescope export .zip, a stand-in
for the grading command, and sandbox mode none."""

import sys
from pathlib import Path

import pytest

from grader import GRADER_VERSION
from grader.classroom import batch
from grader.classroom.batch import BatchConfig
from grader.grading import sandbox
from tests.classroom.classroom import Student, build_class, write_export, zip_folder


@pytest.fixture(scope="session")
def class_students() -> list[Student]:
    return build_class()


@pytest.fixture(scope="session")
def class_export_zip(class_students: list[Student], tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("export")
    folder = write_export(class_students, base / "assignment_7001_export")
    return zip_folder(folder, base / "assignment_7001_export.zip", top="assignment_7001_export")


FAKE_GRADER = """
import json, sys, time
from pathlib import Path
submission, out = Path(sys.argv[1]), Path(sys.argv[2])
text = (submission / "utils.py").read_text()
if "HANG" in text:
    time.sleep(600)
if "CRASH" in text:
    sys.exit(3)
fault = "FAULT" in text
document = {"score": 7.0, "tests": [{"name": "one", "number": "1.1", "score": 7.0, "max_score": 7.0,
            "status": "passed", "output": ""}],
            "extra_data": {"grader_version": "GRADER_VERSION", "grader_fault": fault, "metrics": {}}}
(out / "results.json").write_text(json.dumps(document))
(out / "calls.txt").write_text(text)
""".replace("GRADER_VERSION", GRADER_VERSION)


@pytest.fixture
def fake_grader(tmp_path, monkeypatch):
    """Replace the grading command by FAKE_GRADER; returns the uploads folder to fill."""
    script = tmp_path / "fake_grader.py"
    script.write_text(FAKE_GRADER)

    def command(submission: Path, out: Path, config: BatchConfig, threads: int) -> list[str]:
        return [sys.executable, str(script), str(submission), str(out)]

    monkeypatch.setattr(batch, "grade_command", command)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    return uploads


@pytest.fixture
def no_isolation(monkeypatch):
    """Sandbox mode none, as on a TA's laptop (the tests run as root): the variable, and the sandbox's answer
    forgotten before and after."""
    monkeypatch.setenv(sandbox.ISOLATION_VARIABLE, "none")
    sandbox.reset()
    yield
    sandbox.reset()
