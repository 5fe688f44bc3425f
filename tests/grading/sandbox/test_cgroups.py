"""The worker's cgroup: where it is made (v1, v2, hybrid, inside a container), what is written, and, as root, that
all of a worker's processes together are held to its limits and that nothing is left once it has ended."""

import errno
import os
import sys
import time
from pathlib import Path

import pytest

from grader.grading import cgroups, sandbox
from grader.grading.cgroups import Cgroup, CgroupLimits, CgroupUnavailable, Hierarchy
from grader.grading.sandbox import Isolation, LaunchSpec, Mode

IS_ROOT = os.geteuid() == 0
MIB = 2**20

HYBRID_MOUNTS = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_OWN = """\
9:name=systemd:/
8:pids:/batch
4:memory:/docker/abc/job
2:cpu,cpuacct:/
0::/
"""


def fake_proc(tmp_path: Path, mounts: str, own: str) -> tuple[Path, Path]:
    (tmp_path / "mountinfo").write_text(mounts.replace("/sys/fs/cgroup", str(tmp_path / "cg")))
    (tmp_path / "cgroup").write_text(own)
    return tmp_path / "mountinfo", tmp_path / "cgroup"


@pytest.fixture
def as_root(monkeypatch):
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 0)


def test_the_hybrid_layout_uses_v1_for_each_controller_below_the_process_own_cgroup(tmp_path):
    mountinfo, own = fake_proc(tmp_path, HYBRID_MOUNTS, HYBRID_OWN)
    (tmp_path / "cg" / "unified").mkdir(parents=True)
    (tmp_path / "cg" / "unified" / "cgroup.controllers").write_text("")  # v2 mounted, every controller in v1
    place = cgroups.placement(mountinfo, own)
    assert place == {
        "cpu": Hierarchy(1, tmp_path / "cg" / "cpu,cpuacct", ("cpu",)),
        "memory": Hierarchy(1, tmp_path / "cg" / "memory" / "job", ("memory",)),  # the mount shows /docker/abc
        "pids": Hierarchy(1, tmp_path / "cg" / "pids" / "batch", ("pids",)),
    }
    assert cgroups.describe(place) == "v1 (cpu, memory, pids)"


