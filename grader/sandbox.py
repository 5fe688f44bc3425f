"""How the worker process is started: resource limits, a clean environment, its own process group.

This is the one place that decides what the untrusted worker may do at the operating-system level.
"""

import os
import resource
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

GIB = 2**30
MIB = 2**20


@dataclass(frozen=True)
class Limits:
    address_space_bytes: int = 6 * GIB  # virtual memory; torch maps ~1.5 GiB before doing anything
    file_size_bytes: int = 64 * MIB  # the largest file the worker may write
    open_files: int = 256
    cpu_seconds: int = 3_600  # a backstop: the client's wall-clock deadlines end calls long before


@dataclass(frozen=True)
class LaunchSpec:
    command: Sequence[str]
    cwd: Path
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    stdout: int
    stderr: int


def _limit_resources(limits: Limits) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec
        for kind, value in (
            (resource.RLIMIT_AS, limits.address_space_bytes),
            (resource.RLIMIT_FSIZE, limits.file_size_bytes),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(kind, (value, value))

    return apply


def clean_environment(home: Path, threads: int) -> dict[str, str]:
    """The worker's whole environment: nothing inherited from the grader's."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "VAE_GRADER_THREADS": str(threads),
        "MPLCONFIGDIR": str(home),
    }


def launch(spec: LaunchSpec, limits: Limits = Limits()) -> subprocess.Popen:
    """Start the worker in a new session (its own process group, killed whole by ``kill_group``)."""
    return subprocess.Popen(
        list(spec.command),
        cwd=spec.cwd,
        env=spec.env,
        pass_fds=spec.pass_fds,
        stdin=subprocess.DEVNULL,
        stdout=spec.stdout,
        stderr=spec.stderr,
        start_new_session=True,
        preexec_fn=_limit_resources(limits),
    )


def kill_group(process: subprocess.Popen) -> None:
    """Kill the worker and everything in its process group, then reap it."""
    try:
        os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
