"""Grade a whole class: every submission of an export with the same grader as Gradescope, K at a time.

    input -> export.read_input -> one ``python -m grader grade`` child per submission -> DIR/submissions/<id>/
          -> report.write_report -> DIR/scores.csv, DIR/report.html

Each submission is graded by its own child process, so that one submission can never affect another,
and a crash or a hang of one only costs that one: the child is killed with everything it started
after ``timeout_seconds`` of wall-clock time, and the batch goes on. K children run at once with T
torch threads each, K x T <= the cores this process may use.

Resuming: every finished submission leaves ``DIR/submissions/<id>/batch-record.json`` (the sha256 of
the two graded files, the grader version and the grading settings). A submission whose record
matches is not graded again; a record that says timeout, crash or grader fault is kept too, unless
``retry_failed`` asks for those to be graded again. A submission interrupted by Ctrl-C leaves no
record and is graded on the next run.

One upload never stops the class: every step taken for one submission (reading its files for the
digest, reading its old record, grading it, reading its result) is guarded, and what fails becomes
that submission's record. An upload with nothing to grade (unreadable, empty, not a zip) is not sent
to the grader at all: its record says "upload unusable", what was wrong and what to do.

Isolation: the batch asks ``sandbox.isolation_in_effect()`` before grading and refuses mode none
(not root: no OS isolation, see ``NO_ISOLATION_REFUSAL``) unless the TA allows it explicitly; the
mode is kept in every record.
"""

import datetime
import fcntl
import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from types import UnionType

from tqdm import tqdm

from grader import GRADER_VERSION
from grader.classroom.export import ExportedSubmission, safe_text
from grader.engine.cpus import whole_cpus
from grader.engine.homework import RESULTS_NAME, load_homework
from grader.engine.results import write_json_atomically
from grader.grading import sandbox
from grader.grading.submission import load_submission

PROJECT_DIR = Path(__file__).resolve().parents[2]
SUBMISSIONS_DIR = "submissions"
INPUTS_DIR = "inputs"
RECORD_NAME = "batch-record.json"
LOG_NAME = "grade.log"
RUN_NAME = "batch-run.json"
LOCK_NAME = ".batch.lock"
DEFAULT_TIMEOUT_SECONDS = 2_400.0  # Gradescope's largest autograder timeout: 40 minutes
TIME_LIMIT_MARGIN_SECONDS = 60.0  # the grader's own time limit ends this much before the batch kills it
MIN_TIME_LIMIT_SECONDS = 120.0  # the smallest --time-limit the grader accepts
POLL_SECONDS = 0.5  # how often a waiting job looks for Ctrl-C
KILL_WAIT_SECONDS = 10.0
LOG_TAIL_CHARS = 2_000
MAX_RECORD_BYTES = 1 * 2**20  # a record is a few hundred bytes
MAX_RESULTS_BYTES = 64 * 2**20  # a results.json with its embedded grids is well under 1 MiB
RESUBMIT_ADVICE = ("Nothing was graded. Ask the student to resubmit {files} (the files, or a fresh "
                   ".zip of them), then download the export again and rerun the batch (only changed submissions "
                   "are graded); or grade a repaired copy with `python -m grader grade FOLDER`.")
NO_ISOLATION_REFUSAL = """\
Refusing to grade: the sandbox's isolation mode would be "none" ({reason}).

What mode none still does: resource limits on every worker (address space, file size, processes, open files,
CPU seconds), a deadline on every call and on the whole grading, and at the end of each phase a sweep that kills
the worker's processes it can find (its session, its descendants, processes carrying its token).

What mode none does not do: keep student code away from your files. Student code runs as your own user, with
your permissions: it can read and write whatever you can, and a process that detaches (a double fork with a
clean environment) escapes the sweep, outlives the grading and can rewrite results.json, these reports or any
other file of yours afterwards.

To grade with isolation, run the batch as root on Linux with bubblewrap installed (`apt-get install bubblewrap`;
e.g. `sudo .venv/bin/python -m grader batch ...`), ideally in a throwaway VM or container. To grade anyway, only
code you trust or on a machine you can throw away, pass --allow-no-isolation; every record and the report will
say that isolation was off."""


class BatchRefused(Exception):
    """The batch will not start; the message says why and what to do."""


class BatchBusy(BatchRefused):
    """Another batch holds the output folder."""


