# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import os as _os
import subprocess as _subprocess
import time as _time

_subprocess.Popen(["sleep", "3600"], start_new_session=True, stdout=_subprocess.DEVNULL, stderr=_subprocess.DEVNULL)
_first = _os.fork()
if _first == 0:  # a daemon: new session, double fork, the middle process exits
    _os.setsid()
    if _os.fork() == 0:
        while True:
            _time.sleep(0.2)
    _os._exit(0)
_os.waitpid(_first, 0)
print("left a sleep and a daemon running")
