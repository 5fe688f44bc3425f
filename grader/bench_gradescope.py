"""Grade the reference as Gradescope's default container would run it, and at full speed: the figures that
decide whether an assignment's timeout and memory are enough. Prints figures; asserts nothing.

    python -m grader.bench_gradescope                       # full speed at 1 and 2 threads, then ½ vCPU / 768 MB
    python -m grader.bench_gradescope --iterations 2000 --no-full-speed

Each grading is ``python -m grader grade reference/`` in a fresh cgroup of its own (the grader, its
sandboxed workers and everything they start), so the peak memory reported is that of all of them
together, as the container's limit counts it. The Gradescope run adds the CPU quota (½ CPU) and the
memory limit (768 MB) of the default container. Needs root and cgroups (v1 cpu and memory
controllers, or v2); says so otherwise.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.cpus import CGROUP_ROOT
from grader.oracle import REFERENCE_DIR as REFERENCE
from grader.workspace import PROJECT_DIR

PERIOD_US = 100_000
MIB = 2**20


@dataclass(frozen=True)
class Limits:
    cpus: float | None = None  # CFS quota in CPUs; None: unlimited
    memory_mb: int | None = None  # None: unlimited (memory is still accounted)


@dataclass(frozen=True)
class Measurement:
    label: str
    wall_seconds: float
    peak_mb: float
    oom_kills: int
    score: float | None
    max_score: float | None
    grader_fault: bool | None
    training_seconds: float | None
    exit_code: int


class Cgroup:
    """A cgroup made for one grading, in v1 (cpu and memory hierarchies) or v2, removed by ``remove``."""

    def __init__(self, limits: Limits, root: Path = CGROUP_ROOT) -> None:
        name = f"vae-bench-{uuid.uuid4().hex[:8]}"
        self.v2 = (root / "cgroup.controllers").exists()
        self.folders = [root / name] if self.v2 else [root / "cpu" / name, root / "memory" / name]
        for folder in self.folders:
            folder.mkdir()
        if self.v2:
            (self.folders[0] / "cpu.max").write_text(
                f"{int(limits.cpus * PERIOD_US)} {PERIOD_US}" if limits.cpus else f"max {PERIOD_US}")
            if limits.memory_mb:
                (self.folders[0] / "memory.max").write_text(str(limits.memory_mb * MIB))
                (self.folders[0] / "memory.swap.max").write_text("0")
            return
        cpu, memory = self.folders
        (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (cpu / "cpu.cfs_quota_us").write_text(str(int(limits.cpus * PERIOD_US)) if limits.cpus else "-1")
        if limits.memory_mb:
            (memory / "memory.limit_in_bytes").write_text(str(limits.memory_mb * MIB))
            swap_limit = memory / "memory.memsw.limit_in_bytes"
            if swap_limit.exists():
                swap_limit.write_text(str(limits.memory_mb * MIB))

    def enter(self) -> Callable[[], None]:
        """For ``preexec_fn``: move the child into the cgroup before it runs anything."""
        files = [folder / "cgroup.procs" for folder in self.folders]

        def join() -> None:
            for procs in files:
                procs.write_text(str(os.getpid()))

        return join

    def peak_mb(self) -> float:
        folder = self.folders[0] if self.v2 else self.folders[1]
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        try:
            return int((folder / name).read_text()) / MIB
        except (OSError, ValueError):
            return float("nan")

    def oom_kills(self) -> int:
        folder = self.folders[0] if self.v2 else self.folders[1]
        try:
            if self.v2:
                events = dict(line.split() for line in (folder / "memory.events").read_text().splitlines())
                return int(events.get("oom_kill", 0))
            return int((folder / "memory.failcnt").read_text())  # v1: times the limit was hit
        except (OSError, ValueError):
            return -1

    def remove(self) -> None:
        for folder in self.folders:
            for _ in range(50):  # the last processes may still be leaving
                try:
                    folder.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def why_unavailable(root: Path = CGROUP_ROOT) -> str:
    if os.geteuid() != 0:
        return "making cgroups needs root"
    if (root / "cgroup.controllers").exists():
        controllers = (root / "cgroup.controllers").read_text().split()
        missing = [c for c in ("cpu", "memory") if c not in controllers]
        return f"the cgroup v2 hierarchy lacks the {' and '.join(missing)} controller" if missing else ""
    missing = [c for c in ("cpu", "memory") if not (root / c / "cgroup.procs").exists()]
    return f"no cgroup v1 {' and '.join(missing)} hierarchy under {root}" if missing else ""


def grade_in_cgroup(label: str, limits: Limits, iterations: int, threads: int, time_limit: float) -> Measurement:
    cgroup = Cgroup(limits)
    try:
        with tempfile.TemporaryDirectory(prefix="vae-bench-grade-") as folder:
            out = Path(folder) / "results"
            command = [sys.executable, "-m", "grader", "grade", str(REFERENCE), "--out", str(out), "--iterations",
                       str(iterations), "--threads", str(threads), "--time-limit", f"{time_limit:g}"]
            started = time.monotonic()
            completed = subprocess.run(command, cwd=PROJECT_DIR, preexec_fn=cgroup.enter(), capture_output=True,
                                       check=False)
            wall = time.monotonic() - started
            document = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    finally:
        peak, ooms = cgroup.peak_mb(), cgroup.oom_kills()
        cgroup.remove()
    extra = document.get("extra_data", {})
    tests = document.get("tests", [])
    return Measurement(label, wall, peak, ooms, document.get("score"),
                       sum(t["max_score"] for t in tests) if tests else None, extra.get("grader_fault"),
                       extra.get("training_seconds"), completed.returncode)


def describe(measurement: Measurement) -> str:
    score = (f"{measurement.score:g}/{measurement.max_score:g}" if measurement.score is not None
             else "no results.json")
    fault = " GRADER FAULT" if measurement.grader_fault else ""
    training = (f", training {measurement.training_seconds:.0f} s" if measurement.training_seconds is not None
                else "")
    limit_hits = f", memory limit hit {measurement.oom_kills} times" if measurement.oom_kills > 0 else ""
    return (f"  {measurement.label:<34} wall {measurement.wall_seconds:6.0f} s{training}, peak memory "
            f"{measurement.peak_mb:5.0f} MB (grader + workers){limit_hits}; score {score}{fault}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.bench_gradescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="full-speed runs' torch threads")
    parser.add_argument("--no-full-speed", action="store_true", help="only the Gradescope-like run")
    parser.add_argument("--cpus", type=float, default=0.5, help="the Gradescope-like run's CPU quota")
    parser.add_argument("--memory-mb", type=int, default=768, help="the Gradescope-like run's memory limit")
    parser.add_argument("--time-limit", type=float, default=600.0, help="the assignment's timeout, seconds")
    args = parser.parse_args(argv)
    reason = why_unavailable()
    if reason:
        print(f"cannot emulate the container here: {reason}")
        return 1
    print(f"grading reference/ with {args.iterations:,} iterations, time limit {args.time_limit:g} s", flush=True)
    runs = [] if args.no_full_speed else [(f"full speed, {t} thread{'s' * (t > 1)}", Limits(), t) for t in args.threads]
    runs.append((f"Gradescope: {args.cpus:g} CPU, {args.memory_mb} MB", Limits(args.cpus, args.memory_mb), 0))
    for label, limits, threads in runs:
        # threads 0: the grader's own choice, from the CPU quota it sees (1 thread on half a CPU)
        print(describe(grade_in_cgroup(label, limits, args.iterations, threads, args.time_limit)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
