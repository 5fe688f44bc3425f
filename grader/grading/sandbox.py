"""How the untrusted worker is started and ended: who it runs as, what it sees, what it may use.

This is the one place that decides what the worker may do at the operating-system level. The mode is
chosen once per grader process by ``isolation_in_effect()``:

``bwrap``   The grader runs as root and bubblewrap works (CI, a Gradescope image that allows
            namespaces). The worker runs in new mount, PID, network, IPC, UTS and cgroup namespaces,
            as the unprivileged sandbox user, with no capabilities and no_new_privs. Its filesystem is
            an empty tmpfs holding read-only binds of the system libraries, the Python installation,
            the homework's data files and the workspace's homework/ and runtime/, plus its scratch folder (an
            empty tmpfs of SCRATCH_BYTES) and a private /tmp (a tmpfs of PRIVATE_TMP_BYTES):
            reference/, the checks, the results folder, run_autograder and the grader's sources do not
            exist for it. Killing the namespace's init ends every process in it, and its files with it.
``setuid``  Root, but bubblewrap is missing or the kernel refuses namespaces to it. The worker runs
            as the sandbox user (no capabilities, no_new_privs), in a new network namespace where the
            kernel allows one, and in a mount namespace of its own where /tmp, /var/tmp, /dev/shm and
            its scratch folder are empty capped tmpfs (the workspace's folders under /tmp bound back in).
            Secrecy rests on file permissions, checked before anything runs: the grader refuses to grade
            when that user could read or write a secret path.
``none``    Not root (a laptop, a TA's batch run). The same worker, limits and deadlines, but no OS
            isolation, and the results say so.

In every mode: resource limits (address space, CPU seconds, file size, open files, no core files), a new
session, a clean environment, a parent-death signal, an OOM score that makes the worker's processes the
first the kernel kills when memory runs out, and at the end of a phase a sweep (``terminate``) that kills
every process the worker started, wherever it went.

As root (bwrap and setuid) each worker also gets a cgroup of its own (grader/cgroups.py), made before it
starts and removed after the sweep: a memory limit on all its processes together (WORKER_MEMORY_BYTES,
less inside a container with a tight limit of its own), a pids limit and one share of the CPU (cpu.weight /
cpu.shares), so that one submission cannot take the memory, processes or CPU of a batch neighbour. Where
cgroups cannot be made (a container that does not delegate them), grading goes on without, and the results
say so (``Isolation.cgroup_reason``); the per-process rlimits and the OOM score remain.

What mode ``none`` protects, and what it does not. It protects against mistakes and most accidents: every
call has a wall-clock deadline, every process has the resource limits above, output is capped, results.json
is written by the trusted process only, and the sweep kills every process it can find (the worker's session,
its descendants, and anything carrying the worker's token in its environment). It is not a security boundary:
the student's code runs as the grader's own user, so it can read everything that user can (the reference and
the hidden checks, if they are on the machine), write anywhere that user can, use the network, and fill the
disk (scratch and /tmp are ordinary folders, with no size cap and no cgroup). A process that double-forks into
a new session and clears its environment escapes the sweep (nothing links it to the worker any more) and can
rewrite results.json after the grader has exited. Grade untrusted submissions as root (bwrap or setuid).
"""

import ctypes
import functools
import json
import os
import pwd
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from grader.grading import cgroups, permissions
from grader.grading.cgroups import Cgroup, CgroupLimits, CgroupUnavailable
from grader.grading.permissions import SandboxUser

