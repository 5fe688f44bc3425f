"""The public tests shipped to students: they pass on the reference, fail briefly on the starter, stay light."""

import ast
import sys

import pytest

from grader.engine.homework import Function
from grader.instructor.build.assemble import starter_files
from tests.conftest import HOMEWORKS
from tests.instructor.build.conftest import assembled_reference

ALLOWED_THIRD_PARTY = {"torch", "numpy", "pytest"}


def imported_top_level_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_each_function_has_its_public_tests_and_they_import_only_what_students_have(homework):
    files = starter_files(homework)
    tests = {name: content for name, content in files.items() if name.startswith("tests/") and name.endswith(".py")}
    for function in homework.functions:  # a function's own tests, or its file's (a class's methods, tested together)
        own, of_file = f"tests/test_{function.name}.py", f"tests/test_{function.file.removesuffix('.py')}.py"
        assert own in tests or of_file in tests, (function.name, sorted(tests))
    modules = {name.removesuffix(".py") for name in files if "/" not in name and name.endswith(".py")}
    for name, content in tests.items():
        unexpected = (imported_top_level_modules(content.decode()) - ALLOWED_THIRD_PARTY - modules
                      - set(sys.stdlib_module_names))
        assert not unexpected, f"{name} imports {sorted(unexpected)}: students may not have them"


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_public_tests_pass_on_the_reference(homework, run_public_tests, tmp_path):
    result = run_public_tests(assembled_reference(homework, tmp_path / homework.id))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_public_tests_fail_on_the_starter_with_one_line_not_implemented_messages(homework, run_public_tests):
    result = run_public_tests(homework.assignment_dir)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" not in result.stdout, "every public test should need a student function"
    def named(function: Function) -> bool:
        return f"{function.name} is not implemented yet ({function.file})" in result.stdout

    for function in homework.functions:  # each one named, unless its class's constructor, still a stub, stops first
        constructor = [f for f in homework.functions if f.name == "__init__" and f.file == function.file]
        assert named(function) or any(map(named, constructor)), f"{function.name} unnamed in:\n{result.stdout[-4000:]}"
    assert "Traceback" not in result.stdout and "During handling" not in result.stdout
    assert "raise NotImplementedError" in result.stdout  # the one-line hint says what to replace
