"""The trusted side's handle on the worker: start it in the sandbox, call it with a deadline, end it whole.

Everything the worker answers is untrusted: it arrives through ``wire`` (no pickle), requests are
written and answers read under the call's deadline, and an answer is checked for the fields its
operation must have before any check sees it. A call that runs past its deadline, a worker that dies,
or an answer that breaks the format ends that worker (``sandbox.terminate``: everything it started);
the next call starts a fresh one, except when the worker could not even start. The worker's stdout and
stderr are pipes drained by the grader into logs/, capped, so printing can neither fill the disk nor
kill the worker.
"""

import os
import selectors
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.engine.answers import BOOL, TEXT, Malformed, Record, Shape, validate
from grader.grading import sandbox, wire
from grader.grading.workspace import Workspace

OUTPUT_LIMIT_BYTES = 20_000  # of each of the worker's streams, per start, shown to the student
LOG_KEEP_BYTES = 256 * 2**10  # of each stream, per start, kept in logs/; the rest is counted and dropped
CAPTURE_JOIN_SECONDS = 5.0
EXIT_WAIT_SECONDS = 5.0
FAILURE = Record({"ok": BOOL, "kind": TEXT, "error": TEXT, "traceback": TEXT})  # a failure the worker reports


class WorkerFailure(Exception):
    """Base of what can go wrong in a call; ``kind`` names the category for the results."""

    kind = "error"

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.traceback = traceback


class NotImplementedYet(WorkerFailure):
    kind = "not_implemented"


class StudentError(WorkerFailure):
    kind = "error"


class WorkerTimeout(WorkerFailure):
    kind = "timeout"


class WorkerCrashed(WorkerFailure):
    kind = "crashed"


class WorkerProtocolError(WorkerFailure):
    kind = "protocol"


@dataclass(frozen=True)
class WorkerOptions:
    threads: int = 1
    start_seconds: float = 120.0  # importing torch and the submission
    python: str = sys.executable  # the sandbox makes this interpreter's installation visible to the worker
    readable: tuple[Path, ...] = ()  # data files the worker opens (read-only)
    modules: tuple[str, ...] = ()  # the student's modules, imported when a worker starts
    student_files: tuple[str, ...] = ()  # the files whose frames a traceback shows


