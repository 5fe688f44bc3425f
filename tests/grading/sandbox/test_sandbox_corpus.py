"""The adversarial corpus through the real grader: every hostile or broken submission in corpus/cases.toml.

For each case: a valid results.json, a score within the case's bounds, the named checks failed with
words that say what went wrong, no forged or leaked text in the results, no process of the submission
left, no change to the decoy grader folder, and no connection to the test's port.
"""

import glob
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from grader.grading import permissions, sandbox
from grader.grading.grade import grade
from grader.grading.session import Budgets, GradeConfig
from grader.grading.worker_client import LOG_KEEP_BYTES
from grader.grading.workspace import HOLDER_PREFIX
from tests.conftest import FLAGSHIP, validate_results
from tests.grading.sandbox.corpus import (
    ADDITION_HEADER,
    BUILDERS,
    CORPUS,
    ROOT,
    Case,
    base_text,
    build,
    export,
    load_cases,
    make_decoy,
    snapshot,
    substitute,
)

CASES = load_cases()
MIN_CASES = 25
IS_ROOT = os.geteuid() == 0
SURVIVOR_PATIENCE = 10.0  # seconds


# -- the table and the files ----------------------------------------------------------------------


def test_the_corpus_has_at_least_25_cases_each_with_its_files():
    names = [case.name for case in CASES]
    assert len(names) >= MIN_CASES and len(set(names)) == len(names)
    stored = {path.name for path in CORPUS.iterdir() if path.is_dir()}
    assert stored <= set(names), f"corpus folders without a table entry: {sorted(stored - set(names))}"
    for case in CASES:
        assert case.build in BUILDERS, case.name
        assert case.does and case.stopped_by, case.name
        assert case.lowest <= case.max_score <= 48 or case.phase == "training", case.name
        if case.build == "folder" and not case.drop:
            assert case.name in stored, f"{case.name}: no folder corpus/{case.name}/"


def test_every_stored_file_is_an_addition_to_a_file_that_exists(tmp_path):
    for path in sorted(CORPUS.glob("*/*.py")):
        header = ADDITION_HEADER.match(path.read_text())
        assert header is not None, f"{path}: no header naming its base file"
        assert base_text(header["base"], header["name"]), path
    folders = export(tmp_path / "export")
    assert folders
    for folder in folders:
        for name in ("utils.py", "vae.py"):
            text = (folder / name).read_text()
            compile(text, str(folder / name), "exec")  # a complete module, as uploaded
            assert "__PORT__" not in text and "__RESULTS_DIR__" not in text


# -- what the tests watch ---------------------------------------------------------------------------


class Listener:
    """TCP and UDP on 127.0.0.1 and ::1, one port: records anything that arrives."""

    def __init__(self) -> None:
        self.arrivals: list[str] = []
        self.sockets: list[socket.socket] = []
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind(("127.0.0.1", 0))
        self.port = tcp.getsockname()[1]
        self._serve(tcp, "tcp 127.0.0.1")
        for family, kind, host in ((socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"),
                                   (socket.AF_INET6, socket.SOCK_STREAM, "::1"),
                                   (socket.AF_INET6, socket.SOCK_DGRAM, "::1")):
            try:
                extra = socket.socket(family, kind)
                extra.bind((host, self.port))
            except OSError:
                continue
            self._serve(extra, f"{'tcp' if kind == socket.SOCK_STREAM else 'udp'} {host}")

    def _serve(self, sock: socket.socket, name: str) -> None:
        self.sockets.append(sock)
        if sock.type == socket.SOCK_STREAM:
            sock.listen()
        sock.settimeout(0.2)

        def run() -> None:
            while sock.fileno() >= 0:
                try:
                    if sock.type == socket.SOCK_STREAM:
                        connection, address = sock.accept()
                        connection.close()
                    else:
                        _, address = sock.recvfrom(4096)
                    self.arrivals.append(f"{name} from {address}")
                except TimeoutError:
                    continue
                except OSError:
                    return

        threading.Thread(target=run, daemon=True).start()

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def survivors(launched: list[sandbox.Launched]) -> list[str]:
    """Live processes that carry a worker's token or sit in a worker's PID namespace (found independently).

    A namespace's number is reused once it dies, so a process in it that carries another grading's token (a
    calibration or a batch running beside the tests) belongs to that grading, not to this test."""
    tokens = [f"{sandbox.TOKEN_VARIABLE}={item.token}".encode() for item in launched]
    any_token = f"{sandbox.TOKEN_VARIABLE}=".encode()
    namespaces = {item.namespace for item in launched if item.namespace}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                environment = handle.read()
            namespace = os.readlink(f"/proc/{entry.name}/ns/pid")
        except OSError:
            continue
        if state in {"Z", "X"}:
            continue
        ours = any(token in environment for token in tokens)
        someone_elses = not ours and any_token in environment
        if ours or (namespace in namespaces and not someone_elses):
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                found.append(f"{entry.name}: {handle.read()[:120]!r}")
    return found


def no_survivors(launched: list[sandbox.Launched], patience: float = SURVIVOR_PATIENCE) -> bool:
    """True once no process of the workers is left; killed processes on a loaded machine take a moment to exit."""
    deadline = time.monotonic() + patience
    while survivors(launched):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[sandbox.Launched]]:
    """Every worker the grader starts during the test."""
    started: list[sandbox.Launched] = []
    real_launch = sandbox.launch

    def recording_launch(*args: object, **kwargs: object) -> sandbox.Launched:
        launched = real_launch(*args, **kwargs)  # type: ignore[arg-type]
        started.append(launched)
        return launched

    monkeypatch.setattr(sandbox, "launch", recording_launch)
    yield started


