# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import os as _os

for _path, _megabytes in (("/tmp/fill.bin", 512), ("scratch-fill.bin", 128)):
    _written = 0
    try:
        with open(_path, "wb") as _handle:
            for _ in range(_megabytes):
                _handle.write(b"\0" * 2**20)
                _written += 1
        print(f"wrote {_written} MiB to {_path}")
    except OSError as _error:
        print(f"stopped after {_written} MiB in {_path}: {_error}")
    finally:
        if _os.path.exists(_path):
            _os.remove(_path)