class OutputCapture:
    """Drains one of the worker's output pipes into a log file: the first LOG_KEEP_BYTES kept, the rest counted.

    A pipe instead of a file means the worker cannot fill the disk by printing, and is not killed for it.
    """

    def __init__(self, read_fd: int, path: Path) -> None:
        self.path = path
        self.total = 0
        self._fd = read_fd
        self._thread = threading.Thread(target=self._drain, name=f"worker output {path.name}", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            with open(self.path, "wb") as log:
                while chunk := os.read(self._fd, 1 << 16):
                    room = LOG_KEEP_BYTES - self.total
                    if room > 0:
                        log.write(chunk[:room])
                    self.total += len(chunk)
        except OSError:
            pass
        finally:
            os.close(self._fd)

    def finish(self, timeout: float = CAPTURE_JOIN_SECONDS) -> None:
        """Wait for the end of the stream (all its writers are gone once the worker was terminated)."""
        self._thread.join(timeout)


class WorkerClient:
    """One phase's worker. Use as a context manager: everything the worker started is killed on exit.

    A worker that cannot start (its import hangs, crashes, or breaks the protocol) is not started again
    in this phase: every later call raises the same failure at once, instead of waiting out the same
    deadline once per check.
    """

    def __init__(self, workspace: Workspace, phase: str, answers: Mapping[str, Shape],
                 options: WorkerOptions = WorkerOptions()) -> None:
        self.workspace = workspace
        self.phase = phase
        self.answers = answers  # op -> the declared shape of its answer
        self.options = options
        self.launched: sandbox.Launched | None = None
        self.request_fd = self.response_fd = -1
        self.starts = 0
        self.start_failure: WorkerFailure | None = None
        self.captures: list[OutputCapture] = []
        self.survivors: list[int] = []  # processes that outlived a sweep (never expected)
        self.last_start_seconds = 0.0  # of the last call: time spent starting a fresh worker before it

    def __enter__(self) -> "WorkerClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        stdout_read, stdout_write = os.pipe()
        stderr_read, stderr_write = os.pipe()
        self.starts += 1
        log_stem = self.workspace.logs / f"{self.phase}-{self.starts}"
        worker_fds = (request_read, response_write, stdout_write, stderr_write)
        spec = sandbox.LaunchSpec(
            # -u: unbuffered, so that what was printed before a hang or a kill still reaches the log
            command=[self.options.python, "-E", "-s", "-B", "-u", str(self.workspace.runtime / "worker.py"),
                     str(self.workspace.homework), str(request_read), str(response_write)],
            cwd=self.workspace.scratch,
            env=sandbox.clean_environment(self.workspace.scratch, self.options.threads),
            pass_fds=(request_read, response_write),
            stdout=stdout_write,
            stderr=stderr_write,
            readable=(self.workspace.homework, self.workspace.runtime,
                      *(path for path in self.options.readable if path.exists())),
            writable=(self.workspace.scratch,),
        )
        try:
            self.launched = sandbox.launch(spec)
        except BaseException:
            for fd in (request_write, response_read, stdout_read, stderr_read):
                os.close(fd)
            raise
        finally:
            for fd in worker_fds:
                os.close(fd)
        self.captures += [OutputCapture(stdout_read, log_stem.with_suffix(".stdout")),
                          OutputCapture(stderr_read, log_stem.with_suffix(".stderr"))]
        self.request_fd, self.response_fd = request_write, response_read

    def close(self) -> None:
        """End the worker and everything it started; wait for its output to be written."""
        if self.launched is not None:
            self.survivors += sandbox.terminate(self.launched)
            self.launched = None
        for fd in (self.request_fd, self.response_fd):
            if fd >= 0:
                os.close(fd)
        self.request_fd = self.response_fd = -1
        for capture in self.captures:
            capture.finish()

    def call(self, op: str, timeout: float, start_timeout: float | None = None, **arguments: object) -> dict:
        """Send one request and return the worker's ``result``, or raise a WorkerFailure.

        ``timeout`` bounds the call; ``start_timeout`` (default: the options' start_seconds) bounds starting a
        worker and importing the submission first, when no worker is running.
        """
        if op not in self.answers:
            raise ValueError(f"operation {op!r} has no declared answer shape")
        if self.start_failure is not None:
            failure = self.start_failure
            raise type(failure)(failure.message, failure.traceback)
        self.last_start_seconds = 0.0
        if self.launched is None or self.launched.process.poll() is not None:
            started = time.monotonic()
            self.close()
            self._start()
            try:
                self._exchange("import", self.options.start_seconds if start_timeout is None else start_timeout,
                               {"modules": list(self.options.modules),
                                "student_files": list(self.options.student_files)})
            except (WorkerTimeout, WorkerCrashed, WorkerProtocolError) as failure:
                self.start_failure = failure
                raise
            finally:
                self.last_start_seconds = time.monotonic() - started
        return self._exchange(op, timeout, arguments)

    def _exchange(self, op: str, timeout: float, arguments: dict) -> dict:
        deadline = time.monotonic() + timeout
        importing = op == "import"
        try:
            write_before(self.request_fd, wire.encode({"op": op, **arguments}), deadline)
            response = wire.read_frame(self.response_fd, deadline)
        except wire.WireTimeout:
            self.close()
            if importing:
                raise WorkerTimeout(f"importing {self._files()} did not finish within {timeout:.0f} s (an endless "
                                    "loop or long work at the top level of a file?)") from None
            raise WorkerTimeout(f"no answer within {timeout:.0f} s") from None
        except (wire.WireClosed, BrokenPipeError):
            code = self._exit_code()
            memory = self.launched.memory_note() if self.launched is not None else ""  # before close removes it
            self.close()
            raise WorkerCrashed((f"while importing {self._files()}, " if importing else "")
                                + describe_exit(code) + memory) from None
        except wire.WireError as error:
            self.close()
            raise WorkerProtocolError(f"the worker's answer was unreadable ({error})") from None
        try:
            return unpack(response, op, self.answers[op])
        except WorkerProtocolError:
            self.close()  # a worker that broke the protocol once is out of step: the next call starts afresh
            raise

    def _files(self) -> str:
        return " and ".join(self.options.student_files) or "your files"

    def _exit_code(self) -> int | None:
        assert self.launched is not None
        return self.launched.exit_code(EXIT_WAIT_SECONDS)

    def output(self) -> str:
        """What the worker printed in this phase (stdout then stderr), cut to OUTPUT_LIMIT_BYTES per part."""
        return read_logs(self.workspace.logs, self.phase, {c.path.name: c.total for c in self.captures})


def write_before(fd: int, data: bytes, deadline: float) -> None:
    """Write all of ``data`` to the worker's request pipe, or raise WireTimeout at the deadline.

    A worker that stops reading (hostile code, or one writing an answer nobody reads) must not block the grader.
    """
    os.set_blocking(fd, False)
    view = memoryview(data)
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_WRITE)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise wire.WireTimeout("the worker stopped reading its requests")
            if not selector.select(remaining):
                continue
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                continue
            view = view[written:]