@pytest.fixture
def holders(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every temporary folder the grader makes for a workspace (found through tempfile, whichever way it asks)."""
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args: object, **kwargs: object) -> str:
        path = real_mkdtemp(*args, **kwargs)  # type: ignore[arg-type]
        if Path(path).name.startswith(HOLDER_PREFIX):
            made.append(Path(path))
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    yield made


@pytest.fixture(scope="module")
def isolation() -> sandbox.Isolation:
    sandbox.reset()
    try:
        return sandbox.isolation_in_effect()
    except sandbox.SandboxRefused as refusal:  # root without bubblewrap, with the repository's usual modes
        pytest.fail(f"the grader refuses to grade on this machine; install bubblewrap (make .venv/.system-tools)\n"
                    f"{refusal}")


def skip_reason(case: Case, isolation: sandbox.Isolation) -> str:
    if case.root_only and not IS_ROOT:
        return "this case would harm the machine running the tests without OS isolation (not root)"
    if case.needs_isolation and not isolation.os_isolation:
        return f"its bound holds only with OS isolation, which is off here: {isolation.reason}"
    if case.needs_cgroup and (isolation.cgroup is None or isolation.cgroup.memory_bytes is None):
        return f"its bound holds only with a memory cgroup for the worker, which is not here: {isolation.cgroup_reason}"
    if case.needs_scratch_cap and isolation.scratch_bytes is None:
        return f"its bound holds only with capped scratch and /tmp, which are not here: {isolation.storage_reason}"
    missing = [name for name in FLAGSHIP.training_checks if not FLAGSHIP.check_file(name).exists()]
    if case.phase == "training" and missing:
        return f"the training checks are not all there yet: {', '.join(missing)} missing from the flagship's checks/"
    return ""


# -- the corpus ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_submission_gains_nothing_and_leaves_nothing(case, tmp_path, launches, holders, isolation, request):
    reason = skip_reason(case, isolation)
    if reason:
        pytest.skip(reason)
    if case.xfail:
        request.applymarker(pytest.mark.xfail(reason=case.xfail, strict=True))
    grade_and_check(case, tmp_path, launches, isolation, holders)


# the sweep, the network namespace, the cgroup, and the mount namespace's capped tmpfs
SETUID_CASES = ("background_process", "loopback_socket", "memory_together", "fill_scratch_and_tmp", "deep_tree")


@pytest.fixture
def setuid_isolation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[sandbox.Isolation]:
    """setuid mode forced. This repository's reference/ is world-readable here, so the secrets the start-up
    check guards are a mode-700 stand-in (the check itself is tested in test_sandbox_permissions.py)."""
    if not IS_ROOT:
        pytest.skip("setuid mode needs root")
    stand_in = tmp_path / "secret"
    stand_in.mkdir(mode=0o700)
    monkeypatch.setenv(sandbox.ISOLATION_VARIABLE, "setuid")
    monkeypatch.setattr(permissions, "secret_paths", lambda extra=(): (stand_in, *extra))
    sandbox.reset()
    yield sandbox.isolation_in_effect()
    monkeypatch.undo()
    sandbox.reset()


@pytest.mark.slow
@pytest.mark.parametrize("name", SETUID_CASES)
def test_without_bubblewrap_the_setuid_mode_stops_them_too(name, tmp_path, launches, holders, setuid_isolation):
    assert setuid_isolation.mode is sandbox.Mode.SETUID
    case = next(case for case in CASES if case.name == name)
    reason = skip_reason(case, setuid_isolation)
    if reason:
        pytest.skip(reason)
    grade_and_check(case, tmp_path / "run", launches, setuid_isolation, holders)
    assert all(item.isolation.mode is sandbox.Mode.SETUID for item in launches)


NONE_CASES = ("deep_tree",)  # the clean-up of a workspace whose scratch is an ordinary folder


@pytest.mark.slow
@pytest.mark.parametrize("name", NONE_CASES)
def test_without_os_isolation_the_clean_up_stops_them_too(name, tmp_path, launches, holders, monkeypatch):
    monkeypatch.setenv(sandbox.ISOLATION_VARIABLE, "none")
    sandbox.reset()
    try:
        isolation = sandbox.isolation_in_effect()
        assert isolation.mode is sandbox.Mode.NONE and isolation.scratch_bytes is None
        case = next(case for case in CASES if case.name == name)
        grade_and_check(case, tmp_path / "run", launches, isolation, holders)
    finally:
        monkeypatch.undo()
        sandbox.reset()


def grade_and_check(case: Case, tmp_path: Path, launches: list[sandbox.Launched],
                    isolation: sandbox.Isolation, holders: list[Path]) -> None:
    decoy = make_decoy(tmp_path / "decoy")
    decoy_before = snapshot(decoy)
    listener = Listener()
    out = tmp_path / "results"
    values = {"__RESULTS_DIR__": str(out), "__DECOY_DIR__": str(decoy), "__PROJECT_DIR__": str(ROOT),
              "__PORT__": str(listener.port)}
    submission = build(case, tmp_path / "upload", values)
    config = GradeConfig(training=case.phase == "training", iterations=case.iterations,
                         budgets=replace(Budgets(), **case.budgets))
    try:
        grade(FLAGSHIP, submission, out, config)
        time.sleep(case.settle)
    finally:
        listener.close()
    left = [path for pattern in case.left_on_disk for path in glob.glob(substitute(pattern, values))]
    for path in left:  # said below; removed first so that a failure does not litter the machine
        shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)

    document = validate_results(out / "results.json")
    text = (out / "results.json").read_text()
    tests = {test["number"]: test for test in document["tests"]}
    summary = f"{case.name}: score {document['score']}\n" + "\n".join(
        f"{n} {t['score']}/{t['max_score']} {t['output'][:300]}" for n, t in tests.items() if t["status"] != "passed")
    assert document["extra_data"]["grader_fault"] is False, summary
    for number, words in case.failing.items():
        assert tests[number]["status"] == "failed", summary
        assert words.lower() in tests[number]["output"].lower(), f"check {number} does not say {words!r}\n{summary}"
    for words in case.output:
        assert words in document["output"], f"the summary does not say {words!r}\n{document['output'][:2000]}"
    for secret in case.absent:
        assert secret not in text, f"{secret!r} in results.json\n{summary}"
    assert no_survivors(launches), f"processes of the submission outlived grading: {survivors(launches)}"
    assert holders and not any(path.exists() for path in holders), f"the workspace was left behind: {holders}"
    assert left == [], f"the submission left files on the machine: {left}"
    assert all(not item.killed or item.process.returncode is not None for item in launches)
    assert snapshot(decoy) == decoy_before, "the decoy grader folder changed"
    assert listener.arrivals == [], f"the submission reached the test's port: {listener.arrivals}"
    assert not (tmp_path.parent / "escaped_by_zip.py").exists() and not Path("/tmp/absolute_by_zip.py").exists()
    for log in (out / "worker-logs").iterdir():
        assert log.stat().st_size <= LOG_KEEP_BYTES, f"{log.name} kept {log.stat().st_size:,} bytes"
    if isolation.mode is sandbox.Mode.BWRAP:
        assert launches and all(item.namespace for item in launches)
    assert json.loads(text) == document
    assert case.lowest <= document["score"] <= case.max_score, summary
