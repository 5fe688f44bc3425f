"""The sandbox's mechanisms, one at a time, with a bare Python as the worker (no torch: fast).

Each mode is tested where this machine can run it: bwrap (root with bubblewrap), setuid (root) and
none (always). The corpus (test_sandbox_corpus.py) shows the same mechanisms against whole submissions.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from grader.grading import permissions, sandbox
from grader.grading.sandbox import Isolation, LaunchSpec, Mode

IS_ROOT = os.geteuid() == 0
ROOT_REASON = "OS isolation needs root; not root here: the worker runs without it (mode none)"

PROBE = r"""
import json, os, resource, socket, sys, time
facts = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "ppid": os.getppid()}
status = open("/proc/self/status").read()
facts["cap_eff"] = [l.split()[1] for l in status.splitlines() if l.startswith("CapEff")][0]
facts["no_new_privs"] = [l.split()[1] for l in status.splitlines() if l.startswith("NoNewPrivs")][0]
facts["limits"] = {name: resource.getrlimit(getattr(resource, name))[0]
                   for name in ("RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CPU", "RLIMIT_CORE")}
paths = json.loads(sys.argv[1])
facts["visible"] = {p: os.path.lexists(p) for p in paths["look"]}
facts["readable"] = {p: os.access(p, os.R_OK) for p in paths["look"]}
def writes(path):
    try:
        with open(path, "a"):
            pass
        return True
    except OSError:
        return False
facts["writes"] = {p: writes(p) for p in paths["write"]}
try:
    socket.create_connection(("127.0.0.1", paths["port"]), timeout=2).close()
    facts["connected"] = True
except OSError:
    facts["connected"] = False
try:
    os.kill(os.getppid(), 0)
    facts["may_signal_parent"] = True
except OSError:
    facts["may_signal_parent"] = False
print(json.dumps(facts), flush=True)
if paths.get("daemon"):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "300"])
        os._exit(0)
    os.wait()
    time.sleep(300)
"""


def available_modes() -> list:
    modes = [pytest.param(Mode.NONE, id="none")]
    skip_root = pytest.mark.skipif(not IS_ROOT, reason=ROOT_REASON)
    modes.append(pytest.param(Mode.SETUID, id="setuid", marks=skip_root))
    modes.append(pytest.param(Mode.BWRAP, id="bwrap", marks=skip_root))
    return modes


def isolation_for(mode: Mode) -> Isolation:
    if mode is Mode.NONE:
        return Isolation(Mode.NONE, sandbox.own_user(), False, False, False, "forced by the test")
    user = sandbox.sandbox_user()
    if mode is Mode.SETUID:
        return Isolation(Mode.SETUID, user, sandbox._network_namespace_works(user), False, False, "forced by the test")
    if sandbox._bwrap_missing():
        pytest.skip(f"bubblewrap mode is not possible here: {sandbox._bwrap_missing()}")
    return Isolation(Mode.BWRAP, user, True, True, True, "")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.1)
        yield server


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A workspace and a secret, laid out as the grader would (a traversable, unlistable holder)."""
    holder = Path(os.path.realpath(tmp_path)) / "holder"
    for folder in ("homework", "scratch", "secret"):
        (holder / folder).mkdir(parents=True)
    (holder / "homework" / "utils.py").write_text("# homework\n")
    (holder / "secret" / "solution.py").write_text("SECRET = 1\n")
    (holder / "secret").chmod(0o700)
    (holder / "homework").chmod(0o755)
    (holder / "homework" / "utils.py").chmod(0o644)
    for folder in (holder, *holder.parents):
        if folder.stat().st_uid == os.geteuid() and str(folder).startswith(str(tmp_path.parents[1])):
            folder.chmod(folder.stat().st_mode | 0o711)
    return {"holder": holder, "homework": holder / "homework", "scratch": holder / "scratch",
            "secret": holder / "secret" / "solution.py"}


def run(mode: Mode, layout: dict[str, Path], monkeypatch: pytest.MonkeyPatch, port: int,
        daemon: bool = False) -> tuple[sandbox.Launched, dict, int]:
    isolation = isolation_for(mode)
    monkeypatch.setattr(sandbox, "_isolation", lambda extra: isolation)
    paths = {"look": [str(layout["secret"]), str(layout["homework"] / "utils.py"), str(permissions.PROJECT_DIR /
                                                                                      "reference" / "utils.py")],
             "write": [str(layout["homework"] / "utils.py"), str(layout["scratch"] / "mine.txt")],
             "port": port, "daemon": daemon}
    read_end, write_end = os.pipe()
    spec = LaunchSpec(command=[sys.executable, "-I", "-S", "-c", PROBE, json.dumps(paths)], cwd=layout["scratch"],
                      env=sandbox.clean_environment(layout["scratch"], 1), pass_fds=(), stdout=write_end,
                      stderr=write_end, readable=(layout["homework"],), writable=(layout["scratch"],))
    launched = sandbox.launch(spec)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as output:
        line = output.readline()
    try:
        facts = json.loads(line)
    except ValueError:
        sandbox.terminate(launched)
        raise AssertionError(f"the probe printed {line!r}") from None
    return launched, facts, read_end


