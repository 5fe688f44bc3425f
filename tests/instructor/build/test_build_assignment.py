"""assignment/<id>/: generated from the homework's layers, up to date, complete, free of caches, compiling and ruff
clean; a solution region is stripped only where its function is the homework's own."""

import sys

import pytest

from grader.engine.homework import COMMON_LAYER
from grader.instructor.build import __main__ as build_cli
from grader.instructor.build.assemble import BuildError, layered_sources, starter_files
from grader.instructor.build.assignment import check_assignment, write_assignment
from grader.instructor.build.layout import REPO_ROOT
from grader.instructor.build.solutions import MarkerError
from tests.conftest import FLAGSHIP, HOMEWORKS
from tests.instructor.build.conftest import copy_reference

PROVIDED_REGION = '''

def provided_helper(x: float) -> float:
    """Written by students in another homework: provided, with its solution, here."""
    # BEGIN SOLUTION
    # > Double x.
    return 2 * x
    # END SOLUTION
'''


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_every_starter_is_what_the_tool_generates_now(homework):
    stale = check_assignment(homework)
    assert stale == [], f"{homework.assignment_dir} is stale, run `make assignment`: {stale}"


def test_check_flag_passes_on_the_repository(capsys):
    assert build_cli.main(["assignment", "--check"]) == 0
    assert capsys.readouterr().out.count("up to date") == len(HOMEWORKS)


