"""A homework may restrict what the worker reads of a data file (``[worker_data]``): the workspace holds a copy with
only the named arrays, and the training worker is given that copy, never the file in datasets/."""

import dataclasses

import numpy as np
import pytest

from grader.engine.homework import HomeworkError
from grader.grading.submission import Submission
from grader.grading.workspace import create_workspace, write_restricted_copy
from tests.conftest import FLAGSHIP


def restricted(homework, arrays):
    return dataclasses.replace(homework, worker_arrays={"mnist.npz": arrays})


def test_the_copy_holds_only_the_named_arrays(tmp_path):
    source = tmp_path / "source.npz"
    np.savez(source, x_train=np.arange(6, dtype=np.uint8), x_test=np.ones(3))
    write_restricted_copy(source, ("x_train",), tmp_path / "copy.npz")
    with np.load(tmp_path / "copy.npz", allow_pickle=False) as copy:
        assert copy.files == ["x_train"] and copy["x_train"].tolist() == list(range(6))
    with pytest.raises(ValueError, match="no arrays"):
        write_restricted_copy(source, ("y_train",), tmp_path / "other.npz")


def test_the_workspace_gives_the_worker_the_restricted_copy(tmp_path):
    homework = restricted(FLAGSHIP, ("x_train",))
    files = {name: (FLAGSHIP.assignment_dir / name).read_bytes() for name in FLAGSHIP.student_files}
    workspace = create_workspace(homework, Submission(FLAGSHIP.student_files, files=files), tmp_path / "workspace")
    (path,) = workspace.data_paths(homework)
    assert path == workspace.data / "mnist.npz" and path.parent != FLAGSHIP.data_paths[0].parent
    with np.load(path, allow_pickle=False) as copy:
        assert copy.files == ["x_train"] and copy["x_train"].shape == (60_000, 784)
    unrestricted = create_workspace(FLAGSHIP, Submission(FLAGSHIP.student_files, files=files), tmp_path / "other")
    assert unrestricted.data_paths(FLAGSHIP) == FLAGSHIP.data_paths and not any(unrestricted.data.iterdir())


def test_a_restriction_must_name_a_data_file_and_arrays(tmp_path):
    from grader.engine.homework import _validate

    with pytest.raises(HomeworkError, match="worker_data"):
        _validate(dataclasses.replace(FLAGSHIP, worker_arrays={"other.npz": ("x",)}), "here")
    with pytest.raises(HomeworkError, match="worker_data"):
        _validate(restricted(FLAGSHIP, ()), "here")