@pytest.mark.parametrize("mode", available_modes())
def test_the_worker_gets_the_limits_and_no_capabilities(mode, layout, monkeypatch, listener):
    launched, facts, _ = run(mode, layout, monkeypatch, listener.getsockname()[1])
    sandbox.terminate(launched)
    limits = sandbox.Limits()
    assert facts["limits"] == {"RLIMIT_AS": limits.address_space_bytes, "RLIMIT_FSIZE": limits.file_size_bytes,
                               "RLIMIT_NOFILE": limits.open_files, "RLIMIT_CPU": limits.cpu_seconds, "RLIMIT_CORE": 0}
    assert facts["no_new_privs"] == "1"
    assert facts["writes"][str(layout["scratch"] / "mine.txt")]
    if mode is not Mode.NONE:
        user = sandbox.sandbox_user()
        assert (facts["uid"], facts["gid"], facts["groups"]) == (user.uid, user.gid, [])
        assert facts["cap_eff"] == "0000000000000000"
        assert facts["may_signal_parent"] is False  # its parent is root's: the grader (setuid) or bubblewrap


@pytest.mark.skipif(not IS_ROOT, reason=ROOT_REASON)
def test_bwrap_shows_the_worker_only_what_it_needs(layout, monkeypatch, listener):
    launched, facts, _ = run(Mode.BWRAP, layout, monkeypatch, listener.getsockname()[1])
    sandbox.terminate(launched)
    reference = str(permissions.PROJECT_DIR / "reference" / "utils.py")
    assert facts["visible"] == {str(layout["secret"]): False, str(layout["homework"] / "utils.py"): True,
                                reference: False}
    assert facts["writes"][str(layout["homework"] / "utils.py")] is False  # a read-only bind
    assert facts["connected"] is False and facts["ppid"] == 1


@pytest.mark.skipif(not IS_ROOT, reason=ROOT_REASON)
def test_setuid_mode_relies_on_permissions_and_a_network_namespace(layout, monkeypatch, listener):
    launched, facts, _ = run(Mode.SETUID, layout, monkeypatch, listener.getsockname()[1])
    sandbox.terminate(launched)
    assert facts["readable"][str(layout["secret"])] is False  # mode 700, root's
    assert facts["readable"][str(layout["homework"] / "utils.py")] is True
    assert facts["writes"][str(layout["homework"] / "utils.py")] is False
    if launched.isolation.network_isolated:
        assert facts["connected"] is False


