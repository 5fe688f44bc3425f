"""The seeds of the checks' inputs: unpredictable to students, fixed for a given submission.

A check whose inputs never change hands out its answer: the expected values it prints in one grading
can be returned as constants in the next. Every check therefore draws its inputs from a seed derived
from a secret that only the autograder package holds and from the submission's digest, so that

* the same files get the same inputs, hence the same grade (regrades are reproducible), and
* any other files (a submission that returns what the previous grading showed) get other inputs.

``make autograder`` writes a fresh random secret into the package (SECRET_FILE, made root-only on
Gradescope by setup.sh). In the repository, without that file, a fixed development secret is used:
tests and local gradings stay reproducible, and results say which kind of secret was in effect.
"""

import hashlib
from pathlib import Path

SECRET_FILE = Path(__file__).resolve().parent / "assets" / "check-inputs.secret"
DEVELOPMENT_SECRET = b"development secret: the autograder package carries its own"
SEED_BYTES = 7  # seeds below 2**56: valid for numpy, torch.manual_seed and Python's random
MIN_SECRET_BYTES = 16


def grading_secret(path: Path = SECRET_FILE) -> bytes:
    """The package's secret, or the development secret when the file is absent (the repository)."""
    if not path.is_file():
        return DEVELOPMENT_SECRET
    secret = path.read_bytes().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise RuntimeError(f"{path} holds {len(secret)} bytes; a secret needs at least {MIN_SECRET_BYTES} "
                           "(rebuild the package with make autograder)")
    return secret


def secret_kind(path: Path = SECRET_FILE) -> str:
    """For results' extra_data: which secret was in effect (never the secret itself)."""
    return "package secret" if path.is_file() else "development secret"


def check_seed(secret: bytes, submission_digest: str, label: str) -> int:
    """A seed for the inputs of the check named ``label``, for the submission with ``submission_digest``."""
    digest = hashlib.sha256(b"\0".join((secret, submission_digest.encode(), label.encode()))).digest()
    return int.from_bytes(digest[:SEED_BYTES], "big")
