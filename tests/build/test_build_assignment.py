"""assignment/: generated from reference/, up to date, complete, free of caches, compiling and ruff clean."""

import shutil
import sys

import pytest

from grader.instructor.build.__main__ import main
from grader.instructor.build.assignment import BuildError, assignment_files, check_assignment, write_assignment
from grader.instructor.build.layout import ASSIGNMENT_DIR, REFERENCE_DIR, REPO_ROOT

STUDENT_FUNCTIONS = {"utils.py": ["sample_gaussian", "kl_normal"], "vae.py": ["negative_elbo_bound"]}


def copy_reference(tmp_path):
    """A copy of reference/ to experiment on, without caches."""
    copy = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", ".*_cache"))
    return copy


def test_assignment_folder_is_what_the_tool_generates_now():
    stale = check_assignment(REFERENCE_DIR, ASSIGNMENT_DIR)
    assert stale == [], f"assignment/ is stale, run `python -m grader.build assignment`: {stale}"


def test_check_flag_passes_on_the_repository(capsys):
    assert main(["assignment", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_flag_fails_and_lists_every_difference(tmp_path, capsys):
    out = tmp_path / "assignment"
    write_assignment(REFERENCE_DIR, out)
    (out / "utils.py").write_text("changed\n")
    (out / "tests" / "test_kl_normal.py").unlink()
    (out / "notes.txt").write_text("extra\n")
    (out / "__pycache__").mkdir()
    (out / "__pycache__" / "utils.cpython-311.pyc").write_bytes(b"ignored")

    assert main(["assignment", "--check", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "stale" in err
    for line in ["changed: utils.py", "missing: tests/test_kl_normal.py", "extra: notes.txt"]:
        assert line in err
    assert "pycache" not in err


def test_the_starter_holds_the_stripped_modules_tests_readme_and_makefile_only():
    files = assignment_files(REFERENCE_DIR)
    expected = {path.name for path in REFERENCE_DIR.glob("*.py")} | {"README.md", "Makefile"}
    expected |= {f"tests/{path.name}" for path in (REFERENCE_DIR / "tests").glob("*.py")}
    assert set(files) == expected
    assert list(files) == sorted(files)
    for name, functions in STUDENT_FUNCTIONS.items():
        text = files[name].decode("utf-8")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        for function in functions:
            assert f'raise NotImplementedError("{function}: not implemented yet' in text
    for name in ["nns.py", "data.py", "README.md", "Makefile", "tests/conftest.py"]:
        assert files[name] == (REFERENCE_DIR / name).read_bytes(), f"{name} must be copied unchanged"


def test_every_starter_module_compiles():
    for name, content in assignment_files(REFERENCE_DIR).items():
        if name.endswith(".py"):
            compile(content, name, "exec")


def test_the_starter_is_ruff_clean(run_command):
    result = run_command([sys.executable, "-m", "ruff", "check", "--no-cache", "assignment"], cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generation_is_deterministic_and_skips_caches(tmp_path):
    reference = copy_reference(tmp_path)
    (reference / "__pycache__").mkdir()
    (reference / "__pycache__" / "utils.cpython-311.pyc").write_bytes(b"cache")
    (reference / "tests" / "__pycache__").mkdir()
    (reference / "tests" / "__pycache__" / "conftest.cpython-311.pyc").write_bytes(b"cache")
    (reference / ".ruff_cache").mkdir()
    (reference / "notes.txt").write_text("instructor notes are not shipped\n")

    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["assignment", "--reference", str(reference), "--out", str(first)]) == 0
    write_assignment(reference, second)
    written = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert written == sorted(assignment_files(REFERENCE_DIR))
    for name in written:
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_regeneration_replaces_the_old_starter(tmp_path):
    out = tmp_path / "assignment"
    write_assignment(REFERENCE_DIR, out)
    (out / "leftover.py").write_text("x = 1\n")
    write_assignment(REFERENCE_DIR, out)
    assert not (out / "leftover.py").exists()
    assert check_assignment(REFERENCE_DIR, out) == []


def test_refuses_to_overwrite_a_folder_that_is_not_a_starter(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete\n")
    with pytest.raises(BuildError, match="refusing to replace"):
        write_assignment(REFERENCE_DIR, precious)
    assert (precious / "thesis.tex").exists()
    with pytest.raises(BuildError, match="holds the reference"):
        write_assignment(REFERENCE_DIR, REFERENCE_DIR)


def test_marker_errors_reach_the_command_line_as_exit_code_1(tmp_path, capsys):
    reference = copy_reference(tmp_path)
    (reference / "broken.py").write_text("def f():\n    # BEGIN SOLUTION\n    # > Do it.\n    return 1\n")
    assert main(["assignment", "--reference", str(reference), "--out", str(tmp_path / "out")]) == 1
    assert f"{reference / 'broken.py'}:2: unbalanced" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_readme_is_an_error(tmp_path):
    reference = copy_reference(tmp_path)
    (reference / "README.md").unlink()
    with pytest.raises(BuildError, match=r"README\.md is missing"):
        assignment_files(reference)