@pytest.mark.parametrize("mode", available_modes())
def test_terminate_kills_a_double_forked_daemon_in_a_new_session(mode, layout, monkeypatch, listener):
    launched, _, _ = run(mode, layout, monkeypatch, listener.getsockname()[1], daemon=True)
    try:
        deadline = time.monotonic() + 10
        while not (daemons := sleepers(launched.token)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert daemons, "the probe's daemon (sleep 300, in a session of its own) should be running"
        assert set(daemons) <= set(sandbox.worker_processes(launched))
    finally:
        assert sandbox.terminate(launched) == []
    for pid in daemons:
        assert not alive(pid), f"process {pid} survived"


def sleepers(token: str) -> list[int]:
    """``sleep`` processes with the worker's token, found without the sandbox's help."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            command = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            environment = Path(f"/proc/{entry.name}/environ").read_bytes()
        except OSError:
            continue
        if command.startswith(b"sleep") and f"{sandbox.TOKEN_VARIABLE}={token}".encode() in environment:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in {"Z", "X"}
    except OSError:
        return False


@pytest.mark.parametrize("mode", available_modes())
def test_a_worker_killed_by_a_signal_reports_the_signal(mode, layout, monkeypatch, tmp_path):
    isolation = isolation_for(mode)
    monkeypatch.setattr(sandbox, "_isolation", lambda extra: isolation)
    spec = LaunchSpec(command=[sys.executable, "-I", "-S", "-c", "import os; os.kill(os.getpid(), 9)"],
                      cwd=layout["scratch"], env=sandbox.clean_environment(layout["scratch"], 1), pass_fds=(),
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, writable=(layout["scratch"],))
    launched = sandbox.launch(spec)
    assert launched.exit_code(timeout=30) == -signal.SIGKILL
    sandbox.terminate(launched)


def test_the_isolation_in_effect_is_described_for_the_results():
    sandbox.reset()
    isolation = sandbox.isolation_in_effect()
    extra = isolation.as_extra_data()
    assert extra["mode"] == isolation.mode.value and extra["os_isolation"] == (isolation.mode is not Mode.NONE)
    summary = isolation.summary()
    if IS_ROOT:
        assert isolation.mode in {Mode.BWRAP, Mode.SETUID} and summary.startswith("OS isolation: ")
        assert "OFF" not in summary
        assert extra["scratch_bytes"] == sandbox.SCRATCH_BYTES and extra["tmp_bytes"] == sandbox.PRIVATE_TMP_BYTES
        assert f"scratch folder held at most {sandbox.SCRATCH_BYTES // 2**20} MiB" in summary
        if extra["cgroup"] is not None:  # root, and this machine lets the grader make cgroups
            assert extra["cgroup"]["memory_bytes"] and "MiB of memory" in summary and "a cgroup of its own" in summary
        else:
            assert extra["cgroup_reason"] and f"no cgroup ({extra['cgroup_reason']})" in summary
    else:
        assert isolation.mode is Mode.NONE and summary.startswith("OS isolation: OFF")


STORAGE_PROBE = r"""
import json, os, sys
paths = json.loads(sys.argv[1])
def size(path):
    info = os.statvfs(path)
    return info.f_blocks * info.f_frsize
def writes(path):
    try:
        with open(path, "w") as handle:
            handle.write("written by the worker")
        return True
    except OSError:
        return False
facts = {"scratch_size": size("."), "tmp_size": size("/tmp"), "cwd": os.getcwd(),
         "writes": {p: writes(p) for p in paths["write"]},
         "visible": {p: os.path.exists(p) for p in paths["look"]}}
print(json.dumps(facts), flush=True)
"""


@pytest.mark.skipif(not IS_ROOT, reason=ROOT_REASON)
@pytest.mark.parametrize("mode", [Mode.BWRAP, Mode.SETUID])
def test_scratch_and_tmp_are_capped_private_tmpfs_gone_with_the_worker(mode, layout, monkeypatch):
    base = isolation_for(mode)
    if mode is Mode.SETUID:
        reason = sandbox._private_mounts_work(base.user)
        if reason:
            pytest.skip(reason)
    isolation = replace(base, scratch_bytes=sandbox.SCRATCH_BYTES, tmp_bytes=sandbox.PRIVATE_TMP_BYTES)
    monkeypatch.setattr(sandbox, "_isolation", lambda extra: isolation)
    data = layout["holder"] / "data.npz"  # a file the worker reads, under /tmp: bound back in setuid mode
    data.write_text("data")
    data.chmod(0o644)
    marker = f"vae-storage-probe-{os.getpid()}"
    shared = [f"/tmp/{marker}", f"/var/tmp/{marker}", f"/dev/shm/{marker}"]
    paths = {"write": [str(layout["scratch"] / "mine.txt"), *shared],
             "look": [str(layout["homework"] / "utils.py"), str(layout["secret"]), str(data)]}
    read_end, write_end = os.pipe()
    spec = LaunchSpec(command=[sys.executable, "-I", "-S", "-c", STORAGE_PROBE, json.dumps(paths)],
                      cwd=layout["scratch"], env=sandbox.clean_environment(layout["scratch"], 1), pass_fds=(),
                      stdout=write_end, stderr=write_end, readable=(layout["homework"], data),
                      writable=(layout["scratch"],))
    launched = sandbox.launch(spec)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as output:
        line = output.readline()
    assert sandbox.terminate(launched) == []
    facts = json.loads(line)
    assert facts["scratch_size"] == sandbox.SCRATCH_BYTES and facts["tmp_size"] == sandbox.PRIVATE_TMP_BYTES
    assert facts["cwd"] == str(layout["scratch"]) and facts["writes"][str(layout["scratch"] / "mine.txt")]
    assert facts["visible"] == {str(layout["homework"] / "utils.py"): True, str(layout["secret"]): False,
                                str(data): True}
    assert list(layout["scratch"].iterdir()) == []  # what it wrote never reached the grader's folder
    assert not any(os.path.exists(path) for path in shared)  # the machine's /tmp, /var/tmp, /dev/shm: untouched


def test_mode_none_says_that_nothing_is_capped_and_why():
    isolation = Isolation(Mode.NONE, sandbox.own_user(), False, False, False, "the grader was not run as root",
                          cgroup_reason="making cgroups needs root",
                          storage_reason="mode none: scratch is an ordinary folder and /tmp the machine's")
    summary, extra = isolation.summary(), isolation.as_extra_data()
    assert "no cgroup (making cgroups needs root)" in summary and "no size cap" in summary
    assert extra["cgroup"] is None and extra["scratch_bytes"] is None and extra["tmp_bytes"] is None
