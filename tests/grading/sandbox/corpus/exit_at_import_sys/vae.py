# ==== hostile addition to reference/vae.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import sys as _sys

_sys.exit(0)  # raises SystemExit while vae.py is being imported