GIB = 2**30
MIB = 2**20
SANDBOX_USER = "vaegrader"  # created by the autograder's setup.sh
FALLBACK_USER = "nobody"
FALLBACK_ID = 65534
ISOLATION_VARIABLE = "VAE_GRADER_ISOLATION"  # "setuid" or "none": use a weaker mode (tests, debugging)
TOKEN_VARIABLE = "VAE_GRADER_WORKER"  # a random value per launch, in the environment of the worker's processes
PRIVATE_TMP_BYTES = 256 * MIB
# The worker's scratch folder (its working directory and HOME): the worker itself writes nothing there, student
# code may (a checkpoint of this model is ~2 MiB); files are capped at 64 MiB each by RLIMIT_FSIZE anyway.
SCRATCH_BYTES = 128 * MIB
# The memory of one worker and everything it starts, together: resident memory, page cache and the tmpfs files of its
# /tmp and scratch; no swap. Measured in the worker's cgroup (make bench's machine, 400 and 2,000 iterations, 1 and 2
# threads): the reference's training phase peaks at 320-326 MiB (250 MiB resident, the rest page cache: torch's
# libraries, the data file), its unit phase at 174 MiB; it passes with a limit of 400 MiB and is killed at 320 MiB.
# 1 GiB is 3x that peak: an honest submission never meets it, and a batch graded two or three at a time keeps its
# neighbours' memory whatever one submission does.
WORKER_MEMORY_BYTES = 1 * GIB
# Inside a container with a memory limit of its own, the worker gets that limit less what the grader itself needs
# (318-322 MiB resident while the training worker runs; 359 MiB at most, in the trusted evaluation after it has
# gone), so that the worker's cgroup, not the container's, reaches its limit first and the grader survives: but
# never less than what the reference needs with a margin. In Gradescope's default container (768 MB = 732 MiB) that
# is the floor, 400 MiB: 400 + 322 < 732.
GRADER_MEMORY_RESERVE_BYTES = 352 * MIB
WORKER_MEMORY_FLOOR_BYTES = 400 * MIB
WORKER_CPU_WEIGHT = 100  # v2's default weight: one worker, however many processes, gets one share of the CPU
# The worker's processes are the first the kernel kills when memory runs out anywhere (a container without a cgroup of
# our own, the whole machine): raising one's own score needs no privilege, so every mode gets it.
WORKER_OOM_SCORE_ADJ = 1000
# World-writable folders that setuid mode replaces, for the worker only, with a private tmpfs of PRIVATE_TMP_BYTES.
SHARED_WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
PROBE_SECONDS = 60.0  # the start-up probe: one bubblewrap sandbox running a bare Python
INFO_SECONDS = 30.0  # bubblewrap reports its child's pid right after creating the namespaces
SWEEP_SECONDS = 30.0  # killing the worker's processes: they cannot refuse SIGKILL, but exiting takes time
SWEEP_PAUSE = 0.01
SWEEP_CONFIRMATIONS = 3  # empty scans in a row before the sweep believes the worker is gone

# Linux constants (linux/prctl.h, linux/sched.h, linux/mount.h)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


class Mode(StrEnum):
    BWRAP = "bwrap"
    SETUID = "setuid"
    NONE = "none"


class SandboxRefused(RuntimeError):
    """Running as root, but the worker cannot be isolated safely: grading must not go on."""


class SandboxError(RuntimeError):
    """The sandbox failed to start the worker: a fault of the grading machine, not of the submission."""


@dataclass(frozen=True)
class Limits:
    address_space_bytes: int = 6 * GIB  # virtual memory; torch maps ~1.5 GiB before doing anything
    file_size_bytes: int = 64 * MIB  # the largest file the worker may write
    open_files: int = 256
    cpu_seconds: int = 3_600  # a backstop: the client's wall-clock deadlines end calls long before
    processes: int = 256  # tasks (processes and threads) beyond those the worker's user already has


@dataclass(frozen=True)
class Isolation:
    """What the operating system does to keep the worker in: put ``summary()`` in the student's output."""

    mode: Mode
    user: SandboxUser  # who the worker runs as (in mode none: the grader's own user)
    network_isolated: bool
    filesystem_isolated: bool  # the worker sees only the files it needs
    pid_namespace: bool
    reason: str  # why this mode and not a stronger one ("" for bwrap)
    limits: Limits = Limits()
    cgroup: CgroupLimits | None = None  # what the worker's processes get together (None: no cgroup here)
    cgroup_reason: str = ""  # why there is no cgroup
    scratch_bytes: int | None = None  # the size cap of the worker's scratch folder (None: an ordinary folder)
    tmp_bytes: int | None = None  # the size of its private /tmp (None: the machine's own /tmp)
    storage_reason: str = ""  # why scratch and /tmp are not capped

    @property
    def os_isolation(self) -> bool:
        return self.mode is not Mode.NONE

    def summary(self) -> str:
        limits = self.limits
        limit_text = (f"limits: {limits.address_space_bytes / GIB:g} GiB of address space, files up to "
                      f"{limits.file_size_bytes // MIB} MiB, {limits.processes} processes, {limits.open_files} open "
                      f"files, {limits.cpu_seconds:,} s of CPU, and a time limit on every call; "
                      f"{self._shared_text()}.")
        who = f"{self.user.name} (uid {self.user.uid})"
        if self.mode is Mode.BWRAP:
            return (f"OS isolation: on (bubblewrap). Your code ran as the unprivileged user {who} with no "
                    "capabilities and no network, in its own process, mount and IPC namespaces: it could see only "
                    "the system libraries, Python, the homework files and its data (read-only), its scratch "
                    f"folder and a private /tmp; {limit_text}")
        if self.mode is Mode.SETUID:
            network = ("no network" if self.network_isolated
                       else "network access (the kernel allowed no network namespace)")
            return (f"OS isolation: partial ({self.reason}). Your code ran as the unprivileged user {who} with no "
                    f"capabilities and {network}; the grader's files were checked to be out of its reach; "
                    f"{limit_text}")
        return (f"OS isolation: OFF ({self.reason}). Your code ran as {who}, the grader's own user, with resource and "
                f"time limits only; {limit_text}")

    def _shared_text(self) -> str:
        """The limits on all of the worker's processes together, and on what it may write."""
        cgroup = self.cgroup
        if cgroup is not None:
            parts = [f"{cgroup.memory_bytes / MIB:,.0f} MiB of memory" if cgroup.memory_bytes else "",
                     f"{cgroup.pids} processes" if cgroup.pids else "",
                     "one share of the CPU" if cgroup.cpu_weight else ""]
            shared = f"together, all its processes had {', '.join(p for p in parts if p)} (a cgroup of its own)"
        else:
            shared = f"no cgroup ({self.cgroup_reason}), so the memory limit applied to each process alone"
        if self.scratch_bytes is not None and self.tmp_bytes is not None:
            storage = (f"its scratch folder held at most {self.scratch_bytes // MIB} MiB and its /tmp "
                       f"{self.tmp_bytes // MIB} MiB, both emptied after each phase")
        else:
            storage = f"its scratch folder and /tmp had no size cap ({self.storage_reason})"
        return f"{shared}; {storage}"

    def as_extra_data(self) -> dict[str, object]:
        return {
            "mode": self.mode.value,
            "os_isolation": self.os_isolation,
            "user": self.user.name,
            "uid": self.user.uid,
            "network_isolated": self.network_isolated,
            "filesystem_isolated": self.filesystem_isolated,
            "pid_namespace": self.pid_namespace,
            "reason": self.reason,
            "limits": asdict(self.limits),
            "cgroup": None if self.cgroup is None else asdict(self.cgroup),
            "cgroup_reason": self.cgroup_reason,
            "scratch_bytes": self.scratch_bytes,
            "tmp_bytes": self.tmp_bytes,
            "storage_reason": self.storage_reason,
        }


