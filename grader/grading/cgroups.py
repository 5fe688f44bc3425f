"""Control groups: one per worker, so that all of a submission's processes together are held to one memory
limit, one process count and one share of the CPU, however many processes it starts.

Resource limits cannot do this: RLIMIT_AS is per process (250 processes of 160 MiB each pass a 6 GiB limit)
and RLIMIT_NPROC is per user (in a batch every worker runs as the same sandbox user, so one worker's fork loop
would use up its neighbours' processes too). A cgroup counts the worker's processes together and nobody
else's, and every process the worker starts is born in it: leaving needs write access to another cgroup's
``cgroup.procs``, which only root has. So the cgroup is also an exact list of the worker's processes.

Where: below the grader's own cgroup in each hierarchy, never beside it, so that whatever holds the grader
(Gradescope's container, a CI job, the benchmark's emulated container) still holds the worker and its
limits still apply. Both layouts are handled: cgroup v2 (one hierarchy; the controllers must be enabled in
the parent's ``cgroup.subtree_control``) and v1 (a hierarchy per controller, e.g. /sys/fs/cgroup/memory),
including the hybrid layout in which v1 holds the controllers and v2 is mounted without any.

Without root, with read-only hierarchies (a container that does not delegate them), or with a v2 parent
that holds processes and so may not enable controllers for children (the "no internal processes" rule),
``Cgroup.create`` raises CgroupUnavailable with the reason and the caller goes on without a cgroup.

This module is also the benchmark's (grader/bench_gradescope.py): one implementation of cgroups.
"""

import os
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")
MOUNTINFO = Path("/proc/self/mountinfo")
PROC_CGROUP = Path("/proc/self/cgroup")
CPU_PERIOD_US = 100_000
V1_SHARES_PER_WEIGHT = 1024 / 100  # v1's default cpu.shares (1024) is v2's default cpu.weight (100)
UNLIMITED_V1 = 2**62  # v1 reports "no limit" as a page-rounded 2**63 - 1
REMOVE_SECONDS = 10.0  # killed processes leave their cgroup as they exit: a loaded machine takes a moment
REMOVE_PAUSE = 0.02


class CgroupUnavailable(RuntimeError):
    """No cgroup can be made here (the message says why); the caller goes on without one."""


@dataclass(frozen=True)
class CgroupLimits:
    """What a cgroup holds its processes to, together. None: not limited (or, in results, not in effect)."""

    memory_bytes: int | None = None  # resident memory, page cache and tmpfs files included; no swap
    pids: int | None = None  # processes and threads
    cpu_weight: int | None = None  # the share of CPU under contention, v2's scale (1-10,000; 100 is the default)
    cpus: float | None = None  # a hard CPU quota in CPUs (the benchmark's ½ CPU); None: no quota

    def controllers(self) -> tuple[str, ...]:
        wanted = {"memory": self.memory_bytes is not None, "pids": self.pids is not None,
                  "cpu": self.cpu_weight is not None or self.cpus is not None}
        return tuple(name for name in CONTROLLERS if wanted[name])


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy: this process's own cgroup in it, and the controllers it holds."""

    version: int  # 1 or 2
    folder: Path  # this process's cgroup, as a folder of the mounted hierarchy
    controllers: tuple[str, ...]  # of CONTROLLERS (v2: those available to this process's cgroup)


Placement = Mapping[str, Hierarchy]  # controller -> the hierarchy that holds it


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    for code, character in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, character)
    return field


def _own_paths(proc_cgroup: Path) -> dict[frozenset[str], str]:
    """This process's cgroup path per hierarchy, keyed by the hierarchy's controllers (v2: the empty set)."""
    found: dict[frozenset[str], str] = {}
    for line in proc_cgroup.read_text().splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            found[frozenset(name for name in parts[1].split(",") if name)] = parts[2]
    return found


def _inside(own: str, mount_root: str) -> str | None:
    """``own`` relative to the mount's root, or None when the mount does not show this process's cgroup."""
    if mount_root == "/":
        return own.lstrip("/")
    if own == mount_root:
        return ""
    if own.startswith(f"{mount_root}/"):
        return own[len(mount_root) + 1:]
    return None


