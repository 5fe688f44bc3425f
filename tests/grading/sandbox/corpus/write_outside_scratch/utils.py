# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
_GRADER_DIR = "__DECOY_DIR__"  # the test puts a folder made like /autograder here
if _GRADER_DIR.startswith("__"):
    _GRADER_DIR = "/autograder"

_PROJECT_DIR = "__PROJECT_DIR__"  # the test puts the grader's repository here
if _PROJECT_DIR.startswith("__"):
    _PROJECT_DIR = "/autograder/source"

import os as _os
import sys as _sys


def _try_write(path, text):
    """Really write (only where the test made decoys or in the worker's own workspace)."""
    try:
        with open(path, "a") as handle:
            handle.write(text)
        print(f"WROTE: {path}")
    except OSError as error:
        print(f"could not write {path}: {error}")


def _try_open(path):
    """Open for appending and write nothing: shared files are tested, never changed."""
    try:
        with open(path, "ab"):
            pass
        print(f"WRITABLE: {path}")
    except OSError as error:
        print(f"could not open {path} for writing: {error}")


_here = _os.path.dirname(_os.path.abspath(__file__))  # the homework folder
for _path in (f"{_here}/utils.py", f"{_here}/nns.py", f"{_here}/../runtime/worker.py", f"{_here}/../runtime/wire.py",
              f"{_here}/../logs/unit-1.stdout", f"{_here}/../results.json", f"{_GRADER_DIR}/sentinel.txt",
              f"{_GRADER_DIR}/source/grader/injected.py"):
    _try_write(_path, "\n# FORGED\n")
for _path in (f"{_PROJECT_DIR}/datasets/mnist.npz", f"{_PROJECT_DIR}/reference/utils.py", _os.__file__,
              torch.__file__, _sys.executable, "/etc/passwd"):
    _try_open(_path)
for _path in ("scratch-file.txt", "/tmp/tmp-file.txt"):  # the worker's own places
    with open(_path, "w") as _handle:
        _handle.write("allowed\n")