@dataclass(frozen=True)
class LaunchSpec:
    command: Sequence[str]
    cwd: Path
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    stdout: int
    stderr: int
    readable: tuple[Path, ...] = ()  # what the worker may read besides the system and Python (bind-mounted, ro)
    # What it may write, handed to the sandbox user. Where the isolation has a scratch cap (bwrap, setuid), each is
    # an empty tmpfs of that size, private to the worker and gone with it: nothing it writes reaches the grader's disk.
    writable: tuple[Path, ...] = ()


@dataclass
class Launched:
    """A running worker: the process the grader started and how to find everything it starts."""

    process: subprocess.Popen
    isolation: Isolation
    token: str
    namespace: str | None = None  # mode bwrap: the worker's PID namespace, e.g. "pid:[4026532830]"
    killed: list[int] = field(default_factory=list)  # pids ended by terminate()
    cgroup: Cgroup | None = None  # the worker's own cgroup, removed by terminate()

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self, timeout: float) -> int | None:
        """The worker's exit status (negative: the signal that ended it), or None while it still runs."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.isolation.mode is Mode.BWRAP and code > 128:  # bubblewrap reports a signal N as 128 + N
            return -(code - 128)
        return code

    def memory_note(self) -> str:
        """Why the worker may have died: "" or a sentence saying that its cgroup's memory limit was reached.

        Read it before ``terminate``, which removes the cgroup."""
        if self.cgroup is None or self.cgroup.limits.memory_bytes is None or self.cgroup.oom_kills() == 0:
            return ""
        return (f"; your code and the processes it started reached their memory limit of "
                f"{self.cgroup.limits.memory_bytes / MIB:,.0f} MiB together, and the kernel ended the largest of them")


# -- who and how -------------------------------------------------------------------------------------


def sandbox_user() -> SandboxUser:
    """The dedicated user if setup.sh created it, else nobody."""
    for name in (SANDBOX_USER, FALLBACK_USER):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return SandboxUser(name, entry.pw_uid, entry.pw_gid)
    return SandboxUser(FALLBACK_USER, FALLBACK_ID, FALLBACK_ID)


def own_user() -> SandboxUser:
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return SandboxUser(name, uid, os.getgid())


def python_roots() -> tuple[Path, ...]:
    """The folders the worker's Python needs: the venv and the installation it was made from."""
    roots = {Path(sys.prefix), Path(sys.exec_prefix), Path(sys.base_prefix), Path(sys.base_exec_prefix),
             Path(os.path.realpath(sys.executable)).parent.parent}
    resolved = {Path(os.path.realpath(root)) for root in roots} | roots
    return tuple(sorted(root for root in resolved if root.is_dir() and str(root) != "/"))


def required_paths() -> tuple[Path, ...]:
    """Files the worker must be able to read: the interpreter and the packages it imports."""
    site = next((Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()), None)
    paths = [Path(sys.executable)]
    if site is not None:
        paths += [site / "torch" / "__init__.py", site / "numpy" / "__init__.py"]
    return tuple(paths)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc().prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


@dataclass(frozen=True)
class _MountPlan:
    """setuid mode's private mounts: capped tmpfs on the world-writable folders and on the worker's scratch."""

    covered: tuple[str, ...]  # SHARED_WRITABLE_DIRS here: each replaced by an empty tmpfs of tmp_bytes
    keep: tuple[str, ...]  # folders under them the worker needs (the workspace, say): bound back in
    scratch: tuple[str, ...]  # the writable folders: each an empty tmpfs of scratch_bytes owned by the user
    cwd: str
    tmp_bytes: int
    scratch_bytes: int