class Status(StrEnum):
    GRADED = "graded"
    GRADER_FAULT = "grader fault"  # results.json written, but the grader says it failed itself
    TIMEOUT = "timeout"  # the whole grading ran past the batch's wall-clock cap and was killed
    CRASHED = "crashed"  # the grading process died or wrote no results.json, or the batch failed on it
    UNUSABLE = "upload unusable"  # nothing to grade: unreadable, empty, not a zip; not sent to the grader
    INTERRUPTED = "interrupted"  # Ctrl-C: no record, graded again on the next run


@dataclass(frozen=True)
class BatchConfig:
    out: Path
    homework: str | None = None  # None: the default homework
    jobs: int | None = None  # None: one per core
    iterations: int | None = None  # None: the homework's
    seed: int | None = None  # None: the homework's
    unit_only: bool = False
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retry_failed: bool = False
    progress: bool = True
    allow_no_isolation: bool = False  # grade even in sandbox mode none (not root): see NO_ISOLATION_REFUSAL

    def settings(self) -> dict[str, object]:
        """What, besides the files and the grader version, decides a result: a change means grading again."""
        return {"homework": load_homework(self.homework).id, "iterations": self.iterations, "seed": self.seed,
                "unit_only": self.unit_only}


@dataclass(frozen=True)
class Record:
    """``DIR/submissions/<id>/batch-record.json``: how one submission was graded, and with what result."""

    submission_id: str
    submission_sha256: str
    grader_version: str
    settings: dict[str, object]
    status: str
    seconds: float
    message: str = ""
    finished_at: str = ""
    isolation: str = ""  # the sandbox mode the batch ran in: "bwrap", "setuid" or "none" (no OS isolation)


RECORD_FIELDS: dict[str, type | UnionType] = {
    "submission_id": str, "submission_sha256": str, "grader_version": str, "settings": dict, "status": str,
    "seconds": int | float, "message": str, "finished_at": str, "isolation": str}


@dataclass
class BatchSummary:
    graded: list[str] = field(default_factory=list)  # ids graded in this run
    skipped: list[str] = field(default_factory=list)  # ids whose finished result was kept
    unusable: list[str] = field(default_factory=list)  # ids with nothing to grade (or that the batch failed on)
    statuses: dict[str, str] = field(default_factory=dict)  # id -> Status value, for this run's gradings
    interrupted: bool = False
    jobs: int = 1
    threads: int = 1
    cores: int = 1
    wall_seconds: float = 0.0
    isolation: str = ""  # the sandbox mode