def unpack(response: object, op: str = "", shape: Shape | None = None) -> dict:
    """The ``result`` of a well-formed answer to ``op`` that has its declared ``shape``; a WorkerFailure for an
    error the worker reported or an answer that breaks the protocol or its shape (the student's outcome)."""
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        raise WorkerProtocolError("the worker's answer did not have the expected form")
    if response["ok"]:
        result = response.get("result")
        if not isinstance(result, dict):
            raise WorkerProtocolError("the worker's answer carried no result")
        if shape is not None:
            try:
                validate(result, shape)
            except Malformed as malformed:
                raise WorkerProtocolError(f"the answer to {op} was malformed ({malformed})") from None
        return result
    kind = response.get("kind")
    message = str(response.get("error", ""))[:2000]
    traceback = str(response.get("traceback", ""))[:5000]
    if kind == "not_implemented":
        raise NotImplementedYet(message, traceback)
    if kind == "exit":
        raise StudentError(f"your code tried to end the process ({message})", traceback)
    if kind == "error":
        raise StudentError(message, traceback)
    raise WorkerProtocolError(f"the worker reported a problem: {message}")


def describe_exit(code: int | None) -> str:
    if code is None:
        return "the worker stopped answering and did not exit"
    if code < 0:
        signal_names = {9: "SIGKILL: killed, often for using too much memory", 11: "SIGSEGV: a crash in native code",
                        24: "SIGXCPU: the CPU-time limit", 25: "SIGXFSZ: a file grew past the size limit",
                        6: "SIGABRT: aborted", 15: "SIGTERM: terminated"}
        return f"the worker was ended by signal {-code} ({signal_names.get(-code, 'unexpected signal')})"
    return f"the worker process exited (code {code}) in the middle of a call: did the code call os._exit or exit?"


def read_logs(logs: Path, phase: str, totals: dict[str, int] | None = None) -> str:
    """The phase's logs, each cut to OUTPUT_LIMIT_BYTES; ``totals``: bytes printed per log name, when known."""
    totals = totals or {}
    parts = []
    for stream in ("stdout", "stderr"):
        for path in sorted(logs.glob(f"{phase}-*.{stream}"), key=lambda p: int(p.stem.rsplit("-", 1)[-1])):
            data = path.read_bytes()
            if not data.strip():
                continue
            total = max(totals.get(path.name, 0), len(data))
            text = data[:OUTPUT_LIMIT_BYTES].decode("utf-8", errors="replace")
            note = ""
            if total > OUTPUT_LIMIT_BYTES:
                note = f"\n[... cut: {total:,} bytes in all, the first {OUTPUT_LIMIT_BYTES:,} shown]"
            parts.append(f"--- {stream} ({path.stem}) ---\n{text}{note}")
    return "\n".join(parts)
