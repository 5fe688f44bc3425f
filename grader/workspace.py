"""The worker's folder: the provided homework modules, pristine, with the student's two files on top.

    ROOT/homework/  nns.py data.py train.py ... from assignment/ + the student's utils.py and vae.py
    ROOT/runtime/   worker.py and wire.py, the worker's own code
    ROOT/scratch/   the worker's working directory, the only place it is meant to write
    ROOT/logs/      the worker's captured stdout and stderr (written through file descriptors)

The provided modules come from ``assignment/`` (the starter), never from ``reference/``: nothing of
the solution is ever placed where the student's code could read it.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from grader.submission import EXPECTED_FILES, Submission

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
PROVIDED_SOURCE = PROJECT_DIR / "assignment"
DATA_FILE = PROJECT_DIR / "datasets" / "mnist.npz"
RUNTIME_FILES = ("worker.py", "wire.py")


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
    workspace = Workspace(root)
    for folder in (workspace.homework, workspace.runtime, workspace.scratch, workspace.logs):
        folder.mkdir(parents=True, exist_ok=False)
    for module in provided_modules(source):
        shutil.copyfile(module, workspace.homework / module.name)
    for name, content in submission.files.items():
        (workspace.homework / name).write_bytes(content)
    for name in RUNTIME_FILES:
        shutil.copyfile(PACKAGE_DIR / name, workspace.runtime / name)
    return workspace
