# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import sys as _sys

_line = "x" * (2**20 - 1) + "\n"
for _ in range(100):  # 100 MiB on stdout while utils.py is imported
    _sys.stdout.write(_line)