def _mount_plan(readable: Sequence[Path], writable: Sequence[Path], cwd: Path, tmp_bytes: int,
                scratch_bytes: int) -> _MountPlan:
    covered = tuple(name for name in SHARED_WRITABLE_DIRS if Path(name).is_dir() and not Path(name).is_symlink())
    needed = sorted({os.path.realpath(path) for path in (*readable, *python_roots(), *required_paths())})
    under = [path for path in needed if any(path.startswith(f"{folder}/") for folder in covered)]
    keep = tuple(path for path in under if not any(path.startswith(f"{other}/") for other in under))
    return _MountPlan(covered, keep, tuple(os.path.realpath(path) for path in writable), os.path.realpath(cwd),
                      tmp_bytes, scratch_bytes)


def _child_setup(mode: Mode, user: SandboxUser, limits: Limits, processes: int | None,
                 network_namespace: bool, cgroup: Cgroup | None = None,
                 mounts: _MountPlan | None = None) -> Callable[[], None]:
    """What runs in the child between fork and exec: cgroup, namespaces, mounts, limits, user, no new privileges.

    ``processes``: RLIMIT_NPROC, or None when a pids cgroup counts the worker's tasks instead (the rlimit counts
    every process of the sandbox user, the batch neighbours' too).
    """
    libc = _libc()  # loaded before the fork
    join = cgroup.enter() if cgroup is not None else None

    def apply() -> None:
        if join is not None:
            join()  # first, while root: everything the worker starts is born in its cgroup
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write(str(WORKER_OOM_SCORE_ADJ))
        if network_namespace and libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
        if mounts is not None:
            _private_mounts(libc, mounts, user)
        rlimits = [
            (resource.RLIMIT_AS, limits.address_space_bytes),
            (resource.RLIMIT_FSIZE, limits.file_size_bytes),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_CORE, 0),
        ]
        if processes is not None:
            rlimits.append((resource.RLIMIT_NPROC, processes))
        for kind, value in rlimits:
            hard = resource.getrlimit(kind)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)  # never above the hard limit
            resource.setrlimit(kind, (value, value))
        if mode is Mode.SETUID:
            os.setgroups([])
            os.setresgid(user.gid, user.gid, user.gid)
            os.setresuid(user.uid, user.uid, user.uid)  # also clears every capability
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0):
            raise OSError(ctypes.get_errno(), "prctl failed")

    return apply


def _mount(libc: ctypes.CDLL, source: str | None, target: str, kind: str | None, flags: int,
           options: str | None = None) -> None:
    encoded = [None if value is None else value.encode() for value in (source, target, kind, options)]
    if libc.mount(encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), encoded[3]) != 0:
        raise OSError(ctypes.get_errno(), f"mount {source} on {target} failed")


def _private_mounts(libc: ctypes.CDLL, plan: _MountPlan, user: SandboxUser) -> None:
    """In the child, as root: a mount namespace of its own with capped tmpfs where it may write.

    The folders under /tmp that the worker needs (the workspace) are opened after the namespace is made (a bind
    must come from it) and before /tmp is covered, then bound back in by their file descriptors.
    """
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here propagates to the grader's view
    kept = [os.open(path, os.O_PATH) for path in plan.keep]
    for folder in plan.covered:
        _mount(libc, "tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, f"size={plan.tmp_bytes},mode=1777")
    for path, fd in zip(plan.keep, kept, strict=True):
        source = f"/proc/self/fd/{fd}"
        if os.path.isdir(source):
            os.makedirs(path, mode=0o711, exist_ok=True)
        else:  # a file (a data file, say) is bound onto an empty file
            os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(libc, source, path, None, MS_BIND | MS_REC)
        os.close(fd)
    for path in plan.scratch:
        os.makedirs(path, mode=0o711, exist_ok=True)
        _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={plan.scratch_bytes},mode=0700,uid={user.uid},gid={user.gid}")
    os.chdir(plan.cwd)  # the working directory was entered before the mounts: enter the one the worker sees


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
        "GRADER_WORKER_THREADS": str(threads),
        "MPLCONFIGDIR": str(home),
    }


# -- bubblewrap ----------------------------------------------------------------------------------


