"""Graded by an ordinary user (a student's laptop, a TA's batch): the same worker, limits and deadlines, and the
results say that OS isolation was off."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

NOBODY = 65534
COPIED = ("grader", "reference", "assignment", "datasets")


@pytest.fixture
def project_owned_by_nobody():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (and setpriv) to become an ordinary user")
    folder = Path(tempfile.mkdtemp(prefix="vae-not-root-", dir="/tmp"))
    try:
        for name in COPIED:
            shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        for path in (folder, *folder.rglob("*")):
            os.lchown(path, NOBODY, NOBODY)
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_ordinary_user_grades_with_limits_only_and_is_told_so(project_owned_by_nobody):
    project = project_owned_by_nobody
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-m", "grader",
               "grade", "reference/common", "--unit-only", "--out", "out"]  # the flagship's student files
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project), "LANG": "C.UTF-8"}
    completed = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    document = json.loads((project / "out" / "results.json").read_text())
    isolation = document["extra_data"]["isolation"]
    assert isolation["mode"] == "none" and isolation["os_isolation"] is False and isolation["uid"] == NOBODY
    assert "OS isolation: OFF (the grader was not run as root)" in document["output"]
    assert "time limit on every call" in document["output"]
    assert document["score"] == 48 and document["extra_data"]["grader_fault"] is False