def test_v2_offers_the_controllers_that_the_process_cgroup_has(tmp_path):
    mounts = "41 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
    mountinfo, own = fake_proc(tmp_path, mounts, "0::/grader.slice\n")
    folder = tmp_path / "cg" / "grader.slice"
    folder.mkdir(parents=True)
    (folder / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    place = cgroups.placement(mountinfo, own)
    assert set(place) == {"memory", "pids", "cpu"} and all(h.version == 2 and h.folder == folder
                                                            for h in place.values())


def test_no_cgroups_mounted_means_no_placement(tmp_path):
    mountinfo, own = fake_proc(tmp_path, "22 1 0:21 / /proc rw - proc proc rw\n", "0::/\n")
    assert cgroups.placement(mountinfo, own) == {}
    assert cgroups.placement(tmp_path / "missing", own) == {}


def test_v1_limits_memory_without_swap_pids_and_cpu_shares(tmp_path, as_root):
    place = {name: Hierarchy(1, tmp_path / name, (name,)) for name in ("memory", "pids", "cpu")}
    for hierarchy in place.values():
        hierarchy.folder.mkdir()
    real_mkdir = Path.mkdir

    def mkdir_like_the_kernel(self, *args, **kwargs):  # a new v1 memory cgroup has memory.memsw.* when swap is on
        real_mkdir(self, *args, **kwargs)
        if self.parent.name == "memory":
            (self / "memory.memsw.limit_in_bytes").write_text("9223372036854771712")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "mkdir", mkdir_like_the_kernel)
        cgroup = Cgroup.create(CgroupLimits(memory_bytes=512 * MIB, pids=64, cpu_weight=100), place)
    folders = {folder.parent.name: folder for folder in cgroup.folders}
    assert (folders["memory"] / "memory.limit_in_bytes").read_text() == str(512 * MIB)
    assert (folders["memory"] / "memory.memsw.limit_in_bytes").read_text() == str(512 * MIB)
    assert (folders["pids"] / "pids.max").read_text() == "64"
    assert (folders["cpu"] / "cpu.shares").read_text() == "1024"
    (folders["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert cgroup.oom_kills() == 3


def test_v2_limits_and_the_controllers_enabled_for_children(tmp_path, as_root):
    (tmp_path / "cgroup.subtree_control").write_text("memory")
    hierarchy = Hierarchy(2, tmp_path, ("memory", "pids", "cpu"))
    real_mkdir = Path.mkdir

    def mkdir_like_the_kernel(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)
        (self / "memory.swap.max").write_text("max")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "mkdir", mkdir_like_the_kernel)
        cgroup = Cgroup.create(CgroupLimits(memory_bytes=512 * MIB, pids=64, cpu_weight=100),
                               dict.fromkeys(("memory", "pids", "cpu"), hierarchy))
    (folder,) = cgroup.folders
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+pids +cpu"  # memory was already enabled
    assert (folder / "memory.max").read_text() == str(512 * MIB) and (folder / "memory.swap.max").read_text() == "0"
    assert (folder / "pids.max").read_text() == "64" and (folder / "cpu.weight").read_text() == "100"
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\n")
    assert cgroup.oom_kills() == 2


def test_what_stops_a_cgroup_is_named(tmp_path, monkeypatch):
    with pytest.raises(CgroupUnavailable, match="needs root"):
        monkeypatch.setattr(cgroups.os, "geteuid", lambda: 1000)
        Cgroup.create(CgroupLimits(memory_bytes=MIB), {})
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 0)
    with pytest.raises(CgroupUnavailable, match="pids controller"):
        Cgroup.create(CgroupLimits(memory_bytes=MIB, pids=8), {"memory": Hierarchy(1, tmp_path, ("memory",))})
    (tmp_path / "cgroup.subtree_control").write_text("")
    real_write = Path.write_text

    def busy(self, *args, **kwargs):  # v2 refuses controllers to children of a cgroup that holds processes
        if self.name == "cgroup.subtree_control":
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", busy)
    with pytest.raises(CgroupUnavailable, match=r"cannot enable memory .* holds processes"):
        Cgroup.create(CgroupLimits(memory_bytes=MIB), {"memory": Hierarchy(2, tmp_path, ("memory",))})
    assert [path.name for path in tmp_path.iterdir()] == ["cgroup.subtree_control"]  # nothing made


def test_a_container_limit_above_is_found(tmp_path):
    inner = tmp_path / "docker" / "job"
    inner.mkdir(parents=True)
    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712")
    (tmp_path / "docker" / "memory.limit_in_bytes").write_text(str(768 * 10**6))
    (inner / "memory.limit_in_bytes").write_text("9223372036854771712")
    assert cgroups.enclosing_memory_limit({"memory": Hierarchy(1, inner, ("memory",))}) == 768 * 10**6
    assert cgroups.enclosing_memory_limit({}) is None


def test_in_a_tight_container_the_worker_gets_what_the_grader_leaves(monkeypatch):
    hierarchy = Hierarchy(1, Path("/nonexistent"), ("memory",))
    monkeypatch.setattr(cgroups, "placement", lambda: {"memory": hierarchy})
    monkeypatch.setattr(sandbox.Cgroup, "create", classmethod(lambda cls, *args, **kwargs: Cgroup({}, None, args[0])))
    for container, expected in ((768 * 10**6, sandbox.WORKER_MEMORY_FLOOR_BYTES),  # Gradescope's default
                                (2**30, 2**30 - sandbox.GRADER_MEMORY_RESERVE_BYTES),
                                (None, sandbox.WORKER_MEMORY_BYTES)):
        monkeypatch.setattr(cgroups, "enclosing_memory_limit", lambda place, limit=container: limit)
        limits, reason = sandbox._cgroup_for_workers(sandbox.Limits())
        assert limits is not None and limits.memory_bytes == expected and limits.pids is None
        assert reason == "no pids or cpu controller here"