def _bwrap_arguments(readable: Sequence[Path], writable: Sequence[Path], info_fd: int | None,
                     data: Sequence[tuple[int, str]], scratch_bytes: int | None = None) -> list[str]:
    """bwrap's options: namespaces, an empty root with the given binds, a private /tmp and /proc.

    With ``scratch_bytes`` each writable folder is an empty tmpfs of that size instead of a bind of the grader's
    folder: what the worker writes stays in the sandbox's memory (its cgroup's) and is gone with it.
    """
    arguments = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if info_fd is not None:
        arguments += ["--info-fd", str(info_fd)]
    arguments += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(PRIVATE_TMP_BYTES),
                  "--tmpfs", "/tmp"]
    read_only: list[str] = []
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            read_only.append(name)
    read_only += [name for name in SYSTEM_FILES if Path(name).exists()]
    for path in (*python_roots(), *readable):
        if not any(str(path) == other or str(path).startswith(f"{other}/") for other in read_only):
            read_only.append(str(path))
    binds = [("--ro-bind", path) for path in read_only]
    if scratch_bytes is None:
        binds += [("--bind", str(path)) for path in writable]
    targets = [path for _, path in binds] + [str(path) for path in writable] + [target for _, target in data]
    for directory in _parents_to_create(targets):
        arguments += ["--perms", "0755", "--dir", directory]
    for option, path in binds:
        arguments += [option, path, path]
    if scratch_bytes is not None:
        for path in writable:  # owned by root inside (bubblewrap cannot chown): open to all, as /tmp is
            arguments += ["--perms", "1777", "--size", str(scratch_bytes), "--tmpfs", str(path)]
    for fd, target in data:
        arguments += ["--perms", "0644", "--ro-bind-data", str(fd), target]
    return arguments


def _parents_to_create(targets: Sequence[str]) -> list[str]:
    """Folders bubblewrap must create for the binds, readable by all (it would make them 0700), outermost first."""
    covered = {*targets, "/", "/tmp", "/proc", "/dev"}
    parents = {str(parent) for target in targets for parent in Path(target).parents}
    wanted = [parent for parent in parents
              if parent not in covered and not any(parent.startswith(f"{t}/") for t in targets)]
    return sorted(wanted, key=lambda p: (p.count("/"), p))


def _identity_files(user: SandboxUser) -> tuple[bytes, bytes]:
    """/etc/passwd and /etc/group inside the sandbox: root and the sandbox user only."""
    passwd = f"root:x:0:0:root:/:/usr/sbin/nologin\n{user.name}:x:{user.uid}:{user.gid}::/tmp:/usr/sbin/nologin\n"
    group = f"root:x:0:\n{user.name}:x:{user.gid}:\n"
    return passwd.encode(), group.encode()


def _data_pipe(content: bytes) -> int:
    """A pipe's read end holding ``content`` (small: it must fit in the pipe's buffer)."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, content)
    finally:
        os.close(write_end)
    return read_end


def _identity_pipes(user: SandboxUser) -> list[tuple[int, str]]:
    passwd, group = _identity_files(user)
    return [(_data_pipe(passwd), "/etc/passwd"), (_data_pipe(group), "/etc/group")]


def _drop_privileges(user: SandboxUser) -> list[str]:
    """Inside the namespaces bubblewrap still runs as root: setpriv becomes the user for good."""
    return [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={user.uid}", f"--regid={user.gid}",
            "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


def _bwrap_missing() -> str:
    """Why bubblewrap cannot be used at all, or "" when it is installed."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    return ""


PROBE_CODE = """
import json, os, sys
secret, required = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"visible": [p for p in secret if os.path.lexists(p)],
                  "unreadable": [p for p in required if not os.access(p, os.R_OK)], "uid": os.getuid()}))
"""


