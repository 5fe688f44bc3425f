"""Grade the reference as Gradescope's default container would run it, and at full speed: the figures that
decide whether an assignment's timeout and memory are enough. Prints figures; asserts nothing.

    python -m grader.instructor.bench_gradescope            # full speed at 1 and 2 threads, then ½ vCPU / 768 MB
    python -m grader.instructor.bench_gradescope --homework cvae --no-full-speed
    python -m grader.instructor.bench_gradescope --iterations 2000 --no-full-speed

Each grading is ``python -m grader grade <the reference's student files> --homework <id>`` in a fresh cgroup of its
own (the grader, its
sandboxed workers and everything they start), so the peak memory reported is that of all of them
together, as the container's limit counts it. The Gradescope run adds the CPU quota (½ CPU) and the
memory limit (768 MB) of the default container. Needs root and cgroups (v1 cpu and memory
controllers, or v2); says so otherwise.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader.engine.homework import PROJECT_DIR, load_homework
from grader.grading.cgroups import Cgroup, CgroupLimits, Placement, placement
from grader.instructor.catalogue import write_reference_submission

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


def bench_cgroup(limits: Limits, place: Placement | None = None) -> Cgroup:
    """A cgroup for one grading: memory always accounted (its peak is reported), capped and CPU-limited as asked."""
    wanted = CgroupLimits(memory_bytes=limits.memory_mb * MIB if limits.memory_mb else None, cpus=limits.cpus)
    return Cgroup.create(wanted, place, prefix="vae-bench", accounted=("memory", "cpu"))


def why_unavailable(place: Placement | None = None) -> str:
    if os.geteuid() != 0:
        return "making cgroups needs root"
    place = placement() if place is None else place
    missing = [name for name in ("cpu", "memory") if name not in place]
    return f"no cgroup hierarchy with the {' and '.join(missing)} controller is mounted here" if missing else ""


def grading_command(homework_id: str, submission: Path, out: Path, iterations: int | None, threads: int,
                    time_limit: float) -> list[str]:
    """The grader's command line for one benchmarked grading (``iterations`` None: each run's declared count)."""
    given = [] if iterations is None else ["--iterations", str(iterations)]
    return [sys.executable, "-m", "grader", "grade", str(submission), "--homework", homework_id, "--out", str(out),
            *given, "--threads", str(threads), "--time-limit", f"{time_limit:g}"]


def grade_in_cgroup(label: str, limits: Limits, homework_id: str, iterations: int | None, threads: int,
                    time_limit: float, keep: Path | None = None) -> Measurement:
    """One grading of the reference in its own cgroup; with ``keep``, its results folder (results.json and the
    grids) is copied there."""
    cgroup = bench_cgroup(limits)
    try:
        with tempfile.TemporaryDirectory(prefix="vae-bench-grade-") as folder:
            out = Path(folder) / "results"
            submission = write_reference_submission(load_homework(homework_id), Path(folder) / "submission")
            command = grading_command(homework_id, submission, out, iterations, threads, time_limit)
            started = time.monotonic()
            completed = subprocess.run(command, cwd=PROJECT_DIR, preexec_fn=cgroup.enter(), capture_output=True,
                                       check=False)
            wall = time.monotonic() - started
            document = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
            if keep is not None and out.exists():
                shutil.copytree(out, keep, dirs_exist_ok=True)
    finally:
        peak_bytes, ooms = cgroup.peak_bytes(), cgroup.oom_kills()
        cgroup.remove()
    peak = peak_bytes / MIB if peak_bytes is not None else float("nan")
    extra = document.get("extra_data", {})
    tests = document.get("tests", [])
    trainings = extra.get("trainings", {})  # what the worker timed itself, every training run together
    seconds = [run.get("reported", {}).get("seconds") for run in trainings.values()]
    training = sum(seconds) if seconds and all(isinstance(s, int | float) for s in seconds) else None
    return Measurement(label, wall, peak, ooms, document.get("score"),
                       sum(t["max_score"] for t in tests) if tests else None, extra.get("grader_fault"),
                       training, completed.returncode)


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
    parser = argparse.ArgumentParser(prog="python -m grader.instructor.bench_gradescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homework", default=None, help="whose reference to grade (default: the default homework)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="every training run's iterations (default: each run's own, as Gradescope grades)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="full-speed runs' torch threads")
    parser.add_argument("--no-full-speed", action="store_true", help="only the Gradescope-like run")
    parser.add_argument("--cpus", type=float, default=0.5, help="the Gradescope-like run's CPU quota")
    parser.add_argument("--memory-mb", type=int, default=768, help="the Gradescope-like run's memory limit")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="the assignment's timeout, seconds (default: the homework's recommended limit)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="copy the Gradescope-like grading's results folder (results.json, grids) here")
    args = parser.parse_args(argv)
    homework = load_homework(args.homework)
    args.homework = homework.id
    args.time_limit = args.time_limit or float(homework.time_limit)
    reason = why_unavailable()
    if reason:
        print(f"cannot emulate the container here: {reason}")
        return 1
    counts = (f"{args.iterations:,} iterations" if args.iterations is not None else
              ", ".join(f"{run.name} {run.iterations:,} iterations" for run in homework.trainings))
    print(f"grading {args.homework}'s reference ({counts}), time limit {args.time_limit:g} s", flush=True)
    runs = [] if args.no_full_speed else [(f"full speed, {t} thread{'s' * (t > 1)}", Limits(), t) for t in args.threads]
    runs.append((f"Gradescope: {args.cpus:g} CPU, {args.memory_mb} MB", Limits(args.cpus, args.memory_mb), 0))
    for label, limits, threads in runs:
        # threads 0: the grader's own choice, from the CPU quota it sees (1 thread on half a CPU)
        keep = args.keep if limits.cpus is not None else None
        print(describe(grade_in_cgroup(label, limits, args.homework, args.iterations, threads, args.time_limit, keep)),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