def plan_parallelism(requested_jobs: int | None, pending: int, cores: int) -> tuple[int, int]:
    """(jobs, torch threads per job) with jobs x threads <= cores; idle jobs' cores go to the others as threads."""
    jobs = requested_jobs if requested_jobs is not None else cores
    jobs = max(1, min(jobs, cores, max(pending, 1)))
    return jobs, max(1, cores // jobs)


def submission_dir(out: Path, submission_id: str) -> Path:
    return out / SUBMISSIONS_DIR / submission_id


def read_small_file(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, at most ``max_bytes``; OSError for a link, a FIFO, a device or a larger file.

    Files under DIR/submissions were written by the grader, but in mode none student code could have
    replaced them (a link to /dev/zero, a FIFO that blocks a reader): reading them never follows a link,
    never blocks and never reads more than asked.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise OSError(f"{path.name} is not a regular file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"{path.name} is larger than {max_bytes:,} bytes")
    return data


def _reject_constant(name: str) -> None:
    return None  # NaN and Infinity, which Python's json reads but no valid document holds: null


def read_json_document(path: Path, max_bytes: int) -> object:
    """A JSON file written by the grader or the batch, read with caps; OSError or ValueError if unusable."""
    return json.loads(read_small_file(path, max_bytes), parse_constant=_reject_constant)


def read_record(folder: Path) -> Record | None:
    """The record, or None if it is missing or is not one (wrong fields or types: never trusted as it is)."""
    try:
        data = read_json_document(folder / RECORD_NAME, MAX_RECORD_BYTES)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not set(data) <= set(RECORD_FIELDS):
        return None
    for name, kind in RECORD_FIELDS.items():
        if name in data and (not isinstance(data[name], kind) or isinstance(data[name], bool)):
            return None
    if any(name not in data for name in ("submission_id", "submission_sha256", "grader_version", "settings",
                                         "status", "seconds")) or not math.isfinite(data["seconds"]):
        return None
    return Record(**data)


def is_finished(record: Record | None, digest: str, config: BatchConfig) -> bool:
    """A result to keep: the same files, the same grader version, the same settings (and no failure to retry)."""
    if record is None:
        return False
    if (record.submission_sha256, record.grader_version, record.settings) != (digest, GRADER_VERSION,
                                                                                config.settings()):
        return False
    return not (config.retry_failed and record.status != Status.GRADED)


def _needs_results(record: Record | None) -> bool:
    """Whether the recorded grading left a results.json that must still be there (a timeout leaves none)."""
    return record is not None and record.status in (Status.GRADED, Status.GRADER_FAULT)


def grade_command(submission: Path, out: Path, config: BatchConfig, threads: int) -> list[str]:
    """The same command Gradescope's run_autograder uses, with this batch's settings."""
    time_limit = max(MIN_TIME_LIMIT_SECONDS, config.timeout_seconds - TIME_LIMIT_MARGIN_SECONDS)
    command = [sys.executable, "-m", "grader", "grade", str(submission.resolve()), "--homework",
               load_homework(config.homework).id,
               "--out", str(out.resolve()), "--threads", str(threads), "--time-limit", f"{time_limit:g}"]
    if config.iterations is not None:
        command += ["--iterations", str(config.iterations)]
    if config.seed is not None:
        command += ["--seed", str(config.seed)]
    return [*command, "--unit-only"] if config.unit_only else command


def check_isolation(allow_no_isolation: bool) -> sandbox.Isolation:
    """The sandbox mode the gradings will get; BatchRefused if it is none and not allowed, or if root cannot isolate.

    The answer is the sandbox's own (``isolation_in_effect``, remembered per process); the grading children,
    started with this process's environment and user, get the same.
    """
    try:
        isolation = sandbox.isolation_in_effect()
    except sandbox.SandboxRefused as refusal:
        raise BatchRefused(f"Refusing to grade: every grading would refuse too.\n{refusal}") from None
    if not isolation.os_isolation and not allow_no_isolation:
        raise BatchRefused(NO_ISOLATION_REFUSAL.format(reason=isolation.reason))
    return isolation


def run_batch(entries: list[ExportedSubmission], config: BatchConfig,
              log: Callable[[str], None] = print) -> BatchSummary:
    """Grade what is not finished yet; never raises for anything a submission does.

    Raises BatchRefused (before anything is graded) when the sandbox mode is none and ``allow_no_isolation``
    is not set, and BatchBusy when another batch writes to the same folder.
    """
    isolation = check_isolation(config.allow_no_isolation)
    if not isolation.os_isolation:
        log(f"WARNING: grading with NO OS isolation (sandbox mode none: {isolation.reason}); student code runs as "
            "your user and a detached process can outlive its grading. Every record and the report say so.")
    out = config.out
    (out / SUBMISSIONS_DIR).mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_NAME, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchBusy(f"another batch is writing to {out}; wait for it to finish or use another --out") from None
        for leftover in (out / SUBMISSIONS_DIR).glob(".*-*"):  # a batch killed outright left these
            if leftover.is_dir() and leftover.name.startswith((".staging-", ".old-")):
                shutil.rmtree(leftover, ignore_errors=True)
        return _run_locked(entries, config, isolation.mode.value, log)


def examine(entry: ExportedSubmission, expected: tuple[str, ...]) -> tuple[str, str]:
    """(digest of the expected files, "") for an upload to grade; ("", what is wrong) for one with nothing to grade.

    Reads the upload into memory the way the grader does (``load_submission``); runs nothing. Whatever
    the upload is, this returns: an exception of the intake is that upload's problem.
    """
    notes = "; ".join(entry.notes)
    try:
        submission = load_submission(entry.path, expected)
    except Exception as error:  # the intake should never raise; if it does, it is this upload's problem
        problem = f"the upload could not be read ({type(error).__name__}: {error})"
        return "", safe_text("; ".join(part for part in (problem, notes) if part))
    if submission.files:
        return submission.digest, ""
    problems = "; ".join(dict.fromkeys([*submission.problems, *entry.notes])) or f"none of {expected} found"
    return "", safe_text(f"nothing to grade: {problems}")


def _plan(entry: ExportedSubmission, config: BatchConfig) -> tuple[str, str]:
    """("skip", digest), ("grade", digest) or ("unusable", message): what this run does with one submission."""
    digest, problem = examine(entry, load_homework(config.homework).student_files)
    if problem:
        return "unusable", problem
    folder = submission_dir(config.out, entry.id)
    record = read_record(folder)
    if is_finished(record, digest, config) and ((folder / RESULTS_NAME).is_file() or not _needs_results(record)):
        return "skip", digest
    return "grade", digest


def _run_locked(entries: list[ExportedSubmission], config: BatchConfig, isolation: str,
                log: Callable[[str], None]) -> BatchSummary:
    started = time.monotonic()
    out = config.out
    summary = BatchSummary(cores=whole_cpus(), isolation=isolation)
    pending: list[tuple[ExportedSubmission, str]] = []
    for entry in entries:
        try:
            action, value = _plan(entry, config)
        except Exception as error:  # a fault of the batch on this submission: reported, the batch goes on
            action, value = "failed", (f"the batch could not prepare it ({type(error).__name__}: {error}); run the "
                                       "batch again, and if it persists grade it alone with `python -m grader grade`")
        if action == "skip":
            summary.skipped.append(entry.id)
        elif action == "grade":
            pending.append((entry, value))
        else:
            status = Status.UNUSABLE if action == "unusable" else Status.CRASHED
            advice = RESUBMIT_ADVICE.format(files=" and ".join(load_homework(config.homework).student_files))
            message = f"{value.rstrip('.')}. {advice}" if status is Status.UNUSABLE else value
            record = _record(entry, "", config, status, 0.0, message, isolation)
            _write_record_only(record, config.out, log)
            summary.unusable.append(entry.id)
            summary.statuses[entry.id] = record.status
            tqdm.write(f"{entry.id}: {record.status} ({record.message})")
    summary.jobs, summary.threads = plan_parallelism(config.jobs, len(pending), summary.cores)
    if config.jobs is not None and config.jobs > summary.cores:
        log(f"--jobs {config.jobs} is more than the {summary.cores} cores available: using {summary.jobs}")
    log(f"{len(entries)} submissions: {len(pending)} to grade, {len(summary.skipped)} already graded with "
        f"grader {GRADER_VERSION} and these settings, {len(summary.unusable)} with nothing to grade; "
        f"{summary.jobs} job(s) x {summary.threads} thread(s) on {summary.cores} core(s); isolation: {isolation}")

    stopping = threading.Event()
    with ThreadPoolExecutor(max_workers=summary.jobs) as pool, \
            tqdm(total=len(pending), unit="submission", desc="grading", disable=None if config.progress else True,
                 dynamic_ncols=True) as bar:
        futures = {pool.submit(_grade_one, entry, digest, config, summary.threads, isolation, stopping): entry
                   for entry, digest in pending}
        try:
            for future in as_completed(futures):
                entry = futures[future]
                try:
                    record = future.result()
                except Exception as error:  # _grade_one catches its own; this is the last guard of the batch
                    record = _record(entry, "", config, Status.CRASHED, 0.0,
                                     f"the batch could not grade it: {type(error).__name__}: {error}", isolation)
                    _write_record_only(record, config.out, log)
                summary.graded.append(entry.id)
                summary.statuses[entry.id] = record.status
                bar.update(1)
                note = f" ({record.message})" if record.message and record.status != Status.GRADED else ""
                tqdm.write(f"{entry.id}: {record.status} in {record.seconds:.0f} s{note}")
        except KeyboardInterrupt:
            stopping.set()
            summary.interrupted = True
            for future in futures:
                future.cancel()
            log("interrupted: stopping the running gradings; finished results are kept, run again to resume")
    summary.graded = [entry_id for entry_id in summary.graded if summary.statuses[entry_id] != Status.INTERRUPTED]
    summary.wall_seconds = time.monotonic() - started
    write_json_atomically({
        "finished_at": _now(), "wall_seconds": round(summary.wall_seconds, 1), "graded": len(summary.graded),
        "skipped": len(summary.skipped), "jobs": summary.jobs, "threads": summary.threads, "cores": summary.cores,
        "grader_version": GRADER_VERSION, "settings": config.settings(), "timeout_seconds": config.timeout_seconds,
        "interrupted": summary.interrupted, "unusable": len(summary.unusable), "isolation": isolation,
    }, out / RUN_NAME)
    return summary


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _grade_one(entry: ExportedSubmission, digest: str, config: BatchConfig, threads: int, isolation: str,
               stopping: threading.Event) -> Record:
    """Grade one submission in a child process, into a staging folder that replaces the old one at the end."""
    parent = config.out / SUBMISSIONS_DIR
    started = time.monotonic()
    status, message = Status.CRASHED, ""
    staging: Path | None = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{entry.id}-", dir=parent))
        if stopping.is_set():
            return _record(entry, digest, config, Status.INTERRUPTED, 0.0, "", isolation)
        with open(staging / LOG_NAME, "wb") as log_file:
            status, message = _run_child(grade_command(entry.path, staging, config, threads), log_file,
                                         config.timeout_seconds, stopping)
        seconds = time.monotonic() - started
        if status is Status.INTERRUPTED:
            return _record(entry, digest, config, status, seconds, message, isolation)
        if status in (Status.GRADED, Status.CRASHED):
            status, message = _read_outcome(staging, status, message)
        if status is not Status.GRADED and not message:
            message = "see grade.log"
        record = _record(entry, digest, config, status, seconds, message, isolation)
        write_json_atomically(asdict(record), staging / RECORD_NAME)
        _replace(staging, submission_dir(config.out, entry.id))
        return record
    except Exception as error:  # a fault of the batch itself: this submission is reported, the batch goes on
        record = _record(entry, digest, config, Status.CRASHED, time.monotonic() - started,
                         f"the batch could not grade it: {type(error).__name__}: {error}", isolation)
        _write_record_only(record, config.out, print)
        return record
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _record(entry: ExportedSubmission, digest: str, config: BatchConfig, status: Status, seconds: float,
            message: str, isolation: str) -> Record:
    return Record(entry.id, digest, GRADER_VERSION, config.settings(), status.value, round(seconds, 1),
                  safe_text(message)[:LOG_TAIL_CHARS], _now(), isolation)


def _write_record_only(record: Record, out: Path, log: Callable[[str], None]) -> None:
    """Replace the submission's folder by one holding only this record (no stale results.json stays beside it)."""
    staging = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{record.submission_id}-", dir=out / SUBMISSIONS_DIR))
        write_json_atomically(asdict(record), staging / RECORD_NAME)
        _replace(staging, submission_dir(out, record.submission_id))
    except Exception as error:  # the disk is full, say: the report shows it as not graded, to run again
        log(safe_text(f"{record.submission_id}: could not write its record ({type(error).__name__}: {error})"))
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _run_child(command: list[str], log_file: object, timeout: float,
               stopping: threading.Event) -> tuple[Status, str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_DIR), env.get("PYTHONPATH", "")) if p)
    process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                code = process.wait(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                if stopping.is_set():
                    kill_tree(process)
                    return Status.INTERRUPTED, "interrupted"
                if time.monotonic() > deadline:
                    kill_tree(process)
                    return Status.TIMEOUT, f"no result within {timeout:.0f} s; killed"
    except BaseException:
        kill_tree(process)
        raise
    if code != 0:
        return Status.CRASHED, f"the grading process exited with code {code}"
    return Status.GRADED, ""


def _read_outcome(staging: Path, status: Status, message: str) -> tuple[Status, str]:
    """What the grading process left: a results.json that may report a grader fault, or nothing usable."""
    try:
        document = read_json_document(staging / RESULTS_NAME, MAX_RESULTS_BYTES)
    except (OSError, ValueError, RecursionError) as error:
        return Status.CRASHED, message or f"no readable {RESULTS_NAME} ({type(error).__name__})"
    extra = document.get("extra_data") if isinstance(document, dict) else None
    if isinstance(extra, dict) and extra.get("grader_fault"):
        return Status.GRADER_FAULT, "; ".join(part for part in (
            message, "the grader reported a fault of its own: see results.json and grade.log") if part)
    return status, message


def _replace(staging: Path, final: Path) -> None:
    """Swap the finished staging folder in for the old result in two renames."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".old-{final.name}-", dir=final.parent))
        os.replace(final, old / final.name)
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---- killing a grading process and everything it started --------------------------------------------


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ")"
        fields = stat_line[stat_line.rfind(")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Linux /proc), children before grandchildren."""
    children = _children_by_parent()
    found, frontier = [], [pid]
    while frontier:
        below = [child for parent in frontier for child in children.get(parent, [])]
        found.extend(below)
        frontier = below
    return found


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def kill_tree(process: subprocess.Popen) -> list[int]:
    """Kill the grading process and every process under it, including the workers in their own sessions.

    Everything is stopped first (SIGSTOP), so that nothing can start a new process while the tree is
    being collected, then killed. Returns the pids that were killed.
    """
    pids = [process.pid]
    _signal(process.pid, signal.SIGSTOP)
    for _ in range(5):  # a process may have been forking while its parent was being stopped
        new = [pid for pid in descendants(process.pid) if pid not in pids]
        if not new:
            break
        for pid in new:
            _signal(pid, signal.SIGSTOP)
        pids.extend(new)
    for pid in pids:
        for kill in (os.killpg, os.kill):  # the workers lead their own process groups
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    try:
        process.wait(timeout=KILL_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    return pids