def placement(mountinfo: Path = MOUNTINFO, proc_cgroup: Path = PROC_CGROUP) -> dict[str, Hierarchy]:
    """Where each controller of CONTROLLERS is, for this process: {} when cgroups are not mounted or readable."""
    try:
        own = _own_paths(proc_cgroup)
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return {}
    found: dict[str, Hierarchy] = {}
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in {"cgroup", "cgroup2"}:
            continue
        mount_root, mount_point = _unescape(fields[3]), Path(_unescape(fields[4]))
        if tail[0] == "cgroup":
            options = frozenset(tail[2].split(","))
            key = next((names for names in own if names and names <= options and names & set(CONTROLLERS)), None)
            relative = None if key is None else _inside(own[key], mount_root)
            if relative is None:
                continue
            hierarchy = Hierarchy(1, mount_point / relative, tuple(c for c in CONTROLLERS if c in key))
        else:
            relative = _inside(own.get(frozenset(), "\0"), mount_root)
            if relative is None:
                continue
            folder = mount_point / relative
            try:
                available = (folder / "cgroup.controllers").read_text().split()
            except OSError:
                continue
            hierarchy = Hierarchy(2, folder, tuple(c for c in CONTROLLERS if c in available))
        for controller in hierarchy.controllers:
            found.setdefault(controller, hierarchy)
    return found


def enclosing_memory_limit(place: Placement) -> int | None:
    """The tightest memory limit on this process's cgroup and its ancestors (a container's), in bytes."""
    hierarchy = place.get("memory")
    if hierarchy is None:
        return None
    name = "memory.max" if hierarchy.version == 2 else "memory.limit_in_bytes"
    limits = []
    folder = hierarchy.folder
    while True:
        try:
            text = (folder / name).read_text().strip()
        except OSError:
            break
        if text != "max" and text.isdigit() and int(text) < UNLIMITED_V1:
            limits.append(int(text))
        if folder.parent == folder:
            break
        folder = folder.parent
    return min(limits) if limits else None


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as error:
        raise CgroupUnavailable(f"cannot write {value!r} to {path} ({error.strerror or error})") from None


