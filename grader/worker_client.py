"""The trusted side's handle on the worker: start it, call it with a deadline, kill it whole.

Everything the worker answers is untrusted: it arrives through ``wire`` (no pickle) and the callers
check every value. A call that runs past its deadline, a worker that dies, or an answer that breaks
the format ends that worker; the next call starts a fresh one.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grader import sandbox, wire
from grader.workspace import Workspace

OUTPUT_LIMIT_BYTES = 20_000  # of the worker's stdout/stderr shown to the student


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
    python: str = sys.executable


class WorkerClient:
    """One phase's worker. Use as a context manager: the process group is killed on exit."""

    def __init__(self, workspace: Workspace, phase: str, options: WorkerOptions = WorkerOptions()) -> None:
        self.workspace = workspace
        self.phase = phase
        self.options = options
        self.process: subprocess.Popen | None = None
        self.request_fd = self.response_fd = -1
        self.starts = 0

    def __enter__(self) -> "WorkerClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        self.starts += 1
        log_stem = self.workspace.logs / f"{self.phase}-{self.starts}"
        with open(f"{log_stem}.stdout", "wb") as stdout, open(f"{log_stem}.stderr", "wb") as stderr:
            spec = sandbox.LaunchSpec(
                command=[self.options.python, "-E", "-s", "-B", str(self.workspace.runtime / "worker.py"),
                         str(self.workspace.homework), str(request_read), str(response_write)],
                cwd=self.workspace.scratch,
                env=sandbox.clean_environment(self.workspace.scratch, self.options.threads),
                pass_fds=(request_read, response_write),
                stdout=stdout.fileno(),
                stderr=stderr.fileno(),
            )
            self.process = sandbox.launch(spec)
        os.close(request_read)
        os.close(response_write)
        self.request_fd, self.response_fd = request_write, response_read

    def close(self) -> None:
        if self.process is not None:
            sandbox.kill_group(self.process)
            self.process = None
        for fd in (self.request_fd, self.response_fd):
            if fd >= 0:
                os.close(fd)
        self.request_fd = self.response_fd = -1

    def call(self, op: str, timeout: float, **arguments: object) -> dict:
        """Send one request and return the worker's ``result``, or raise a WorkerFailure."""
        if self.process is None or self.process.poll() is not None:
            self.close()
            self._start()
            self._exchange("import", self.options.start_seconds, {})
        return self._exchange(op, timeout, arguments)

    def _exchange(self, op: str, timeout: float, arguments: dict) -> dict:
        deadline = time.monotonic() + timeout
        try:
            wire.write_frame(self.request_fd, {"op": op, **arguments})
            response = wire.read_frame(self.response_fd, deadline)
        except wire.WireTimeout:
            self.close()
            raise WorkerTimeout(f"no answer within {timeout:.0f} s") from None
        except (wire.WireClosed, BrokenPipeError):
            code = self._exit_code()
            self.close()
            raise WorkerCrashed(describe_exit(code)) from None
        except wire.WireError as error:
            self.close()
            raise WorkerProtocolError(f"the worker's answer was unreadable ({error})") from None
        return unpack(response)

    def _exit_code(self) -> int | None:
        assert self.process is not None
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def output(self) -> str:
        """What the worker printed in this phase (stdout then stderr), cut to OUTPUT_LIMIT_BYTES."""
        return read_logs(self.workspace.logs, self.phase)


def unpack(response: object) -> dict:
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        raise WorkerProtocolError("the worker's answer did not have the expected form")
    if response["ok"]:
        result = response.get("result")
        if not isinstance(result, dict):
            raise WorkerProtocolError("the worker's answer carried no result")
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
                        6: "SIGABRT: aborted"}
        return f"the worker was ended by signal {-code} ({signal_names.get(-code, 'unexpected signal')})"
    return f"the worker process exited (code {code}) in the middle of a call: did the code call os._exit or exit?"


def read_logs(logs: Path, phase: str) -> str:
    parts = []
    for stream in ("stdout", "stderr"):
        for path in sorted(logs.glob(f"{phase}-*.{stream}")):
            data = path.read_bytes()
            if not data.strip():
                continue
            cut = len(data) > OUTPUT_LIMIT_BYTES
            text = data[:OUTPUT_LIMIT_BYTES].decode("utf-8", errors="replace")
            note = f"\n[... cut: {len(data):,} bytes in all, the first {OUTPUT_LIMIT_BYTES:,} shown]" if cut else ""
            parts.append(f"--- {stream} ({path.stem}) ---\n{text}{note}")
    return "\n".join(parts)
