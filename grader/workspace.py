"""The worker's folder: the provided homework modules, pristine, with the student's two files on top.

    ROOT/homework/  nns.py data.py train.py ... from assignment/ + the student's utils.py and vae.py
    ROOT/runtime/   worker.py and wire.py, the worker's own code
    ROOT/scratch/   the worker's working directory, the only place it may write (the sandbox gives it
                    to the sandbox user when it starts the worker)
    ROOT/logs/      the worker's captured stdout and stderr (written by the grader; never shown to the worker)

The provided modules come from ``assignment/`` (the starter), never from ``reference/``: nothing of
the solution is ever placed where the student's code could read it.

Modes: homework/ and runtime/ are world-readable and owned by the grader (the worker reads them, and
in bubblewrap they are mounted read-only anyway); logs/ is private to the grader; ROOT and the folder
that holds it can be crossed but not listed by others, so that a worker running as another user
without bubblewrap reaches its three folders and nothing else.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from grader.submission import EXPECTED_FILES, Submission

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
PROVIDED_SOURCE = PROJECT_DIR / "assignment"
DATA_FILE = PROJECT_DIR / "datasets" / "mnist.npz"
RUNTIME_FILES = ("worker.py", "wire.py")
PRIVATE = 0o700
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
    def logs(self) -> Path:
        return self.root / "logs"


def provided_modules(source: Path = PROVIDED_SOURCE) -> list[Path]:
    """The handout's Python modules that students do not upload."""
    modules = sorted(p for p in source.glob("*.py") if p.name not in EXPECTED_FILES)
    if not modules:
        raise FileNotFoundError(f"no provided modules in {source}: run `make assignment`")
    return modules


def create_workspace(submission: Submission, root: Path, source: Path = PROVIDED_SOURCE) -> Workspace:
    """Build ROOT (which must not exist yet) with the modes described above."""
    workspace = Workspace(root)
    for folder in (workspace.homework, workspace.runtime, workspace.scratch, workspace.logs):
        folder.mkdir(parents=True, exist_ok=False)
    for module in provided_modules(source):
        shutil.copyfile(module, workspace.homework / module.name)
    for name, content in submission.files.items():
        (workspace.homework / name).write_bytes(content)
    for name in RUNTIME_FILES:
        shutil.copyfile(PACKAGE_DIR / name, workspace.runtime / name)
    _set_modes(workspace)
    return workspace


def _set_modes(workspace: Workspace) -> None:
    for folder in (workspace.homework, workspace.runtime):
        folder.chmod(READABLE_FOLDER)
        for path in folder.iterdir():
            path.chmod(READABLE_FILE)
    workspace.scratch.chmod(PRIVATE)
    workspace.logs.chmod(PRIVATE)
    workspace.root.chmod(TRAVERSABLE)
    holder = workspace.root.parent  # a private temporary folder made for this workspace (tempfile: 0700)
    if holder.stat().st_uid == os.geteuid() and holder.stat().st_mode & 0o777 == PRIVATE:
        holder.chmod(TRAVERSABLE)
