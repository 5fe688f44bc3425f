"""The start-up secrecy check: what the sandbox user can reach, and the loud refusal when it is too much."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.grading import permissions, sandbox
from grader.grading.grade import grade
from grader.grading.session import GradeConfig
from tests.conftest import FLAGSHIP, REFERENCE, validate_results

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the check runs as another user, which needs root")


@pytest.fixture
def tree() -> Iterator[Path]:
    """A folder the sandbox user can enter (pytest's own tmp folders are root's, mode 700)."""
    folder = Path(tempfile.mkdtemp(prefix="vae-permissions-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def make(path: Path, mode: int, text: str = "x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_readable_writable_and_unreadable_paths_are_all_named(tree):
    secret = tree / "reference"
    make(secret / "utils.py", 0o644)
    secret.chmod(0o755)
    protected = tree / "grader"
    make(protected / "grade.py", 0o666)
    protected.chmod(0o755)
    needed = make(tree / "mnist.npz", 0o600)
    found = permissions.exposure(sandbox.sandbox_user(), [secret], [needed], [protected])
    assert ("readable", str(secret)) in found and ("readable", str(secret / "utils.py")) in found
    assert ("writable", str(protected / "grade.py")) in found
    assert ("unreadable", str(needed)) in found


def test_mode_700_secrets_and_root_owned_files_pass(tree):
    secret = tree / "reference"
    make(secret / "utils.py", 0o644)  # readable on its own, but inside a folder nobody else may enter
    secret.chmod(0o700)
    protected = tree / "grader"
    make(protected / "grade.py", 0o644)
    protected.chmod(0o755)
    needed = make(tree / "mnist.npz", 0o644)
    assert permissions.exposure(sandbox.sandbox_user(), [secret], [needed], [protected]) == []


@pytest.fixture
def setuid_mode(monkeypatch: pytest.MonkeyPatch, tree: Path) -> Iterator[Path]:
    """setuid mode forced, with a readable secret: the grader must refuse."""
    secret = tree / "reference"
    make(secret / "utils.py", 0o644, (REFERENCE / "utils.py").read_text())
    secret.chmod(0o755)
    monkeypatch.setenv(sandbox.ISOLATION_VARIABLE, "setuid")
    monkeypatch.setattr(permissions, "secret_paths", lambda extra=(): (secret, *extra))
    monkeypatch.setattr(permissions, "protected_trees", lambda: (tree,))
    sandbox.reset()
    yield secret
    monkeypatch.undo()
    sandbox.reset()


def test_setuid_mode_refuses_loudly_when_a_secret_is_readable(setuid_mode):
    with pytest.raises(sandbox.SandboxRefused) as refusal:
        sandbox.isolation_in_effect()
    message = str(refusal.value)
    assert message.startswith("Refusing to grade") and f"readable: {setuid_mode / 'utils.py'}" in message
    assert "chmod -R go-rwx" in message


@pytest.mark.slow
def test_a_refusal_still_leaves_a_valid_results_json_that_names_it(setuid_mode, tmp_path):
    grade(FLAGSHIP, REFERENCE, tmp_path / "out", GradeConfig(training=False))
    document = validate_results(tmp_path / "out" / "results.json")
    assert document["score"] == 0 and document["extra_data"]["grader_fault"] is True
    staff = "\n".join(test["output"] for test in document["tests"] if test["visibility"] == "hidden")
    assert "Refusing to grade" in staff and str(setuid_mode / "utils.py") in staff
    visible = [test for test in document["tests"] if test["visibility"] == "visible"]
    assert len(visible) == 1 and "its sandbox is not safe on this machine" in visible[0]["output"]
    assert "not your fault" in document["output"]


def test_with_the_permissions_fixed_setuid_mode_is_accepted(setuid_mode):
    setuid_mode.chmod(0o700)
    isolation = sandbox.isolation_in_effect()
    assert isolation.mode is sandbox.Mode.SETUID and isolation.user == sandbox.sandbox_user()
    assert "partial" in isolation.summary()
