# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import subprocess as _subprocess
import sys as _sys

# The loop runs in a small Python of its own (forking the worker, torch and all, costs ~50 ms a child).
_FORK_LOOP = """
import os, time
sleepers, children = 8, []
for _ in range(600):  # bounded, but far more than the process limit
    try:
        pid = os.fork()
    except OSError as error:
        print(f"fork refused after {len(children)} children: {error}", flush=True)
        break
    if pid == 0:
        time.sleep(3_600 if len(children) < sleepers else 1)
        os._exit(0)
    children.append(pid)
else:
    print(f"forked {len(children)} children", flush=True)
for pid in children[sleepers:]:  # all but the sleepers exit, so that torch can still start its threads
    os.waitpid(pid, 0)
"""
_subprocess.run([_sys.executable, "-S", "-c", _FORK_LOOP], check=False)
