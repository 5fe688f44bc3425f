"""dist/handout-<id>.zip: each homework's starter and data under <id>-homework/, deterministic, with no solution of
its own functions in it."""

import dataclasses
import json
import sys
import zipfile

import pytest

from grader.engine.homework import COMMON_LAYER
from grader.instructor.build import __main__ as build_cli
from grader.instructor.build.assemble import BuildError, secret_lines, starter_files
from grader.instructor.build.assignment import write_assignment
from grader.instructor.build.handout import ZIP_TIMESTAMP, build_handout, find_leaks
from grader.instructor.build.layout import HANDOUT_DATA_FOLDER, handout_top
from grader.instructor.build.solutions import normalize_code_line
from tests.conftest import FLAGSHIP, HOMEWORKS
from tests.instructor.build.conftest import copy_reference

FLAGSHIP_FUNCTIONS = {function.name for function in FLAGSHIP.functions}
CALL_STUDENT_FUNCTIONS = """
import json, torch, data, utils, vae
calls = {
    "sample_gaussian": lambda: utils.sample_gaussian(torch.zeros(2, 3), torch.ones(2, 3)),
    "kl_normal": lambda: utils.kl_normal(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(1), torch.ones(1)),
    "negative_elbo_bound": lambda: vae.VAE().negative_elbo_bound(torch.zeros(4, 784)),
}
outcome = {}
for name, call in calls.items():
    try:
        call()
        outcome[name] = "returned"
    except NotImplementedError as error:
        outcome[name] = "NotImplementedError: " + str(error)
print(json.dumps({"outcome": outcome, "utils": utils.__file__, "data": str(data.default_data_path())}))
"""


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_the_zip_holds_the_starter_and_the_data_under_one_top_folder(homework, handouts):
    zip_path, _ = handouts(homework)
    top = handout_top(homework.id)
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        starter = starter_files(homework)
        expected = [f"{top}/{name}" for name in starter]
        expected += [f"{top}/{HANDOUT_DATA_FOLDER}/{path.name}" for path in homework.data_paths]
        assert names == sorted(expected)
        for name, content in starter.items():
            assert archive.read(f"{top}/{name}") == content
        for path in homework.data_paths:
            assert archive.getinfo(f"{top}/{HANDOUT_DATA_FOLDER}/{path.name}").file_size == path.stat().st_size
        assert all(info.date_time == ZIP_TIMESTAMP for info in archive.infolist())
        assert archive.testzip() is None


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_no_solution_line_of_the_homework_is_shipped(homework, handouts):
    zip_path, _ = handouts(homework)
    secrets = secret_lines(homework)
    assert secrets, "the homework has solution regions, so there are solution lines to look for"
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            if name.endswith(".npz"):
                continue
            for line in archive.read(name).decode("utf-8").splitlines():
                assert normalize_code_line(line) not in secrets, f"{name} ships a solution line: {line.strip()}"


def test_the_flagship_secret_lines_include_the_reparameterization():
    assert "epsilon = torch.randn_like(m)" in secret_lines(FLAGSHIP)


def test_the_build_is_deterministic(handouts, tmp_path):
    zip_path, _ = handouts(FLAGSHIP)
    again = tmp_path / "again.zip"
    assert build_cli.main(["handout", "--homework", FLAGSHIP.id, "--out", str(again)]) == 0
    assert again.read_bytes() == zip_path.read_bytes()


@pytest.mark.parametrize("homework", [h for h in HOMEWORKS if {f.name for f in h.functions} == FLAGSHIP_FUNCTIONS],
                         ids=lambda homework: homework.id)
def test_the_unpacked_handout_finds_its_data_and_the_student_functions_raise(homework, handouts, run_command):
    _, unpacked = handouts(homework)
    result = run_command([sys.executable, "-c", CALL_STUDENT_FUNCTIONS], cwd=unpacked)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["utils"].startswith(str(unpacked))
    assert report["data"] == str(unpacked / HANDOUT_DATA_FOLDER / homework.data_paths[0].name)
    for name, outcome in report["outcome"].items():
        assert outcome == f"NotImplementedError: {name}: not implemented yet — see the TODO above"


def test_a_solution_line_in_a_shipped_file_stops_the_build(tmp_path):
    homework, root = copy_reference(tmp_path, FLAGSHIP)
    readme = root / FLAGSHIP.id / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\n    epsilon = torch.randn_like(m)\n", encoding="utf-8")
    write_assignment(homework)
    out = tmp_path / "handout.zip"
    with pytest.raises(BuildError, match=r"solution code would ship(.|\n)*README\.md:\d+: epsilon = torch.randn_like"):
        build_handout(homework, out)
    assert not out.exists()


def test_find_leaks_names_file_and_line():
    files = {"a.py": b"x = 1\n  return m + torch.sqrt(v) * epsilon  # (..., dim)\n", "b.bin": b"\xff\xfe"}
    leaks = find_leaks(files, {"return m + torch.sqrt(v) * epsilon"})
    assert [(leak.file, leak.line_number) for leak in leaks] == [("a.py", 2)]


def test_a_stale_starter_stops_the_build(tmp_path):
    homework, _ = copy_reference(tmp_path, FLAGSHIP)
    write_assignment(homework)
    (homework.assignment_dir / "vae.py").write_text("# edited by hand\n")
    out = tmp_path / "handout.zip"
    with pytest.raises(BuildError, match=r"out of date(.|\n)*changed: vae.py(.|\n)*make assignment"):
        build_handout(homework, out)
    assert not out.exists()


def test_a_missing_data_file_stops_the_build(tmp_path):
    homework, _ = copy_reference(tmp_path, FLAGSHIP)
    write_assignment(homework)
    homework = dataclasses.replace(homework, data_files=("missing.npz",))
    with pytest.raises(BuildError, match="make data"):
        build_handout(homework, tmp_path / "handout.zip")


def test_the_common_layer_has_no_handout_text():
    assert not (FLAGSHIP.reference_root / COMMON_LAYER / "README.md").exists()


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_make_train_runs_every_training_script_of_the_homework_in_order(homework, run_command):
    result = run_command(["make", "-n", "train"], cwd=homework.assignment_dir)
    assert result.returncode == 0, result.stderr
    scripts = sorted(path.name for path in homework.assignment_dir.glob("run_*.py"))
    listed = result.stdout.split("for script in ", 1)[1].split(";", 1)[0].split()
    assert sorted(listed) == scripts and listed[0] == "run_vae.py"
