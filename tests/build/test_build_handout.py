"""dist/handout.zip: the starter and the MNIST file under vae-homework/, deterministic, with no solution in it."""

import json
import shutil
import sys
import zipfile

import pytest

from grader.instructor.build.__main__ import main
from grader.instructor.build.assignment import BuildError, assignment_files, write_assignment
from grader.instructor.build.handout import ZIP_TIMESTAMP, build_handout, find_leaks, secret_lines
from grader.instructor.build.layout import ASSIGNMENT_DIR, DATA_FILE, HANDOUT_DATA, HANDOUT_TOP, REFERENCE_DIR
from grader.instructor.build.solutions import normalize_code_line, solution_lines

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


def test_the_zip_holds_the_starter_and_the_data_under_one_top_folder(handout_zip):
    with zipfile.ZipFile(handout_zip) as archive:
        names = archive.namelist()
        expected = [f"{HANDOUT_TOP}/{name}" for name in assignment_files(REFERENCE_DIR)]
        expected.append(f"{HANDOUT_TOP}/{HANDOUT_DATA}")
        assert names == sorted(expected)
        for name in assignment_files(REFERENCE_DIR):
            assert archive.read(f"{HANDOUT_TOP}/{name}") == (ASSIGNMENT_DIR / name).read_bytes()
        assert archive.getinfo(f"{HANDOUT_TOP}/{HANDOUT_DATA}").file_size == DATA_FILE.stat().st_size
        assert all(info.date_time == ZIP_TIMESTAMP for info in archive.infolist())
        assert archive.testzip() is None


def test_no_solution_line_is_shipped(handout_zip):
    solutions = set()
    for path in REFERENCE_DIR.glob("*.py"):
        solutions |= solution_lines(path.read_text(encoding="utf-8"), str(path))
    secrets = secret_lines(REFERENCE_DIR)
    assert secrets, "the reference has solution regions, so there are solution lines to look for"
    assert "epsilon = torch.randn_like(m)" in secrets and secrets <= solutions
    with zipfile.ZipFile(handout_zip) as archive:
        for name in archive.namelist():
            if name.endswith(".npz"):
                continue
            for line in archive.read(name).decode("utf-8").splitlines():
                assert normalize_code_line(line) not in secrets, f"{name} ships a solution line: {line.strip()}"


def test_the_build_is_deterministic(handout_zip, tmp_path):
    again = tmp_path / "again.zip"
    assert main(["handout", "--out", str(again)]) == 0
    assert again.read_bytes() == handout_zip.read_bytes()


def test_the_unpacked_handout_finds_its_data_and_the_student_functions_raise(unpacked_handout, run_command):
    result = run_command([sys.executable, "-c", CALL_STUDENT_FUNCTIONS], cwd=unpacked_handout)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["utils"].startswith(str(unpacked_handout))
    assert report["data"] == str(unpacked_handout / HANDOUT_DATA)
    for name, outcome in report["outcome"].items():
        assert outcome == f"NotImplementedError: {name}: not implemented yet — see the TODO above"


def test_a_solution_line_in_a_shipped_file_stops_the_build(tmp_path):
    reference = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, reference, ignore=shutil.ignore_patterns("__pycache__", ".*_cache"))
    readme = reference / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\n    epsilon = torch.randn_like(m)\n", encoding="utf-8")
    assignment = tmp_path / "assignment"
    write_assignment(reference, assignment)
    out = tmp_path / "handout.zip"
    with pytest.raises(BuildError, match=r"solution code would ship(.|\n)*README\.md:\d+: epsilon = torch.randn_like"):
        build_handout(reference, assignment, DATA_FILE, out)
    assert not out.exists()


def test_find_leaks_names_file_and_line():
    files = {"a.py": b"x = 1\n  return m + torch.sqrt(v) * epsilon  # (..., dim)\n", "b.bin": b"\xff\xfe"}
    leaks = find_leaks(files, {"return m + torch.sqrt(v) * epsilon"})
    assert [(leak.file, leak.line_number) for leak in leaks] == [("a.py", 2)]


def test_a_stale_assignment_stops_the_build(tmp_path, capsys):
    assignment = tmp_path / "assignment"
    write_assignment(REFERENCE_DIR, assignment)
    (assignment / "vae.py").write_text("# edited by hand\n")
    out = tmp_path / "handout.zip"
    assert main(["handout", "--assignment", str(assignment), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "out of date" in err and "changed: vae.py" in err and "grader.instructor.build assignment" in err
    assert not out.exists()


def test_a_missing_data_file_stops_the_build(tmp_path):
    with pytest.raises(BuildError, match="make data"):
        build_handout(REFERENCE_DIR, ASSIGNMENT_DIR, tmp_path / "missing.npz", tmp_path / "handout.zip")
