"""Removing a grading's workspace whatever the student left in it: deep, locked, linked to the outside."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.grading import workspace
from grader.grading.workspace import remove_tree, temporary_holder
from tests.conftest import ROOT

IS_ROOT = os.geteuid() == 0
NOBODY = 65534
DEPTH = 5_000


def hostile_tree(root: Path, outside: Path, depth: int = DEPTH) -> None:
    """A chain ``depth`` folders deep (deeper than PATH_MAX allows to name), links out every 1,000 levels, a locked
    folder, a hard link to an outside file, a FIFO, and names that the removal itself uses."""
    root.mkdir()
    for number in range(3):
        (root / f".removing-{number}").mkdir()
        (root / f".removing-{number}" / "x").write_text("taken")
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for level in range(depth):
        os.mkdir("d", dir_fd=folder)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
        os.close(folder)
        folder = inner
        if level % 1_000 == 999:
            os.symlink(str(outside), "link", dir_fd=folder)
            os.symlink(str(outside / "keep.txt"), "file-link", dir_fd=folder)
            os.link(outside / "keep.txt", "hard-link", dst_dir_fd=folder)
    os.mkfifo("fifo", dir_fd=folder)
    os.mkdir("locked", dir_fd=folder)
    locked = os.open("locked", os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
    os.mkdir("inside", dir_fd=locked)
    os.close(locked)
    os.chmod("locked", 0, dir_fd=folder)
    os.close(folder)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "keep.txt").write_text("must survive")
    return folder


def test_a_deep_linked_locked_tree_is_removed_and_nothing_outside_it(tmp_path, outside):
    root = tmp_path / "scratch"
    hostile_tree(root, outside)
    with pytest.raises(RecursionError):
        shutil.rmtree(root)  # what tempfile.TemporaryDirectory did
    assert remove_tree(root) == ""
    assert not root.exists()
    assert (outside / "keep.txt").read_text() == "must survive" and (outside / "keep.txt").stat().st_nlink == 1


@pytest.mark.skipif(not IS_ROOT, reason="needs root to become another user")
def test_a_grader_that_is_not_root_removes_its_own_locked_folders(tmp_path, outside):
    holder = tmp_path / "holder"
    holder.mkdir()
    script = ("import sys; from pathlib import Path; from grader.grading.workspace import remove_tree; "
              "from tests.grading.sandbox.test_workspace_cleanup import hostile_tree; "
              "root, outside = Path(sys.argv[1]), Path(sys.argv[2]); hostile_tree(root, outside, 1_500); "
              "print(repr(remove_tree(root)), root.exists())")
    for path in (holder, outside, outside / "keep.txt"):
        os.chown(path, NOBODY, NOBODY)
    for folder in (tmp_path, *tmp_path.parents):
        if str(folder).startswith("/tmp/"):
            folder.chmod(folder.stat().st_mode | 0o711)
    completed = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                sys.executable, "-c", script, str(holder / "scratch"), str(outside)],
                               cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert completed.stdout.strip() == "'' False", completed.stderr[-2000:]
    assert (outside / "keep.txt").read_text() == "must survive"


def test_a_link_or_a_file_as_the_root_is_removed_alone(tmp_path, outside):
    link = tmp_path / "link"
    link.symlink_to(outside)
    assert remove_tree(link) == "" and not link.is_symlink() and (outside / "keep.txt").exists()
    assert remove_tree(tmp_path / "never-made") == ""


@pytest.mark.skipif(not IS_ROOT, reason="mounting a tmpfs needs root")
def test_what_cannot_be_removed_is_reported_not_raised(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(workspace.tempfile, "tempdir", str(tmp_path))
    with temporary_holder() as holder:
        mount_point = holder / "mounted"
        mount_point.mkdir()
        (mount_point / "inside").mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                          capture_output=True, check=False).returncode != 0:
            pytest.skip("mount refused here")
        (mount_point / "on-the-tmpfs").write_text("x")
    try:
        assert "a mount point (not entered)" in capsys.readouterr().err
        assert (mount_point / "on-the-tmpfs").exists()  # never entered
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)
    assert remove_tree(holder) == "" and not holder.exists()
