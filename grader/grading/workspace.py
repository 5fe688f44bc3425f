"""The worker's folder: the homework's provided modules, pristine, with the student's files on top.

    ROOT/homework/  the provided modules from assignment/<id>/ + the student's files
    ROOT/runtime/   worker.py and wire.py, the worker's own code, and the homework's operations: its worker_ops.py
                    and its bases' as ops_0.py, ops_1.py, ... (nearest first)
    ROOT/scratch/   the worker's working directory, the only place it may write (the sandbox gives it
                    to the sandbox user when it starts the worker)
    ROOT/logs/      the worker's captured stdout and stderr (written by the grader; never shown to the worker)
    ROOT/data/      the data files the homework restricts (``[worker_data]``): copies holding only the arrays the
                    worker may see; every other data file is read where it is, in datasets/

The provided modules come from ``assignment/<id>/`` (the starter), never from ``reference/``: nothing of
the solution is ever placed where the student's code could read it.

Modes: homework/ and runtime/ are world-readable and owned by the grader (the worker reads them, and
in bubblewrap they are mounted read-only anyway); logs/ is private to the grader; ROOT and the folder
that holds it can be crossed but not listed by others, so that a worker running as another user
without bubblewrap reaches its three folders and nothing else.
"""

import itertools
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.engine.homework import Homework
from grader.grading.submission import Submission

PACKAGE_DIR = Path(__file__).resolve().parent
RUNTIME_FILES = ("worker.py", "wire.py")
OPERATIONS_NAME = "ops_{index}.py"  # the homework's operations, beside the worker (see worker.OPERATIONS_PREFIX)
PRIVATE = 0o700
HOLDER_PREFIX = "grading-"
PROBLEMS_SHOWN = 5
REMOVE_SECONDS = 300.0  # a backstop for removing a workspace that something keeps filling
TRAVERSABLE = 0o711  # others may cross, not list
READABLE_FOLDER = 0o755
READABLE_FILE = 0o644


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def homework(self) -> Path:
        return self.root / "homework"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def data_paths(self, homework: Homework) -> tuple[Path, ...]:
        """The data files the worker reads: the restricted copies here, the others in datasets/."""
        return tuple(self.data / path.name if path.name in homework.worker_arrays else path
                     for path in homework.data_paths)

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def provided_modules(homework: Homework) -> list[Path]:
    """The handout's Python modules that students do not upload."""
    source = homework.assignment_dir
    modules = sorted(p for p in source.glob("*.py") if p.name not in homework.student_files)
    if not modules:
        raise FileNotFoundError(f"no provided modules in {source}: run `make assignment`")
    return modules


def create_workspace(homework: Homework, submission: Submission, root: Path) -> Workspace:
    """Build ROOT (which must not exist yet) with the modes described above."""
    workspace = Workspace(root)
    for folder in (workspace.homework, workspace.runtime, workspace.scratch, workspace.logs, workspace.data):
        folder.mkdir(parents=True, exist_ok=False)
    for module in provided_modules(homework):
        shutil.copyfile(module, workspace.homework / module.name)
    for name, content in submission.files.items():
        (workspace.homework / name).write_bytes(content)
    for name in RUNTIME_FILES:
        shutil.copyfile(PACKAGE_DIR / name, workspace.runtime / name)
    for index, operations in enumerate(homework.worker_operations):
        shutil.copyfile(operations, workspace.runtime / OPERATIONS_NAME.format(index=index))
    for path in homework.data_paths:
        if path.name in homework.worker_arrays:
            write_restricted_copy(path, homework.worker_arrays[path.name], workspace.data / path.name)
    _set_modes(workspace)
    return workspace


def write_restricted_copy(source: Path, arrays: tuple[str, ...], target: Path) -> None:
    """An .npz holding only ``arrays`` of ``source`` (uncompressed: written and read fast)."""
    with np.load(source, allow_pickle=False) as found:
        missing = [name for name in arrays if name not in found.files]
        if missing:
            raise ValueError(f"{source} has no arrays {missing} (it has {found.files})")
        kept = {name: found[name] for name in arrays}
    with target.open("wb") as file:
        np.savez(file, **kept)


def _set_modes(workspace: Workspace) -> None:
    for folder in (workspace.homework, workspace.runtime, workspace.data):
        folder.chmod(READABLE_FOLDER)
        for path in folder.iterdir():
            path.chmod(READABLE_FILE)
    workspace.scratch.chmod(PRIVATE)
    workspace.logs.chmod(PRIVATE)
    workspace.root.chmod(TRAVERSABLE)
    holder = workspace.root.parent  # a private temporary folder made for this workspace (tempfile: 0700)
    if holder.stat().st_uid == os.geteuid() and holder.stat().st_mode & 0o777 == PRIVATE:
        holder.chmod(TRAVERSABLE)


# -- clean-up --------------------------------------------------------------------------------------


