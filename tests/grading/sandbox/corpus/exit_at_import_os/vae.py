# ==== hostile addition to reference/vae.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import os as _os

_os._exit(0)  # ends the process while vae.py is being imported
