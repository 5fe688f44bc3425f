"""A homework's Gradescope package: ``dist/autograder-<id>.zip`` = the engine and that one homework.

Gradescope unpacks the zip into /autograder/source, runs ``setup.sh`` once to build the image, and
``run_autograder`` for every submission. The zip mirrors the repository's layout for one homework, so the
grader finds the reference (for expected values), the starter's provided modules (for the worker) and the
data exactly where it does in the repository:

    setup.sh  run_autograder  Dockerfile  requirements.txt
    grader/__init__.py, __main__.py, engine/, grading/, digits/
                              what grades: the engine, the grading run, the shared digit tools, and a fresh
                              secret for the checks' inputs (grader/engine/check-inputs.secret)
    grader/homeworks/<folder>/   the homework (and any homework it extends): homework.toml, checks/, its
                              trusted and worker code, its calibration
    reference/<id>/           its source assembled from the layers (trusted side only)
    assignment/<id>/          its starter's modules: the provided code the student's files are laid over
    datasets/<data files>

Nothing else is in it: the classroom and instructor tools, the tests and the other homeworks are not
packages it is made of. setup.sh makes the whole of it root-only.
"""

import re
import secrets
from pathlib import Path, PurePosixPath

from grader.engine.check_inputs import SECRET_FILE
from grader.engine.homework import Homework
from grader.instructor.build.assemble import BuildError, reference_files, starter_files
from grader.instructor.build.assignment import differences, read_tree
from grader.instructor.build.handout import write_zip
from grader.instructor.build.layout import REPO_ROOT, autograder_zip

GRADER_DIR = REPO_ROOT / "grader"
GRADESCOPE_DIR = GRADER_DIR / "gradescope"
SHIPPED_PACKAGES = ("engine", "grading", "digits")  # what grades every homework
HOMEWORK_FILES = ("homework.toml", "calibration.json")  # besides its Python code and checks/
SECRET_BYTES = 32
AT_ROOT = ("setup.sh", "run_autograder", "Dockerfile")
EXECUTABLES = frozenset({"setup.sh", "run_autograder"})
MIN_TIME_LIMIT_SECONDS, MAX_TIME_LIMIT_SECONDS = 120, 2_400  # Gradescope allows at most 40 minutes
TIME_LIMIT_LINE = re.compile(r'^time_limit="\$\{AUTOGRADER_TIME_LIMIT:-\d+\}"$', re.MULTILINE)
HOMEWORK_LINE = re.compile(r'^homework="\$\{AUTOGRADER_HOMEWORK:-[\w-]+\}"$', re.MULTILINE)


def _set_line(script: str, pattern: re.Pattern[str], line: str, what: str) -> str:
    text, count = pattern.subn(line, script)
    if count != 1:
        raise BuildError(f"run_autograder has no {what} line to set")
    return text


def with_settings(run_autograder: bytes, seconds: int, homework_id: str) -> bytes:
    """run_autograder with its default time limit and homework set."""
    if not MIN_TIME_LIMIT_SECONDS <= seconds <= MAX_TIME_LIMIT_SECONDS:
        raise BuildError(f"time limit {seconds} s: Gradescope's autograder timeout is between "
                         f"{MIN_TIME_LIMIT_SECONDS} and {MAX_TIME_LIMIT_SECONDS} s here")
    text = _set_line(run_autograder.decode(), TIME_LIMIT_LINE, f'time_limit="${{AUTOGRADER_TIME_LIMIT:-{seconds}}}"',
                     "time_limit")
    text = _set_line(text, HOMEWORK_LINE, f'homework="${{AUTOGRADER_HOMEWORK:-{homework_id}}}"', "homework")
    return text.encode()


def new_secret() -> bytes:
    """A fresh secret for the checks' inputs (grader/engine/check_inputs.py): every package gets its own."""
    return secrets.token_hex(SECRET_BYTES).encode()


def _package(folder: Path) -> dict[str, bytes]:
    """A package's source files (no caches, no data written next to it)."""
    return {name: content for name, content in read_tree(folder).items()
            if name.endswith((".py", ".npz", ".json", ".ini"))}


def _homework_folder(folder: Path) -> dict[str, bytes]:
    files = read_tree(folder)
    return {name: content for name, content in files.items()
            if name in HOMEWORK_FILES or name.endswith(".py") or PurePosixPath(name).parts[0] == "checks"}


def autograder_files(homework: Homework, time_limit: int | None = None,
                     secret: bytes | None = None) -> dict[str, bytes]:
    starter = starter_files(homework)
    stale = differences(starter, read_tree(homework.assignment_dir))
    if stale:
        raise BuildError(f"{homework.assignment_dir} is out of date with its sources; run `make assignment` first")
    files = {name: (GRADESCOPE_DIR / name).read_bytes() for name in AT_ROOT}
    files["run_autograder"] = with_settings(files["run_autograder"], time_limit or homework.time_limit, homework.id)
    files["requirements.txt"] = (REPO_ROOT / "requirements.txt").read_bytes()
    for name in ("__init__.py", "__main__.py"):
        files[f"grader/{name}"] = (GRADER_DIR / name).read_bytes()
    for package in SHIPPED_PACKAGES:
        files.update({f"grader/{package}/{name}": content for name, content in _package(GRADER_DIR / package).items()})
    files["grader/homeworks/__init__.py"] = (GRADER_DIR / "homeworks" / "__init__.py").read_bytes()
    for member in (homework, *homework.bases):
        prefix = f"grader/homeworks/{member.folder.name}"
        files.update({f"{prefix}/{name}": content for name, content in _homework_folder(member.folder).items()})
    files.update({f"reference/{homework.id}/{name}": content for name, content in reference_files(homework).items()
                  if name.endswith(".py") and "/" not in name})
    files.update({f"assignment/{homework.id}/{name}": content for name, content in starter.items()
                  if name.endswith(".py") and "/" not in name})
    for data in homework.data_paths:
        files[f"datasets/{data.name}"] = data.read_bytes()
    files[f"grader/{SECRET_FILE.relative_to(GRADER_DIR).as_posix()}"] = secret or new_secret()
    return dict(sorted(files.items()))


def build_autograder(homework: Homework, out: Path | None = None, time_limit: int | None = None,
                     secret: bytes | None = None) -> list[str]:
    """Write the package (default ``dist/autograder-<id>.zip``); ``secret`` (default: fresh) seeds the checks."""
    files = autograder_files(homework, time_limit, secret)
    write_zip(files, out or autograder_zip(homework.id), executables=EXECUTABLES)
    return list(files)