class Cgroup:
    """A cgroup made for one worker (or one benchmark grading) with its limits; ended by ``remove``."""

    def __init__(self, folders: dict[Path, int], memory: Path | None, limits: CgroupLimits) -> None:
        self.folders = folders  # folder -> cgroup version
        self.memory = memory  # the folder that holds the memory controller
        self.limits = limits

    @classmethod
    def create(cls, limits: CgroupLimits, place: Placement | None = None, prefix: str = "grader-worker",
               accounted: tuple[str, ...] = ()) -> "Cgroup":
        """A new cgroup below this process's own, in every hierarchy that holds a controller the limits need.

        ``accounted``: controllers to join even without a limit (the benchmark measures memory it does not cap).
        """
        if os.geteuid() != 0:
            raise CgroupUnavailable("making cgroups needs root")
        place = placement() if place is None else place
        controllers = tuple(name for name in CONTROLLERS if name in limits.controllers() or name in accounted)
        missing = [name for name in controllers if name not in place]
        if missing:
            raise CgroupUnavailable(f"no cgroup hierarchy with the {' and '.join(missing)} controller is mounted "
                                    "for this process")
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        hierarchies: dict[Path, Hierarchy] = {}
        for controller in controllers:
            hierarchies.setdefault(place[controller].folder, place[controller])
        folders: dict[Path, int] = {}
        memory = place["memory"].folder / name if "memory" in controllers else None
        cgroup = cls(folders, memory, limits)
        try:
            for parent, hierarchy in hierarchies.items():
                if hierarchy.version == 2:
                    _enable_for_children(parent, [c for c in controllers if place[c] is hierarchy])
                try:
                    (parent / name).mkdir()
                except OSError as error:
                    raise CgroupUnavailable(f"cannot make a cgroup in {parent} ({error.strerror or error})") from None
                folders[parent / name] = hierarchy.version
            for controller in limits.controllers():
                cgroup._apply(controller, place[controller].folder / name, place[controller].version)
        except CgroupUnavailable:
            cgroup.remove()
            raise
        return cgroup

    def _apply(self, controller: str, folder: Path, version: int) -> None:
        limits = self.limits
        if controller == "memory" and limits.memory_bytes is not None:
            if version == 2:
                _write(folder / "memory.max", str(limits.memory_bytes))
                if (folder / "memory.swap.max").exists():
                    _write(folder / "memory.swap.max", "0")
            else:
                _write(folder / "memory.limit_in_bytes", str(limits.memory_bytes))
                if (folder / "memory.memsw.limit_in_bytes").exists():  # memory and swap together: no swap
                    _write(folder / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
        elif controller == "pids" and limits.pids is not None:
            _write(folder / "pids.max", str(limits.pids))
        elif controller == "cpu":
            if limits.cpu_weight is not None:
                if version == 2:
                    _write(folder / "cpu.weight", str(limits.cpu_weight))
                else:
                    _write(folder / "cpu.shares", str(max(2, round(limits.cpu_weight * V1_SHARES_PER_WEIGHT))))
            if limits.cpus is not None:
                quota = str(round(limits.cpus * CPU_PERIOD_US))
                if version == 2:
                    _write(folder / "cpu.max", f"{quota} {CPU_PERIOD_US}")
                else:
                    _write(folder / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                    _write(folder / "cpu.cfs_quota_us", quota)

    def enter(self) -> Callable[[], None]:
        """For ``preexec_fn`` (as root, before anything else): move the new process into the cgroup."""
        files = [str(folder / "cgroup.procs") for folder in self.folders]

        def join() -> None:
            pid = str(os.getpid()).encode()
            for name in files:
                fd = os.open(name, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)

        return join

    def processes(self) -> list[int]:
        """Every process in the cgroup now (a worker's processes cannot leave it)."""
        found: set[int] = set()
        for folder in self.folders:
            try:
                found.update(int(line) for line in (folder / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                continue
        return sorted(found)

    def kill(self) -> None:
        """SIGKILL to every process in the cgroup (v2's cgroup.kill where the kernel has it)."""
        for folder, version in self.folders.items():
            if version == 2 and (folder / "cgroup.kill").exists():
                try:
                    (folder / "cgroup.kill").write_text("1")
                except OSError:
                    pass
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue

    def _memory_file(self, v1: str, v2: str) -> str | None:
        if self.memory is None:
            return None
        try:
            return (self.memory / (v2 if self.folders.get(self.memory) == 2 else v1)).read_text()
        except OSError:
            return None

    def peak_bytes(self) -> int | None:
        """The highest memory use so far (page cache included), when the kernel reports it."""
        text = self._memory_file("memory.max_usage_in_bytes", "memory.peak")
        return int(text) if text and text.strip().isdigit() else None

    def oom_kills(self) -> int:
        """Processes the kernel killed for reaching the memory limit."""
        text = self._memory_file("memory.oom_control", "memory.events") or ""
        counts = dict(line.split(maxsplit=1) for line in text.splitlines() if " " in line)
        value = counts.get("oom_kill", "0").strip()
        return int(value) if value.isdigit() else 0

    def remove(self, seconds: float = REMOVE_SECONDS) -> list[int]:
        """Kill what is left in the cgroup and remove it; return the processes that would not go (none)."""
        deadline = time.monotonic() + seconds
        for folder in sorted(self.folders, key=lambda path: -len(path.parts)):
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    self.kill()  # rmdir fails while a process is in it
                    time.sleep(REMOVE_PAUSE)
        return self.processes() if any(folder.exists() for folder in self.folders) else []


def _enable_for_children(parent: Path, controllers: list[str]) -> None:
    """v2: controllers must be enabled in the parent's subtree_control before a child can use them."""
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
    except OSError as error:
        raise CgroupUnavailable(f"cannot read {parent / 'cgroup.subtree_control'} ({error.strerror})") from None
    wanted = [c for c in controllers if c not in enabled]
    if not wanted:
        return
    try:
        (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
    except OSError as error:
        busy = " (cgroup v2 lets a cgroup that holds processes, as the grader's does, give no controller to " \
               "children: run the grader in a cgroup of its own with the controllers delegated)"
        raise CgroupUnavailable(f"cannot enable {', '.join(wanted)} for child cgroups of {parent} "
                                f"({error.strerror}){busy if error.errno == 16 else ''}") from None


def describe(place: Placement) -> str:
    """The layout, for messages: e.g. "v1 (memory, pids, cpu)" or "v2 (memory, pids, cpu)"."""
    versions = sorted({hierarchy.version for hierarchy in place.values()})
    return f"{'+'.join(f'v{v}' for v in versions)} ({', '.join(place)})" if place else "none"

