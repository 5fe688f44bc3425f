"""A draft homework (``draft = true``) gets its starter, for grading it in development, but never a handout or an
autograder: the build says so and what to do."""

import dataclasses

import pytest

from grader.instructor.build import __main__ as build
from tests.conftest import FLAGSHIP


@pytest.mark.parametrize("command", ["handout", "autograder"])
def test_a_draft_is_never_packaged(command, monkeypatch, tmp_path, capsys):
    draft = dataclasses.replace(FLAGSHIP, draft=True)
    monkeypatch.setattr(build, "load_homework", lambda homework_id=None: draft)
    assert build.main([command, "--homework", FLAGSHIP.id, "--out", str(tmp_path / "out.zip")]) == 1
    error = capsys.readouterr().err
    assert "is a draft" in error and "remove the flag" in error
    assert not (tmp_path / "out.zip").exists()


def test_a_drafts_starter_is_generated(monkeypatch, tmp_path):
    draft = dataclasses.replace(FLAGSHIP, draft=True)
    monkeypatch.setattr(build, "load_homework", lambda homework_id=None: draft)
    assert build.main(["assignment", "--homework", FLAGSHIP.id, "--out", str(tmp_path / "starter")]) == 0
    assert (tmp_path / "starter" / "vae.py").exists()
