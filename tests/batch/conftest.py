"""Fixtures of the batch tests: the class of tests/batch/classroom.py as a Gradescope export .zip."""

from pathlib import Path

import pytest

from tests.batch.classroom import Student, build_class, write_export, zip_folder


@pytest.fixture(scope="session")
def class_students() -> list[Student]:
    return build_class()


@pytest.fixture(scope="session")
def class_export_zip(class_students: list[Student], tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("export")
    folder = write_export(class_students, base / "assignment_7001_export")
    return zip_folder(folder, base / "assignment_7001_export.zip", top="assignment_7001_export")
