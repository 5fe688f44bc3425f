"""The Gradescope package: its layout, and a run in Gradescope's folder layout against the plain CLI."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.instructor.build.assignment import BuildError
from grader.instructor.build.autograder import build_autograder
from tests.conftest import REFERENCE, ROOT, validate_results

DEVELOPMENT_ARGS = ["--iterations", "100", "--threads", "2"]
SECRET = b"a fixed secret for the tests, 32 bytes or more"


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("autograder") / "autograder.zip"
    build_autograder(out, secret=SECRET)
    return out


def test_zip_has_gradescope_scripts_at_its_root_and_no_instructor_tools(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert infos[script].external_attr >> 16 == 0o100755, f"{script} must be executable"
    assert {"reference/utils.py", "assignment/utils.py", "grader/worker.py", "datasets/mnist.npz",
            "requirements.txt", "Dockerfile"} <= set(infos)
    assert not [name for name in infos if name.startswith(("grader/build/", "tests/", "reference/tests/"))]
    starter = zipfile.ZipFile(autograder_zip).read("assignment/utils.py").decode()
    assert "raise NotImplementedError" in starter


def test_zip_is_deterministic_but_for_its_secret_which_is_fresh_for_every_build(autograder_zip, tmp_path):
    again, fresh = tmp_path / "again.zip", tmp_path / "fresh.zip"
    build_autograder(again, secret=SECRET)
    assert again.read_bytes() == autograder_zip.read_bytes()
    build_autograder(fresh)
    secrets = [zipfile.ZipFile(path).read("grader/assets/check-inputs.secret") for path in (autograder_zip, fresh)]
    assert secrets[0] == SECRET and secrets[1] != SECRET and len(secrets[1]) >= 32


def comparable(document: dict) -> dict:
    """What must agree between the package and the repository's CLI: scores, outcomes and the metrics (the two use
    different secrets for the checks' inputs, so the figures in the messages differ)."""
    return {"score": document["score"], "metrics": document["extra_data"]["metrics"],
            "tests": [(t["number"], t["score"], t["status"], t["extra_data"]) for t in document["tests"]]}


@pytest.mark.slow
def test_run_autograder_in_gradescope_layout_matches_the_cli(autograder_zip, tmp_path):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    for name in ("utils.py", "vae.py"):
        (root / "submission" / name).write_bytes((REFERENCE / name).read_bytes())
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
           "AUTOGRADER_ARGS": " ".join(DEVELOPMENT_ARGS), "PYTHONPATH": ""}
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, check=True, capture_output=True)
    gradescope = validate_results(root / "results" / "results.json")

    cli_out = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "grader", "grade", str(root / "submission"), "--out", str(cli_out),
                    *DEVELOPMENT_ARGS], cwd=ROOT, check=True, capture_output=True)
    cli = validate_results(cli_out / "results.json")
    assert comparable(gradescope) == comparable(cli)
    unit_tests = [t for t in gradescope["tests"] if t["number"][0] in "123"]
    assert unit_tests and all(t["status"] == "passed" for t in unit_tests)
    extra = json.loads((root / "results" / "results.json").read_text())["extra_data"]
    assert extra["development_run"] is True and extra["check_inputs"] == "package secret"
    assert cli["extra_data"]["check_inputs"] == "development secret"


def test_the_time_limit_is_set_in_run_autograder(tmp_path):
    out = tmp_path / "long.zip"
    build_autograder(out, time_limit=2_400)
    script = zipfile.ZipFile(out).read("run_autograder").decode()
    assert 'time_limit="${AUTOGRADER_TIME_LIMIT:-2400}"' in script and '--time-limit "$time_limit"' in script
    with pytest.raises(BuildError, match="between 120 and 2400"):
        build_autograder(tmp_path / "too-long.zip", time_limit=3_600)
