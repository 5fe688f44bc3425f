"""The Gradescope package: ``dist/autograder.zip``.

Gradescope unpacks the zip into /autograder/source, runs ``setup.sh`` once to build the image, and
``run_autograder`` for every submission. The zip mirrors the repository's layout, so the grader finds
the reference (for expected values), the starter's provided modules (for the worker) and the data
exactly where it does in the repository:

    setup.sh  run_autograder  Dockerfile  requirements.txt
    grader/        the grader package, without the build and instructor tools, with a fresh secret for the
                   checks' inputs (grader/assets/check-inputs.secret; root-only once setup.sh has run)
    reference/     the solution modules (trusted side only; made root-only by setup.sh)
    assignment/    the starter's modules: the provided code the student's two files are laid over
    datasets/mnist.npz
"""

import re
import secrets
from pathlib import Path

from grader.build.assignment import BuildError, assignment_files, differences, read_tree
from grader.build.handout import write_zip
from grader.build.layout import ASSIGNMENT_DIR, DATA_FILE, REFERENCE_DIR, REPO_ROOT
from grader.check_inputs import SECRET_FILE

AUTOGRADER_ZIP = REPO_ROOT / "dist" / "autograder.zip"
GRADER_DIR = REPO_ROOT / "grader"
GRADESCOPE_DIR = GRADER_DIR / "gradescope"
SECRET_BYTES = 32
AT_ROOT = ("setup.sh", "run_autograder", "Dockerfile")
EXECUTABLES = frozenset({"setup.sh", "run_autograder"})
DEFAULT_TIME_LIMIT_SECONDS = 600  # Gradescope's default autograder timeout
MIN_TIME_LIMIT_SECONDS, MAX_TIME_LIMIT_SECONDS = 120, 2_400  # Gradescope allows at most 40 minutes
TIME_LIMIT_LINE = re.compile(r'^time_limit="\$\{AUTOGRADER_TIME_LIMIT:-\d+\}"$', re.MULTILINE)
# Instructor tools that the grader does not need at grading time.
GRADER_EXCLUDED = ("build/", "gradescope/", "bench.py", "bench_gradescope.py", "calibrate.py", "train_classifier.py",
                   "batch.py", "export.py", "report.py")


def _python_modules(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.py"))}


def with_time_limit(run_autograder: bytes, seconds: int) -> bytes:
    """run_autograder with its default time limit set to the assignment's Gradescope timeout."""
    if not MIN_TIME_LIMIT_SECONDS <= seconds <= MAX_TIME_LIMIT_SECONDS:
        raise BuildError(f"time limit {seconds} s: Gradescope's autograder timeout is between "
                         f"{MIN_TIME_LIMIT_SECONDS} and {MAX_TIME_LIMIT_SECONDS} s here")
    text, count = TIME_LIMIT_LINE.subn(f'time_limit="${{AUTOGRADER_TIME_LIMIT:-{seconds}}}"', run_autograder.decode())
    if count != 1:
        raise BuildError("run_autograder has no time_limit line to set")
    return text.encode()


def new_secret() -> bytes:
    """A fresh secret for the checks' inputs (grader/check_inputs.py): every package built gets its own."""
    return secrets.token_hex(SECRET_BYTES).encode()


def autograder_files(reference: Path = REFERENCE_DIR, assignment: Path = ASSIGNMENT_DIR,
                     data_file: Path = DATA_FILE, time_limit: int = DEFAULT_TIME_LIMIT_SECONDS,
                     secret: bytes | None = None) -> dict[str, bytes]:
    stale = differences(assignment_files(reference), read_tree(assignment))
    if stale:
        raise BuildError(f"{assignment} is out of date with {reference}; run `make assignment` first")
    files = {name: (GRADESCOPE_DIR / name).read_bytes() for name in AT_ROOT}
    files["run_autograder"] = with_time_limit(files["run_autograder"], time_limit)
    files["requirements.txt"] = (REPO_ROOT / "requirements.txt").read_bytes()
    for name, content in read_tree(GRADER_DIR).items():
        if not name.startswith(GRADER_EXCLUDED) and name != SECRET_FILE.name:
            files[f"grader/{name}"] = content
    files.update({f"reference/{name}": content for name, content in _python_modules(reference).items()})
    files.update({f"assignment/{name}": content for name, content in _python_modules(assignment).items()})
    files["datasets/mnist.npz"] = data_file.read_bytes()
    files[f"grader/{SECRET_FILE.relative_to(GRADER_DIR).as_posix()}"] = secret or new_secret()
    return dict(sorted(files.items()))


def build_autograder(out: Path = AUTOGRADER_ZIP, time_limit: int = DEFAULT_TIME_LIMIT_SECONDS,
                     secret: bytes | None = None) -> list[str]:
    """Write the package; ``secret`` (default: a fresh random one) seeds the checks' inputs."""
    files = autograder_files(time_limit=time_limit, secret=secret)
    write_zip(files, out, executables=EXECUTABLES)
    return list(files)