def test_check_flag_fails_and_lists_every_difference(tmp_path, capsys):
    out = tmp_path / "assignment"
    write_assignment(FLAGSHIP, out)
    (out / "utils.py").write_text("changed\n")
    (out / "tests" / "test_kl_normal.py").unlink()
    (out / "notes.txt").write_text("extra\n")
    (out / "__pycache__").mkdir()
    (out / "__pycache__" / "utils.cpython-311.pyc").write_bytes(b"ignored")
    assert build_cli.main(["assignment", "--check", "--homework", FLAGSHIP.id, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "stale" in err
    for line in ["changed: utils.py", "missing: tests/test_kl_normal.py", "extra: notes.txt"]:
        assert line in err
    assert "pycache" not in err


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_a_starter_holds_its_layers_files_with_its_own_solutions_stripped(homework):
    sources = layered_sources(homework)
    files = starter_files(homework)
    assert list(files) == sorted(sources) and {"README.md", "Makefile", "tests/conftest.py"} <= set(files)
    for function in homework.functions:  # its own public tests, or its file's (a class's methods, tested together)
        assert {f"tests/test_{function.name}.py", f"tests/test_{function.file.removesuffix('.py')}.py"} & set(files)
    assert sources["README.md"].parent.name != COMMON_LAYER, "every homework writes its own handout text"
    for function in homework.functions:
        text = files[function.file].decode("utf-8")
        assert f'raise NotImplementedError("{function.name}: not implemented yet' in text
    for name, content in files.items():
        assert b"BEGIN SOLUTION" not in content and b"END SOLUTION" not in content, name
    makefile = files["Makefile"].decode()
    assert f"SUBMITTED := {' '.join(homework.student_files)}" in makefile and "@STUDENT_FILES@" not in makefile
    for name in ("nns.py", "data.py"):
        if name in files:  # a homework whose networks are the student's ships no nns.py
            assert files[name] == sources[name].read_bytes(), f"{name} must be copied unchanged"


def test_a_homework_extending_another_overrides_only_what_differs():
    derived = next(homework for homework in HOMEWORKS if homework.bases)
    sources = layered_sources(derived)
    own = {name for name, path in sources.items() if path.parent.name == derived.id}
    assert own and own <= {"README.md", "hyperparameters.py"} | {name for name in sources if name.startswith("tests/")}
    assert starter_files(derived)["utils.py"] == starter_files(derived.bases[0])["utils.py"]


def test_a_module_the_declaration_omits_does_not_ship():
    omitting = [homework for homework in HOMEWORKS if homework.omitted]
    assert omitting, "cvae omits the common layer's vae.py"
    for homework in omitting:
        files = starter_files(homework)
        assert not set(homework.omitted) & set(files)
        assert all((layer / name).exists() for name in homework.omitted for layer in homework.reference_layers[-1:])


def test_a_region_of_a_function_the_homework_does_not_assign_ships_with_its_solution(tmp_path):
    homework, root = copy_reference(tmp_path, FLAGSHIP)
    utils = root / COMMON_LAYER / "utils.py"
    utils.write_text(utils.read_text() + PROVIDED_REGION)
    text = starter_files(homework)["utils.py"].decode()
    assert "    return 2 * x\n" in text and "# > Double x." not in text
    assert "provided_helper: not implemented" not in text


def test_every_starter_module_compiles():
    for homework in HOMEWORKS:
        for name, content in starter_files(homework).items():
            if name.endswith(".py"):
                compile(content, f"{homework.id}/{name}", "exec")


def test_the_starters_are_ruff_clean(run_command):
    result = run_command([sys.executable, "-m", "ruff", "check", "--no-cache", "assignment"], cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generation_is_deterministic_and_skips_caches(tmp_path):
    homework, root = copy_reference(tmp_path, FLAGSHIP)
    (root / COMMON_LAYER / "__pycache__").mkdir()
    (root / COMMON_LAYER / "__pycache__" / "utils.cpython-311.pyc").write_bytes(b"cache")
    (root / COMMON_LAYER / "tests" / "__pycache__").mkdir()
    (root / COMMON_LAYER / ".ruff_cache").mkdir()
    (root / COMMON_LAYER / "notes.txt").write_text("instructor notes are not shipped\n")
    first, second = tmp_path / "first", tmp_path / "second"
    write_assignment(homework, first)
    write_assignment(homework, second)
    written = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert written == sorted(starter_files(FLAGSHIP))
    for name in written:
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_regeneration_replaces_the_old_starter(tmp_path):
    out = tmp_path / "assignment"
    write_assignment(FLAGSHIP, out)
    (out / "leftover.py").write_text("x = 1\n")
    write_assignment(FLAGSHIP, out)
    assert not (out / "leftover.py").exists()
    assert check_assignment(FLAGSHIP, out) == []


def test_refuses_to_overwrite_a_folder_that_is_not_a_starter(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete\n")
    with pytest.raises(BuildError, match="refusing to replace"):
        write_assignment(FLAGSHIP, precious)
    assert (precious / "thesis.tex").exists()
    with pytest.raises(BuildError, match="holds the reference"):
        write_assignment(FLAGSHIP, FLAGSHIP.reference_layers[-1])


def test_marker_errors_name_the_file_and_line_and_the_command_line_exits_1(tmp_path, capsys, monkeypatch):
    homework, root = copy_reference(tmp_path, FLAGSHIP)
    broken = root / COMMON_LAYER / "broken.py"
    broken.write_text("def f():\n    # BEGIN SOLUTION\n    # > Do it.\n    return 1\n")
    with pytest.raises(MarkerError, match=f"{broken}:2: unbalanced"):
        starter_files(homework)
    monkeypatch.setattr(build_cli, "load_homework", lambda homework_id: homework)
    assert build_cli.main(["assignment", "--homework", FLAGSHIP.id, "--out", str(tmp_path / "out")]) == 1
    assert f"{broken}:2: unbalanced" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_readme_is_an_error(tmp_path):
    homework, root = copy_reference(tmp_path, FLAGSHIP)
    (root / FLAGSHIP.id / "README.md").unlink()
    with pytest.raises(BuildError, match=r"README\.md is in none of its layers"):
        starter_files(homework)


def test_a_function_students_write_must_have_a_solution_region(tmp_path):
    homework, root = copy_reference(tmp_path, FLAGSHIP)
    utils = root / COMMON_LAYER / "utils.py"
    text = utils.read_text()
    start, end = text.index("    # BEGIN SOLUTION\n    # > Reparameterization"), text.index("    # END SOLUTION\n")
    utils.write_text(text[:start] + "    return m + torch.sqrt(v) * torch.randn_like(m)\n"
                     + text[end + len("    # END SOLUTION\n"):])
    with pytest.raises(BuildError, match="no solution region in sample_gaussian"):
        starter_files(homework)


def test_a_region_of_a_student_function_in_a_provided_file_is_refused(tmp_path):
    homework, root = copy_reference(tmp_path, FLAGSHIP)
    nns = root / COMMON_LAYER / "nns.py"
    nns.write_text(nns.read_text() + "\n\ndef kl_normal(a: int) -> int:\n    # BEGIN SOLUTION\n    # > x\n"
                   "    return a\n    # END SOLUTION\n")
    with pytest.raises(BuildError, match=r"would ship in the provided nns\.py"):
        starter_files(homework)
