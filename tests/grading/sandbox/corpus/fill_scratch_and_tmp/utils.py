# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import os as _os

# Files of 32 MiB (each under the 64 MiB file-size limit) until 512 MiB fill the working directory (scratch) and
# /tmp; one small file in /var/tmp and /dev/shm, the world-writable folders of the machine. Nothing is deleted.
_CHUNK = b"\x01" * 2**20
for _place, _folder in (("scratch", "."), ("/tmp", "/tmp")):
    _written, _problem = 0, ""
    try:
        for _index in range(16):
            with open(f"{_folder}/vae-corpus-fill-{_os.getpid()}-{_index}.bin", "wb") as _handle:
                for _ in range(32):
                    _handle.write(_CHUNK)
                    _written += 1
    except OSError as _error:
        _problem = str(_error)
    if _problem:
        print(f"{_place}: stopped after {_written} MiB ({_problem})", flush=True)
    else:
        print(f"FILLED {_place} with {_written} MiB", flush=True)
for _folder in ("/var/tmp", "/dev/shm"):
    try:
        with open(f"{_folder}/vae-corpus-fill-{_os.getpid()}.txt", "w") as _handle:
            _handle.write("left behind by the corpus case fill_scratch_and_tmp\n")
        print(f"wrote a file in {_folder}", flush=True)
    except OSError as _error:
        print(f"{_folder}: {_error}", flush=True)
