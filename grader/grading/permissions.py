"""What the worker's user must never reach, and a check, run as that user, that it cannot.

In the sandbox's ``setuid`` mode (root without bubblewrap) file permissions are all that keep the
student's code away from the solution, the checks and the results, so the grader checks them before
it grades: every entry below a secret path must be neither readable nor writable by the sandbox user,
nothing in the project or in /autograder may be writable by it, and the files the worker needs (Python,
torch, numpy, the data files) must be readable. The check itself runs as the sandbox user: the kernel
answers, not a reading of mode bits.
"""

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
SECRET_NAMES = ("reference", "grader", "tests", ".git", "runs", "results", "reports", "dist")
GRADESCOPE_DIR = Path("/autograder")
GRADESCOPE_SECRETS = ("run_autograder", "results", "setup.sh")
DATASETS_DIR = PROJECT_DIR / "datasets"
DATA_SUFFIXES = (".npz",)
CHECK_SECONDS = 120.0
MESSAGE_ENTRIES = 12

CHECK_CODE = """
import json, os, sys
paths = json.load(sys.stdin)
found = [["readable", p] for p in paths["secret"] if os.access(p, os.R_OK)]
found += [["writable", p] for p in paths["secret"] + paths["protected"] if os.access(p, os.W_OK)]
found += [["unreadable", p] for p in paths["required"] if not os.access(p, os.R_OK)]
json.dump(found, sys.stdout)
"""


@dataclass(frozen=True)
class SandboxUser:
    """The user the worker runs as."""

    name: str
    uid: int
    gid: int


def secret_paths(extra: Sequence[Path] = ()) -> tuple[Path, ...]:
    """The solution, the grader's sources and checks, the tests, the git history, results and run_autograder."""
    candidates = [PROJECT_DIR / name for name in SECRET_NAMES]
    candidates += [GRADESCOPE_DIR / name for name in GRADESCOPE_SECRETS]
    candidates += list(extra)
    return tuple(path for path in candidates if path.exists() or path.is_symlink())


def protected_trees() -> tuple[Path, ...]:
    """Trees in which the worker's user may write nothing (the grader's files, run_autograder)."""
    return tuple(path for path in (PROJECT_DIR, GRADESCOPE_DIR) if path.is_dir())


def worker_reads() -> tuple[Path, ...]:
    """Data files the worker itself opens: the homeworks' data under datasets/."""
    return tuple(sorted(path for path in DATASETS_DIR.glob("*") if path.suffix in DATA_SUFFIXES))


def _entries(roots: Sequence[Path]) -> Iterator[str]:
    """Every path below the roots, listed as root (the user may not be able to list them)."""
    for root in roots:
        yield str(root)
        if root.is_symlink() or not root.is_dir():
            continue
        for folder, directories, files in os.walk(root):
            for name in (*directories, *files):
                yield os.path.join(folder, name)


def _open_ancestors(roots: Sequence[Path]) -> Iterator[str]:
    """Folders above the roots: writable ones (without the sticky bit) would let the user rename a root."""
    for root in roots:
        for parent in root.resolve().parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_ISVTX:
                yield str(parent)


def exposure(user: SandboxUser, secret: Sequence[Path], required: Sequence[Path],
             protected: Sequence[Path]) -> list[tuple[str, str]]:
    """(problem, path) pairs: "readable"/"writable" secrets, "writable" protected files, "unreadable" needs.

    The check runs as ``user``.
    """
    paths = {
        "secret": sorted(set(_entries(secret))),
        "protected": sorted(set(_entries(protected)) | set(_open_ancestors([*secret, *protected]))),
        "required": [str(path) for path in required],
    }
    try:
        completed = subprocess.run(
            [sys.executable, "-I", "-S", "-c", CHECK_CODE], input=json.dumps(paths).encode(), capture_output=True,
            user=user.uid, group=user.gid, extra_groups=[], cwd="/", timeout=CHECK_SECONDS, check=False,
        )
        found = json.loads(completed.stdout)
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        return [("uncheckable", f"the permission check could not run as {user.name} ({error})")]
    if completed.returncode != 0:
        return [("uncheckable", completed.stderr.decode(errors="replace")[-300:])]
    return [(str(kind), str(path)) for kind, path in found]


def refusal_message(user: SandboxUser, found: Sequence[tuple[str, str]]) -> str:
    """The loud message when the permissions are wrong: what is exposed and the commands that fix it."""
    name = user.name
    lines = [f"Refusing to grade: bubblewrap is unavailable, so the student's code would run as user {name}, "
             f"and {name} can reach what it must not ({len(found)} problem(s)):"]
    lines += [f"  {kind}: {path}" for kind, path in found[:MESSAGE_ENTRIES]]
    if len(found) > MESSAGE_ENTRIES:
        lines.append(f"  ... and {len(found) - MESSAGE_ENTRIES} more")
    secret_roots = " ".join(str(path) for path in secret_paths())
    lines.append(f"Fix: chmod -R go-rwx {secret_roots}  (the autograder's setup.sh does this), make sure nothing "
                 f"under {PROJECT_DIR} is writable by {name}, and that the venv (made from /usr/bin/python3) and "
                 f"the data files in {DATASETS_DIR} are readable by it; or install bubblewrap (apt-get install "
                 "bubblewrap).")
    return "\n".join(lines)
