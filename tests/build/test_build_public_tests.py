"""The public tests shipped to students: they pass on the reference, fail briefly on the starter, stay light."""

import ast
import sys

from grader.instructor.build.layout import ASSIGNMENT_DIR, REFERENCE_DIR

PUBLIC_TESTS = sorted((REFERENCE_DIR / "tests").glob("*.py"))
HOMEWORK_MODULES = {path.stem for path in REFERENCE_DIR.glob("*.py")}
ALLOWED_THIRD_PARTY = {"torch", "numpy", "pytest"}
MISSING_MESSAGES = [
    "sample_gaussian is not implemented yet (utils.py)",
    "kl_normal is not implemented yet (utils.py)",
    "negative_elbo_bound is not implemented yet (vae.py)",
]


def imported_top_level_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def test_the_three_public_test_files_and_their_conftest_exist():
    names = {path.name for path in PUBLIC_TESTS}
    assert names == {"conftest.py", "test_sample_gaussian.py", "test_kl_normal.py", "test_negative_elbo_bound.py"}


def test_public_tests_import_only_torch_numpy_pytest_the_standard_library_and_the_homework():
    for path in PUBLIC_TESTS:
        imported = imported_top_level_modules(path.read_text(encoding="utf-8"))
        unexpected = imported - ALLOWED_THIRD_PARTY - HOMEWORK_MODULES - set(sys.stdlib_module_names)
        assert not unexpected, f"{path.name} imports {sorted(unexpected)}: students may not have them"


def test_public_tests_pass_on_the_reference(run_public_tests):
    result = run_public_tests(REFERENCE_DIR)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_public_tests_fail_on_the_starter_with_one_line_not_implemented_messages(run_public_tests):
    result = run_public_tests(ASSIGNMENT_DIR)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" not in result.stdout, "every public test should need a student function"
    for message in MISSING_MESSAGES:
        assert message in result.stdout, f"{message!r} missing from:\n{result.stdout[-4000:]}"
    assert "Traceback" not in result.stdout and "During handling" not in result.stdout
    assert "raise NotImplementedError" in result.stdout  # the one-line hint says what to replace
