"""Each homework's Gradescope package: the engine and that one homework by construction, a run in Gradescope's folder
layout against the plain CLI, its time limit and homework set in run_autograder."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from grader.instructor.build.assemble import BuildError
from grader.instructor.build.autograder import SHIPPED_PACKAGES, build_autograder
from grader.instructor.catalogue import student_sources
from tests.conftest import FLAGSHIP, HOMEWORKS, ROOT, validate_results

DEVELOPMENT_ARGS = ["--iterations", "100", "--threads", "2"]
SECRET = b"a fixed secret for the tests, 32 bytes or more"
NEVER_SHIPPED = ("grader/classroom/", "grader/instructor/", "tests/", "grader/gradescope/")


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("autograder")
    built = {}
    for homework in HOMEWORKS:
        built[homework.id] = folder / f"autograder-{homework.id}.zip"
        build_autograder(homework, built[homework.id], secret=SECRET)
    return built


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_the_zip_is_the_engine_and_one_homework(homework, packages):
    with zipfile.ZipFile(packages[homework.id]) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        run_autograder = archive.read("run_autograder").decode()
    for script in ("setup.sh", "run_autograder"):
        assert infos[script].external_attr >> 16 == 0o100755, f"{script} must be executable"
    assert {"Dockerfile", "requirements.txt", "grader/__main__.py", "grader/grading/worker.py",
            "grader/grading/checks.ini", "grader/engine/homework.py"} <= set(infos)
    assert {f"datasets/{path.name}" for path in homework.data_paths} <= set(infos)
    assert not [name for name in infos if name.startswith(NEVER_SHIPPED)]
    members = {homework.folder.name, *(base.folder.name for base in homework.bases)}
    shipped_homeworks = {PurePosixPath(name).parts[2] for name in infos
                         if name.startswith("grader/homeworks/") and name != "grader/homeworks/__init__.py"}
    assert shipped_homeworks == members
    assert not [name for name in infos if name.startswith("grader/homeworks/") and name.endswith("mutants.toml")]
    top = {PurePosixPath(name).parts[1] for name in infos if name.startswith(("reference/", "assignment/"))}
    assert top == {homework.id}, "one homework's reference and starter"
    for function in homework.functions:
        starter = archive_text(packages[homework.id], f"assignment/{homework.id}/{function.file}")
        assert f"{function.name}: not implemented yet" in starter
    assert f'homework="${{AUTOGRADER_HOMEWORK:-{homework.id}}}"' in run_autograder
    assert {name.split("/")[1] for name in infos if name.startswith("grader/") and name.count("/") > 1} == {
        *SHIPPED_PACKAGES, "homeworks"}


def archive_text(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name).decode()


def test_the_zip_is_deterministic_but_for_its_secret_which_is_fresh_for_every_build(packages, tmp_path):
    again, fresh = tmp_path / "again.zip", tmp_path / "fresh.zip"
    build_autograder(FLAGSHIP, again, secret=SECRET)
    assert again.read_bytes() == packages[FLAGSHIP.id].read_bytes()
    build_autograder(FLAGSHIP, fresh)
    secrets = [zipfile.ZipFile(path).read("grader/engine/assets/check-inputs.secret")
               for path in (packages[FLAGSHIP.id], fresh)]
    assert secrets[0] == SECRET and secrets[1] != SECRET and len(secrets[1]) >= 32


def comparable(document: dict) -> dict:
    """What must agree between the package and the repository's CLI: scores, outcomes and the metrics (the two use
    different secrets for the checks' inputs, so the figures in the messages differ)."""
    return {"score": document["score"], "metrics": document["extra_data"]["metrics"],
            "tests": [(t["number"], t["score"], t["status"], t["extra_data"]) for t in document["tests"]]}


@pytest.mark.slow
def test_run_autograder_in_gradescope_layout_matches_the_cli(packages, tmp_path):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(packages[FLAGSHIP.id]) as archive:
        archive.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    for name, text in student_sources(FLAGSHIP).items():
        (root / "submission" / name).write_text(text)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
           "AUTOGRADER_ARGS": " ".join(DEVELOPMENT_ARGS), "PYTHONPATH": ""}
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, check=True, capture_output=True)
    gradescope = validate_results(root / "results" / "results.json")

    cli_out = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "grader", "grade", str(root / "submission"), "--homework", FLAGSHIP.id,
                    "--out", str(cli_out), *DEVELOPMENT_ARGS], cwd=ROOT, check=True, capture_output=True)
    cli = validate_results(cli_out / "results.json")
    assert comparable(gradescope) == comparable(cli)
    unit_tests = [t for t in gradescope["tests"] if t["number"][0] in "123"]
    assert unit_tests and all(t["status"] == "passed" for t in unit_tests)
    extra = json.loads((root / "results" / "results.json").read_text())["extra_data"]
    assert extra["development_run"] is True and extra["check_inputs"] == "package secret"
    assert extra["homework"] == FLAGSHIP.id and cli["extra_data"]["check_inputs"] == "development secret"


def test_the_time_limit_is_set_in_run_autograder(tmp_path):
    out = tmp_path / "long.zip"
    build_autograder(FLAGSHIP, out, time_limit=2_400)
    script = zipfile.ZipFile(out).read("run_autograder").decode()
    assert 'time_limit="${AUTOGRADER_TIME_LIMIT:-2400}"' in script and '--time-limit "$time_limit"' in script
    with pytest.raises(BuildError, match="between 120 and 2400"):
        build_autograder(FLAGSHIP, tmp_path / "too-long.zip", time_limit=3_600)
