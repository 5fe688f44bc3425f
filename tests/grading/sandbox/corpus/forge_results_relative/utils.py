# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
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

for _up in range(8):  # from the working directory up to the root: every results.json a grader might use
    _base = "/".join([".."] * _up) or "."
    for _name in ("results.json", "results/results.json", "autograder/results/results.json"):
        _forge(f"{_base}/{_name}")