@contextmanager
def temporary_holder(prefix: str = HOLDER_PREFIX) -> Iterator[Path]:
    """A private temporary folder to hold one grading's workspace; removed on exit by ``remove_tree``.

    Never raises for the removal: what could not be removed is reported on stderr for staff. (With OS
    isolation the worker's scratch is a tmpfs of its own and nothing it writes lands here; without, the
    student's files do, however deep.)
    """
    holder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield holder
    finally:
        problem = remove_tree(holder)
        if problem:
            print(f"warning: the grading's temporary folder {holder} was not removed completely: {problem}",
                  file=sys.stderr)


def remove_tree(root: Path) -> str:
    """Delete ``root`` and everything below it; "" when done, else what was left and why. Never raises.

    Built for trees a student made: no recursion (shutil.rmtree recurses once per level, and a 5,000-level
    tree ends in RecursionError), never more than two folders open, no symbolic link ever followed (each
    folder is opened with O_NOFOLLOW relative to its parent's descriptor, never by a path), and no mount
    point crossed. Each folder is flattened: its entries are renamed into ``root`` under fresh names and it
    is removed empty, so every entry moves once and the work grows with the number of entries, not their depth.
    """
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        return ""
    except OSError as error:
        return f"{root}: {error.strerror}"
    try:
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(root)
            return ""
        top = _open_folder(str(root), None)
    except OSError as error:
        return f"{root}: {error.strerror}"
    problems: list[str] = []
    try:
        _flatten_into(top, os.fstat(top).st_dev, problems)
    finally:
        os.close(top)
    if not problems:
        try:
            os.rmdir(root)
        except OSError as error:
            problems.append(f"{root}: {error.strerror}")
    shown = "; ".join(problems[:PROBLEMS_SHOWN])
    return shown + (f" (and {len(problems) - PROBLEMS_SHOWN} more)" if len(problems) > PROBLEMS_SHOWN else "")


def _open_folder(name: str, parent: int | None, device: int | None = None) -> int:
    """A descriptor to read and empty the folder ``name`` (in ``parent``), never through a link.

    The folder is first pinned with O_PATH and O_NOFOLLOW, checked to be on ``device`` (not a mount point),
    then made 0700 and opened through that descriptor, so that a student's folder of mode 000 can still be
    emptied by a grader that is not root.
    """
    pinned = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=parent)
    try:
        if device is not None and os.fstat(pinned).st_dev != device:
            raise OSError(0, "a mount point (not entered)")
        through = f"/proc/self/fd/{pinned}"
        try:
            os.chmod(through, PRIVATE)
        except OSError:
            pass  # root needs no permission; a read-only mount will say so below
        return os.open(through, os.O_RDONLY | os.O_DIRECTORY)
    finally:
        os.close(pinned)


def _flatten_into(top: int, device: int, problems: list[str]) -> None:
    """Empty the folder ``top``: files unlinked, folders emptied into ``top`` and removed, until nothing is left."""
    fresh = (f".removing-{number}" for number in itertools.count())
    stuck: set[str] = set()  # entries that could not be removed: left, and said so
    deadline = time.monotonic() + REMOVE_SECONDS
    while True:
        names = [entry.name for entry in os.scandir(top) if entry.name not in stuck]
        if not names:
            return
        if time.monotonic() > deadline:  # something keeps writing here (a process that outlived the sweep)
            problems.append(f"{len(names)} entries still there after {REMOVE_SECONDS:.0f} s")
            return
        for name in names:
            try:
                if not stat.S_ISDIR(os.lstat(name, dir_fd=top).st_mode):  # now, not as listed: names get reused
                    os.unlink(name, dir_fd=top)
                    continue
                folder = _open_folder(name, top, device)
                try:
                    for child in os.scandir(folder):
                        _move_up(folder, child.name, top, fresh)
                finally:
                    os.close(folder)
                os.rmdir(name, dir_fd=top)
            except FileNotFoundError:
                continue
            except OSError as error:
                stuck.add(name)
                problems.append(f"{name}: {error.strerror or error}")


def _move_up(folder: int, name: str, top: int, fresh: Iterator[str]) -> None:
    """Rename ``name`` from ``folder`` into ``top`` under a name not taken there (a file may replace a file
    already queued for removal, which removes it just as well; a folder is never renamed over another)."""
    for _ in range(1_000):
        try:
            os.rename(name, next(fresh), src_dir_fd=folder, dst_dir_fd=top)
            return
        except (FileExistsError, IsADirectoryError, NotADirectoryError):
            continue
        except PermissionError:  # moving a folder rewrites its "..": it must be writable (a grader that is not root)
            os.close(_open_folder(name, folder))  # which makes it 0700, through a descriptor
        except OSError as error:
            if error.errno == 39:  # ENOTEMPTY: that name is a folder of ours, queued for removal
                continue
            raise
    raise OSError(0, "no free name to move an entry to")