def _probe_bwrap(user: SandboxUser, secret: Sequence[Path], required: Sequence[Path]) -> dict | str:
    """Run a bare Python in the worker's sandbox: what does it see? A string is bubblewrap's own failure."""
    data = _identity_pipes(user)
    try:
        arguments = _bwrap_arguments(required, (), None, data)
        command = ["bwrap", *arguments, "--chdir", "/tmp", *_drop_privileges(user), sys.executable, "-I", "-S", "-c",
                   PROBE_CODE, json.dumps([str(p) for p in secret]), json.dumps([str(p) for p in required])]
        completed = subprocess.run(command, pass_fds=tuple(fd for fd, _ in data), capture_output=True, check=False,
                                   timeout=PROBE_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as error:
        return f"bubblewrap could not be run ({error})"
    finally:
        for fd, _ in data:
            os.close(fd)
    stderr = completed.stderr.decode(errors="replace").strip()
    if completed.returncode != 0:
        if stderr.startswith(("bwrap:", "setpriv:")):
            return f"bubblewrap failed here: {stderr.splitlines()[0]}"
        raise SandboxRefused(f"Refusing to grade: Python could not start in the sandbox as user {user.name}: "
                             f"{stderr[-600:]}")
    try:
        answer = json.loads(completed.stdout)
    except ValueError:
        raise SandboxRefused(f"Refusing to grade: the sandbox probe answered {completed.stdout[:200]!r}") from None
    return answer if isinstance(answer, dict) else f"the sandbox probe answered {answer!r}"


def _network_namespace_works(user: SandboxUser) -> bool:
    """Can the kernel give the worker an empty network namespace without bubblewrap?"""
    setup = _child_setup(Mode.SETUID, user, Limits(), _tasks_of(user.uid) + Limits().processes, True)
    try:
        completed = subprocess.run(["/bin/true"], preexec_fn=setup, timeout=PROBE_SECONDS, check=False,
                                   capture_output=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return completed.returncode == 0


def _private_mounts_work(user: SandboxUser) -> str:
    """setuid mode: can the worker get a mount namespace with capped tmpfs? "" if so, else why not."""
    holder = Path(tempfile.mkdtemp(prefix="grader-mount-probe-"))
    try:
        kept, scratch = holder / "kept", holder / "scratch"
        kept.mkdir(mode=0o755)
        scratch.mkdir(mode=0o700)
        holder.chmod(0o711)
        plan = _mount_plan((kept,), (scratch,), scratch, PRIVATE_TMP_BYTES, SCRATCH_BYTES)
        setup = _child_setup(Mode.SETUID, user, Limits(), None, False, mounts=plan)
        command = ["/bin/sh", "-c", 'test -d "$1" && : > "$2/probe" && : > /tmp/probe', "probe", str(kept),
                   str(scratch)]
        completed = subprocess.run(command, cwd=scratch, preexec_fn=setup, timeout=PROBE_SECONDS, check=False,
                                   capture_output=True)
    except (OSError, subprocess.SubprocessError) as error:
        return f"the kernel refused the grader a private mount namespace with tmpfs mounts ({error})"
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    if completed.returncode != 0:
        return f"the capped tmpfs did not work ({completed.stderr.decode(errors='replace').strip()[:200]})"
    return ""


def _cgroup_for_workers(limits: Limits) -> tuple[CgroupLimits | None, str]:
    """The cgroup limits each worker gets here, tried once by making and removing a cgroup; or None and why not."""
    place = cgroups.placement()
    memory = WORKER_MEMORY_BYTES
    enclosing = cgroups.enclosing_memory_limit(place)
    if enclosing is not None:  # a container's limit: leave the grader its reserve
        memory = min(memory, max(enclosing - GRADER_MEMORY_RESERVE_BYTES, WORKER_MEMORY_FLOOR_BYTES))
    wanted = CgroupLimits(memory_bytes=memory if "memory" in place else None,
                          pids=limits.processes if "pids" in place else None,
                          cpu_weight=WORKER_CPU_WEIGHT if "cpu" in place else None)
    if not wanted.controllers():
        return None, "no cgroup hierarchy with the memory, pids or cpu controller is mounted for the grader"
    try:
        Cgroup.create(wanted, place, prefix="grader-probe").remove()
    except CgroupUnavailable as unavailable:
        return None, str(unavailable)
    missing = [name for name in cgroups.CONTROLLERS if name not in wanted.controllers()]
    return wanted, (f"no {' or '.join(missing)} controller here" if missing else "")


# -- choosing the mode -----------------------------------------------------------------------------


def isolation_in_effect(extra_secrets: Sequence[Path] = ()) -> Isolation:
    """The isolation the worker gets on this machine; raises SandboxRefused if root cannot isolate it.

    Call it before grading and put ``summary()`` in the student's output and ``as_extra_data()`` in
    extra_data. ``extra_secrets`` (the results folder, say) must be out of the worker's reach too. The
    answer is computed once per process (a probe of a tenth of a second) and reused by ``launch``.
    """
    answer = _isolation(tuple(sorted({Path(path) for path in extra_secrets} | set(_extra_secrets))))
    if isinstance(answer, SandboxRefused):
        raise SandboxRefused(str(answer))
    return answer


_extra_secrets: set[Path] = set()  # every extra secret named so far: later launches keep checking them


@functools.cache
def _isolation(extra_secrets: tuple[Path, ...]) -> Isolation | SandboxRefused:
    """The decision, remembered: a refusal too (fixing permissions takes a new grader process or ``reset``)."""
    try:
        return _decide(extra_secrets)
    except SandboxRefused as refusal:
        return refusal


def _decide(extra_secrets: tuple[Path, ...]) -> Isolation:
    _extra_secrets.update(extra_secrets)
    forced = os.environ.get(ISOLATION_VARIABLE, "").strip().lower()
    if forced and forced not in {mode.value for mode in Mode}:
        raise SandboxRefused(f"{ISOLATION_VARIABLE}={forced!r}: expected one of bwrap, setuid, none")
    if os.geteuid() != 0 or forced == Mode.NONE:
        reason = "the grader was not run as root" if os.geteuid() != 0 else f"{ISOLATION_VARIABLE}=none was set"
        return Isolation(Mode.NONE, own_user(), False, False, False, reason,
                         cgroup_reason="making cgroups needs root" if os.geteuid() != 0 else "mode none",
                         storage_reason="mode none: scratch is an ordinary folder and /tmp the machine's")
    user = sandbox_user()
    secret = permissions.secret_paths(extra_secrets)
    required = (*required_paths(), *permissions.worker_reads())
    problem = f"{ISOLATION_VARIABLE}=setuid was set" if forced == Mode.SETUID else _bwrap_missing()
    if not problem:
        probe = _probe_bwrap(user, secret, required)
        if isinstance(probe, dict):
            if probe.get("visible") or probe.get("unreadable") or probe.get("uid") != user.uid:
                raise SandboxRefused(
                    f"Refusing to grade: inside the bubblewrap sandbox user {user.name} (uid {probe.get('uid')}) "
                    f"can see {probe.get('visible')}, which must not exist there, and cannot read "
                    f"{probe.get('unreadable')}, which it needs (make the venv from /usr/bin/python3, not from a "
                    "Python under /root, and keep it and the data files world-readable)."
                )
            cgroup, cgroup_reason = _cgroup_for_workers(Limits())
            return Isolation(Mode.BWRAP, user, True, True, True, "", cgroup=cgroup, cgroup_reason=cgroup_reason,
                             scratch_bytes=SCRATCH_BYTES, tmp_bytes=PRIVATE_TMP_BYTES)
        problem = probe
    if forced == Mode.BWRAP:
        raise SandboxRefused(f"Refusing to grade: {ISOLATION_VARIABLE}=bwrap was set but {problem}")
    exposed = permissions.exposure(user, secret, required, permissions.protected_trees())
    if exposed:
        raise SandboxRefused(permissions.refusal_message(user, exposed))
    cgroup, cgroup_reason = _cgroup_for_workers(Limits())
    storage_reason = _private_mounts_work(user)
    capped = not storage_reason
    return Isolation(Mode.SETUID, user, _network_namespace_works(user), False, False, problem, cgroup=cgroup,
                     cgroup_reason=cgroup_reason, scratch_bytes=SCRATCH_BYTES if capped else None,
                     tmp_bytes=PRIVATE_TMP_BYTES if capped else None, storage_reason=storage_reason)


def reset() -> None:
    """Forget the chosen mode (tests that change ISOLATION_VARIABLE call this)."""
    _isolation.cache_clear()
    _extra_secrets.clear()


# -- launching and ending -----------------------------------------------------------------------------


def launch(spec: LaunchSpec, limits: Limits | None = None) -> Launched:
    """Start the worker in the strongest mode available; end it with ``terminate``."""
    isolation = isolation_in_effect()
    limits = limits or isolation.limits
    user = isolation.user
    token = secrets.token_hex(16)
    env = {**spec.env, TOKEN_VARIABLE: token}
    cgroup = _worker_cgroup(isolation, limits)
    # RLIMIT_NPROC counts every process of the user, a batch neighbour's too: only a backstop without a pids cgroup
    processes = None if cgroup is not None and cgroup.limits.pids else _tasks_of(user.uid) + limits.processes
    if isolation.mode is not Mode.NONE:
        for path in spec.writable:
            os.chown(path, user.uid, user.gid)
    command, cwd, pass_fds = list(spec.command), spec.cwd, tuple(spec.pass_fds)
    own_fds: list[int] = []
    info_read = -1
    mounts = None
    if isolation.mode is Mode.BWRAP:
        info_read, info_write = os.pipe()
        data = _identity_pipes(user)
        own_fds = [info_write, *(fd for fd, _ in data)]
        arguments = _bwrap_arguments(spec.readable, spec.writable, info_write, data, isolation.scratch_bytes)
        command = ["bwrap", *arguments, "--chdir", str(spec.cwd), *_drop_privileges(user), *command]
        cwd, pass_fds = Path("/"), (*pass_fds, *own_fds)
    elif isolation.mode is Mode.SETUID:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)  # the worker's orphans become the grader's children: the sweep finds them
        if isolation.scratch_bytes is not None and isolation.tmp_bytes is not None:
            mounts = _mount_plan(spec.readable, spec.writable, spec.cwd, isolation.tmp_bytes, isolation.scratch_bytes)
    setup = _child_setup(isolation.mode, user, limits, processes,
                         isolation.mode is Mode.SETUID and isolation.network_isolated, cgroup, mounts)
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env, pass_fds=pass_fds, stdin=subprocess.DEVNULL,
                                   stdout=spec.stdout, stderr=spec.stderr, start_new_session=True, preexec_fn=setup)
    except (OSError, subprocess.SubprocessError) as error:
        if info_read >= 0:
            os.close(info_read)
        if cgroup is not None:
            cgroup.remove()
        raise SandboxError(f"the worker could not be started ({error})") from error
    finally:
        for fd in own_fds:
            os.close(fd)
    launched = Launched(process, isolation, token, cgroup=cgroup)
    _live[process.pid] = launched
    if info_read >= 0:
        try:
            launched.namespace = _read_namespace(info_read)
        except SandboxError:
            terminate(launched)
            raise
        finally:
            os.close(info_read)
    return launched


