"""How the untrusted worker is started and ended: who it runs as, what it sees, what it may use.

This is the one place that decides what the worker may do at the operating-system level. The mode is
chosen once per grader process by ``isolation_in_effect()``:

``bwrap``   The grader runs as root and bubblewrap works (CI, a Gradescope image that allows
            namespaces). The worker runs in new mount, PID, network, IPC, UTS and cgroup namespaces,
            as the unprivileged sandbox user, with no capabilities and no_new_privs. Its filesystem is
            an empty tmpfs holding read-only binds of the system libraries, the Python installation,
            the MNIST file and the workspace's homework/ and runtime/, plus its scratch folder and a
            private /tmp: reference/, the checks, the results folder, run_autograder and the grader's
            sources do not exist for it. Killing the namespace's init ends every process in it.
``setuid``  Root, but bubblewrap is missing or the kernel refuses namespaces to it. The worker runs
            as the sandbox user (no capabilities, no_new_privs), in a new network namespace where the
            kernel allows one. Secrecy rests on file permissions, checked before anything runs: the
            grader refuses to grade when that user could read or write a secret path.
``none``    Not root (a laptop, a TA's batch run). The same worker, limits and deadlines, but no OS
            isolation, and the results say so.

In every mode: resource limits (address space, CPU seconds, file size, processes, open files, no core
files), a new session, a clean environment, a parent-death signal, and at the end of a phase a sweep
(``terminate``) that kills every process the worker started, wherever it went.
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
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from grader import permissions
from grader.permissions import SandboxUser

GIB = 2**30
MIB = 2**20
SANDBOX_USER = "vaegrader"  # created by the autograder's setup.sh
FALLBACK_USER = "nobody"
FALLBACK_ID = 65534
ISOLATION_VARIABLE = "VAE_GRADER_ISOLATION"  # "setuid" or "none": use a weaker mode (tests, debugging)
TOKEN_VARIABLE = "VAE_GRADER_WORKER"  # a random value per launch, in the environment of the worker's processes
PRIVATE_TMP_BYTES = 256 * MIB
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
PROBE_SECONDS = 60.0  # the start-up probe: one bubblewrap sandbox running a bare Python
INFO_SECONDS = 30.0  # bubblewrap reports its child's pid right after creating the namespaces
SWEEP_SECONDS = 30.0  # killing the worker's processes: they cannot refuse SIGKILL, but exiting takes time
SWEEP_PAUSE = 0.01
SWEEP_CONFIRMATIONS = 3  # empty scans in a row before the sweep believes the worker is gone

# Linux constants (linux/prctl.h, linux/sched.h)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNET = 0x40000000


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

    @property
    def os_isolation(self) -> bool:
        return self.mode is not Mode.NONE

    def summary(self) -> str:
        limits = self.limits
        limit_text = (f"limits: {limits.address_space_bytes / GIB:g} GiB of address space, files up to "
                      f"{limits.file_size_bytes // MIB} MiB, {limits.processes} processes, {limits.open_files} open "
                      f"files, {limits.cpu_seconds:,} s of CPU, and a time limit on every call.")
        who = f"{self.user.name} (uid {self.user.uid})"
        if self.mode is Mode.BWRAP:
            return (f"OS isolation: on (bubblewrap). Your code ran as the unprivileged user {who} with no "
                    "capabilities and no network, in its own process, mount and IPC namespaces: it could see only "
                    "the system libraries, Python, the homework files and the MNIST data (read-only), its scratch "
                    f"folder and a private /tmp; {limit_text}")
        if self.mode is Mode.SETUID:
            network = ("no network" if self.network_isolated
                       else "network access (the kernel allowed no network namespace)")
            return (f"OS isolation: partial ({self.reason}). Your code ran as the unprivileged user {who} with no "
                    f"capabilities and {network}; the grader's files were checked to be out of its reach; "
                    f"{limit_text}")
        return (f"OS isolation: OFF ({self.reason}). Your code ran as {who}, the grader's own user, with resource and "
                f"time limits only; {limit_text}")

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
    writable: tuple[Path, ...] = ()  # what it may write (handed to the sandbox user; bind-mounted, rw)


@dataclass
class Launched:
    """A running worker: the process the grader started and how to find everything it starts."""

    process: subprocess.Popen
    isolation: Isolation
    token: str
    namespace: str | None = None  # mode bwrap: the worker's PID namespace, e.g. "pid:[4026532830]"
    killed: list[int] = field(default_factory=list)  # pids ended by terminate()

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


def _child_setup(mode: Mode, user: SandboxUser, limits: Limits, processes: int,
                 network_namespace: bool) -> Callable[[], None]:
    """What runs in the child between fork and exec: namespaces, limits, user, no new privileges."""
    libc = _libc()  # loaded before the fork

    def apply() -> None:
        if network_namespace and libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
        for kind, value in (
            (resource.RLIMIT_AS, limits.address_space_bytes),
            (resource.RLIMIT_FSIZE, limits.file_size_bytes),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_NPROC, processes),
            (resource.RLIMIT_CORE, 0),
        ):
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


# -- bubblewrap ----------------------------------------------------------------------------------


def _bwrap_arguments(readable: Sequence[Path], writable: Sequence[Path], info_fd: int | None,
                     data: Sequence[tuple[int, str]]) -> list[str]:
    """bwrap's options: namespaces, an empty root with the given binds, a private /tmp and /proc."""
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
    binds = [("--ro-bind", path) for path in read_only] + [("--bind", str(path)) for path in writable]
    targets = [path for _, path in binds] + [target for _, target in data]
    for directory in _parents_to_create(targets):
        arguments += ["--perms", "0755", "--dir", directory]
    for option, path in binds:
        arguments += [option, path, path]
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
    if os.geteuid() != 0:
        return Isolation(Mode.NONE, own_user(), False, False, False, "the grader was not run as root")
    if forced == Mode.NONE:
        return Isolation(Mode.NONE, own_user(), False, False, False, f"{ISOLATION_VARIABLE}=none was set")
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
                    "Python under /root, and keep it and the MNIST file world-readable)."
                )
            return Isolation(Mode.BWRAP, user, True, True, True, "")
        problem = probe
    if forced == Mode.BWRAP:
        raise SandboxRefused(f"Refusing to grade: {ISOLATION_VARIABLE}=bwrap was set but {problem}")
    exposed = permissions.exposure(user, secret, required, permissions.protected_trees())
    if exposed:
        raise SandboxRefused(permissions.refusal_message(user, exposed))
    return Isolation(Mode.SETUID, user, _network_namespace_works(user), False, False, problem)


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
    processes = _tasks_of(user.uid) + limits.processes
    if isolation.mode is not Mode.NONE:
        for path in spec.writable:
            os.chown(path, user.uid, user.gid)
    command, cwd, pass_fds = list(spec.command), spec.cwd, tuple(spec.pass_fds)
    own_fds: list[int] = []
    info_read = -1
    if isolation.mode is Mode.BWRAP:
        info_read, info_write = os.pipe()
        data = _identity_pipes(user)
        own_fds = [info_write, *(fd for fd, _ in data)]
        arguments = _bwrap_arguments(spec.readable, spec.writable, info_write, data)
        command = ["bwrap", *arguments, "--chdir", str(spec.cwd), *_drop_privileges(user), *command]
        cwd, pass_fds = Path("/"), (*pass_fds, *own_fds)
    elif isolation.mode is Mode.SETUID:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)  # the worker's orphans become the grader's children: the sweep finds them
    setup = _child_setup(isolation.mode, user, limits, processes,
                         isolation.mode is Mode.SETUID and isolation.network_isolated)
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env, pass_fds=pass_fds, stdin=subprocess.DEVNULL,
                                   stdout=spec.stdout, stderr=spec.stderr, start_new_session=True, preexec_fn=setup)
    except (OSError, subprocess.SubprocessError) as error:
        if info_read >= 0:
            os.close(info_read)
        raise SandboxError(f"the worker could not be started ({error})") from error
    finally:
        for fd in own_fds:
            os.close(fd)
    launched = Launched(process, isolation, token)
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

    bwrap: everything in its PID namespace. Otherwise: the sandbox user's processes that are the
    worker, in its session, below it, or carry its token in their environment; in setuid mode also
    the user's orphans that were handed to the grader (a subreaper) and belong to no other worker.
    """
    table = {process.pid: process for process in _processes() if not process.zombie}
    root, me = launched.pid, os.getpid()
    if launched.isolation.mode is Mode.BWRAP:
        return [pid for pid in table if pid != root and _namespace_of(pid) == launched.namespace]

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
    return found


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