# -- for real, as root ---------------------------------------------------------------------------------

FLEET = r"""
import os, sys, time
children, size = int(sys.argv[1]), int(sys.argv[2]) * 2**20
pids = []
for _ in range(children):
    pid = os.fork()
    if pid == 0:
        block = b"\x01" * size
        time.sleep(60)
        os._exit(0)
    pids.append(pid)
time.sleep(60)
"""

FORKS = r"""
import os, time
made = 0
try:
    for _ in range(100):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        made += 1
except OSError as error:
    print(f"refused after {made}: {error.strerror}", flush=True)
time.sleep(60)
"""


def real_cgroup_reason() -> str:
    if not IS_ROOT:
        return "making cgroups needs root"
    limits, reason = sandbox._cgroup_for_workers(sandbox.Limits())
    return "" if limits is not None and limits.memory_bytes and limits.pids else reason or "no memory or pids"


def launch_in_cgroup(mode: Mode, tmp_path: Path, code: str, *arguments: str, memory_mib: int = 96,
                     pids: int = 32) -> tuple[sandbox.Launched, Path]:
    reason = real_cgroup_reason()
    if reason:
        pytest.skip(f"no cgroup here: {reason}")
    if mode is Mode.BWRAP and sandbox._bwrap_missing():
        pytest.skip(sandbox._bwrap_missing())
    user = sandbox.sandbox_user() if mode is not Mode.NONE else sandbox.own_user()
    isolation = Isolation(mode, user, False, mode is Mode.BWRAP, mode is Mode.BWRAP, "forced by the test",
                          limits=sandbox.Limits(processes=pids),
                          cgroup=CgroupLimits(memory_bytes=memory_mib * MIB, pids=pids, cpu_weight=100))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    output = tmp_path / "output.txt"
    with pytest.MonkeyPatch.context() as patch, open(output, "wb") as handle:
        patch.setattr(sandbox, "_isolation", lambda extra: isolation)
        launched = sandbox.launch(LaunchSpec(command=[sys.executable, "-I", "-S", "-c", code, *arguments],
                                             cwd=scratch, env=sandbox.clean_environment(scratch, 1), pass_fds=(),
                                             stdout=handle.fileno(), stderr=handle.fileno(), writable=(scratch,)))
    return launched, output


def wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("mode", [Mode.BWRAP, Mode.SETUID])
def test_processes_each_under_the_limit_are_killed_together_past_it(mode, tmp_path):
    launched, _ = launch_in_cgroup(mode, tmp_path, FLEET, "6", "24", memory_mib=96)  # 6 x 24 MiB > 96 MiB
    try:
        assert launched.cgroup is not None
        folders = list(launched.cgroup.folders)
        with open(f"/proc/{launched.pid}/cgroup") as handle:
            assert launched.cgroup.memory.name in handle.read()  # the worker was born in it
        assert wait_for(lambda: launched.cgroup.oom_kills() > 0), "the memory limit never killed anything"
        assert "reached their memory limit of 96 MiB together" in launched.memory_note()
    finally:
        assert sandbox.terminate(launched) == []
    assert not any(folder.exists() for folder in folders), "the worker's cgroup was left behind"


@pytest.mark.parametrize("mode", [Mode.BWRAP, Mode.SETUID])
def test_the_pids_limit_counts_the_worker_alone(mode, tmp_path):
    launched, output = launch_in_cgroup(mode, tmp_path, FORKS, pids=16)
    try:
        assert wait_for(lambda: b"refused after" in output.read_bytes()), output.read_bytes()
        made = int(output.read_bytes().split(b"refused after ")[1].split(b":")[0])
        assert made < 16  # bubblewrap's own processes are in the cgroup too
        assert len(sandbox.worker_processes(launched)) >= made
    finally:
        assert sandbox.terminate(launched) == []