def _worker_cgroup(isolation: Isolation, limits: Limits) -> Cgroup | None:
    """A new cgroup for one worker, with the limits the isolation promises (its pids follow ``limits``)."""
    if isolation.cgroup is None:
        return None
    wanted = isolation.cgroup
    if wanted.pids is not None:
        wanted = replace(wanted, pids=limits.processes)
    try:
        return Cgroup.create(wanted)
    except CgroupUnavailable as unavailable:  # it worked when the mode was chosen: a fault of the machine
        raise SandboxError(f"the worker's cgroup could not be made ({unavailable})") from None


def _read_namespace(info_fd: int) -> str:
    """From bubblewrap's info: the PID namespace of the sandbox's init, which holds the whole worker."""
    deadline = time.monotonic() + INFO_SECONDS
    text = b""
    with selectors.DefaultSelector() as selector:
        selector.register(info_fd, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                continue
            chunk = os.read(info_fd, 4096)
            text += chunk
            try:
                child = int(json.loads(text)["child-pid"])
            except (ValueError, KeyError, TypeError):
                if chunk:
                    continue
                break
            namespace = _namespace_of(child)
            if namespace is None:
                raise SandboxError("bubblewrap's sandbox ended as soon as it started")
            return namespace
    raise SandboxError(f"bubblewrap did not start the sandbox (it reported {text[:200]!r})")


@dataclass(frozen=True)
class _Process:
    pid: int
    ppid: int
    sid: int
    uid: int
    zombie: bool


def _processes() -> Iterator[_Process]:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
            uid = os.stat(f"/proc/{entry.name}").st_uid
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session ...
        yield _Process(int(entry.name), int(fields[1]), int(fields[3]), uid, fields[0] in {"Z", "X"})


def _namespace_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _has_token(pid: int, token: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return f"{TOKEN_VARIABLE}={token}".encode() in handle.read()
    except OSError:
        return False


def _tasks_of(uid: int) -> int:
    """Processes and threads of ``uid`` now: RLIMIT_NPROC counts them all."""
    total = 0
    for process in _processes():
        if process.uid == uid and not process.zombie:
            try:
                total += len(os.listdir(f"/proc/{process.pid}/task"))
            except OSError:
                continue
    return total


def worker_processes(launched: Launched) -> list[int]:
    """The live processes of the worker: its own and everything they started, wherever they went.

    With a cgroup: every process in it, whoever it became. bwrap: everything in its PID namespace.
    Otherwise: the sandbox user's processes that are the worker, in its session, below it, or carry its
    token in their environment; in setuid mode also the user's orphans that were handed to the grader
    (a subreaper) and belong to no other worker.
    """
    table = {process.pid: process for process in _processes() if not process.zombie}
    root, me = launched.pid, os.getpid()
    members = [] if launched.cgroup is None else [pid for pid in launched.cgroup.processes() if pid in table]
    if launched.isolation.mode is Mode.BWRAP:
        return sorted({pid for pid in table if _namespace_of(pid) == launched.namespace} | set(members) - {root})

    def ancestors(process: _Process) -> Iterator[int]:
        for _ in range(len(table)):
            yield process.ppid
            if process.ppid not in table:
                return
            process = table[process.ppid]

    others = {pid for pid in _live if pid != root}
    found = []
    for process in table.values():
        if process.uid != launched.isolation.user.uid or process.pid == me or process.pid in others:
            continue
        lineage = list(ancestors(process))
        if (process.pid == root or process.sid == root or root in lineage or _has_token(process.pid, launched.token)
                or (launched.isolation.mode is Mode.SETUID and me in lineage and not others & set(lineage))):
            found.append(process.pid)
    return sorted(set(found) | set(members))


_live: dict[int, Launched] = {}  # workers started and not yet terminated, so that one sweep spares the others


def terminate(launched: Launched) -> list[int]:
    """Kill the worker and every process it started; return any still alive after SWEEP_SECONDS (none)."""
    deadline = time.monotonic() + SWEEP_SECONDS
    remaining = worker_processes(launched)  # found before the kill, while the family tree still holds
    quiet_scans = 0
    while quiet_scans < SWEEP_CONFIRMATIONS and time.monotonic() < deadline:
        for pid in remaining:
            _kill(pid, signal.SIGSTOP)  # frozen first: a fork loop cannot outrun the sweep
        _kill_group(launched.pid)
        for pid in remaining:
            _kill(pid, signal.SIGKILL)
            if pid not in launched.killed:
                launched.killed.append(pid)
        _reap([pid for pid in remaining if pid != launched.pid])
        time.sleep(SWEEP_PAUSE)
        remaining = worker_processes(launched)
        quiet_scans = 0 if remaining else quiet_scans + 1  # a process in the middle of exec can hide for a moment
    launched.process.wait()
    _reap([pid for pid in launched.killed if pid != launched.pid])
    _live.pop(launched.pid, None)
    if launched.cgroup is not None:  # empty now: removing it kills any straggler and frees its memory accounting
        remaining = sorted(set(remaining) | set(launched.cgroup.remove()))
    return remaining


def _kill_group(leader: int) -> None:
    try:
        os.killpg(leader, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pids: Sequence[int]) -> None:
    """Collect killed processes that became the grader's children (setuid mode's subreaper)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
