"""Command line of the grader.

    python -m grader homeworks [--json]
    python -m grader grade SUBMISSION [--homework ID] [--out DIR] [--iterations N] [--seed S] [--threads T]
                                      [--unit-only] [--time-limit SECONDS]
    python -m grader batch INPUT [--homework ID] [--out DIR] [--jobs K] [--iterations N] [--unit-only]
                                 [--timeout S] [--retry-failed] [--allow-no-isolation]

A results.json is written in every outcome: if even the grader's own modules fail to import (a broken
installation), a grader-fault result is written with the standard library alone.
"""

import argparse
import json
import signal
import sys
import traceback
from pathlib import Path

from grader.engine.homework import RESULTS_NAME, HomeworkError, all_homeworks, load_homework
from grader.engine.results import CheckResult, GradeResult, Outcome, to_gradescope, write_json_atomically

MIN_TIME_LIMIT_SECONDS = 120.0


def homeworks_command(args: argparse.Namespace) -> int:
    homeworks = all_homeworks()
    if args.json:
        print(json.dumps([homework.summary() for homework in homeworks], indent=2))
        return 0
    for homework in homeworks:
        functions = ", ".join(function.name for function in homework.functions)
        extends = f" (extends {homework.bases[0].id})" if homework.bases else ""
        print(f"{homework.id}{extends}: {homework.title}\n    files {', '.join(homework.student_files)}; "
              f"functions {functions}; {homework.max_score:g} points; time limit {homework.time_limit} s"
              + ("; a written part graded by staff" if homework.written else ""))
    drafts = [homework.id for homework in all_homeworks(drafts=True) if homework.draft]
    if drafts:
        print(f"drafts (being written; graded by id, never built or shipped): {', '.join(drafts)}")
    return 0


def grade_command(args: argparse.Namespace) -> int:
    try:
        from grader.grading.grade import grade
        from grader.grading.session import Budgets, GradeConfig, default_threads
        homework = load_homework(args.homework)
    except Exception as error:  # the installation is broken: still tell Gradescope, and say whose fault it is
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        fault = CheckResult("autograder: started", "0.0", 0.0, 0.0, Outcome.GRADER_FAULT,
                            "The autograder could not start. This is not your fault.", hidden_detail=detail)
        write_json_atomically(to_gradescope(GradeResult(checks=[fault], output="The autograder could not start.")),
                              args.out / RESULTS_NAME)
        print(detail, file=sys.stderr)
        return 1
    time_limit = args.time_limit or float(homework.time_limit)
    config = GradeConfig(iterations=args.iterations, seed=args.seed, threads=args.threads or default_threads(),
                         training=not args.unit_only, budgets=Budgets(total=time_limit))
    result = grade(homework, args.submission, args.out, config)
    for check in result.checks:
        mark = "ok" if check.passed else "--"
        score = f"{check.score:g}/{check.max_score:g}"
        print(f"{mark} {check.number:>5} {check.name:<64} {score:>7} {check.outcome.value}")
    print(f"score {result.score:g}/{result.max_score:g}; wrote {args.out / RESULTS_NAME}")
    return 0


def _stop_like_ctrl_c(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def batch_command(args: argparse.Namespace) -> int:
    from grader.classroom.batch import INPUTS_DIR, BatchConfig, BatchRefused, check_isolation, run_batch
    from grader.classroom.export import ExportError, read_input
    from grader.classroom.report import write_report

    if (args.jobs is not None and args.jobs < 1) or args.timeout <= 0:
        print("--jobs and --timeout must be positive", file=sys.stderr)
        return 2
    try:  # before anything is read or written: without isolation, nothing happens unless the TA said so
        check_isolation(args.allow_no_isolation)
    except BatchRefused as refusal:
        print(refusal, file=sys.stderr)
        return 2
    try:
        entries = read_input(args.input, args.out / INPUTS_DIR)
    except ExportError as error:
        print(f"cannot read {args.input}: {error}", file=sys.stderr)
        return 2
    config = BatchConfig(out=args.out, homework=load_homework(args.homework).id, jobs=args.jobs,
                         iterations=args.iterations, seed=args.seed, unit_only=args.unit_only,
                         timeout_seconds=args.timeout, retry_failed=args.retry_failed, progress=not args.no_progress,
                         allow_no_isolation=args.allow_no_isolation)
    previous = signal.signal(signal.SIGTERM, _stop_like_ctrl_c)  # a kill also ends the running gradings
    try:
        summary = run_batch(entries, config)
    except BatchRefused as error:  # another batch holds the folder, or the isolation changed since the check
        print(error, file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    paths = write_report(entries, args.out, load_homework(args.homework))
    unusable = f", {len(summary.unusable)} with nothing to grade (see their status)" if summary.unusable else ""
    print(f"graded {len(summary.graded)}, kept {len(summary.skipped)} finished results{unusable}, in "
          f"{summary.wall_seconds:.0f} s; wrote {paths.csv} and {paths.html}")
    return 130 if summary.interrupted else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description="The homeworks' autograder.")
    commands = parser.add_subparsers(dest="command", required=True)
    list_parser = commands.add_parser("homeworks", help="list the homeworks this grader knows")
    list_parser.add_argument("--json", action="store_true", help="as JSON")
    list_parser.set_defaults(run=homeworks_command)
    grade_parser = commands.add_parser("grade", help="grade one submission (a folder or a .zip)")
    grade_parser.add_argument("submission", type=Path)
    grade_parser.add_argument("--out", type=Path, default=Path("results"), help="results folder (default results/)")
    grade_parser.add_argument("--iterations", type=int, default=None,
                              help="training iterations (default: the homework's); fewer is a development run that "
                                   "does not count")
    grade_parser.add_argument("--seed", type=int, default=None, help="training seed (default: the homework's)")
    grade_parser.add_argument("--threads", type=int, default=0, help="torch threads (default: up to 2)")
    grade_parser.add_argument("--unit-only", action="store_true", help="run the unit checks only, no training")
    grade_parser.add_argument("--time-limit", type=float, default=None,
                              help="seconds the whole grading may take, results.json included: the platform's "
                                   "timeout (default: the homework's recommended limit)")
    grade_parser.set_defaults(run=grade_command)
    batch_parser = commands.add_parser(
        "batch", help="grade a Gradescope export (folder or .zip) or a folder of uploads; write scores.csv and "
                      "report.html")
    batch_parser.add_argument("input", type=Path)
    batch_parser.add_argument("--out", type=Path, default=Path("reports"), help="report folder (default reports/)")
    batch_parser.add_argument("--jobs", type=int, default=None,
                              help="submissions graded at once (default: one per core; threads = cores / jobs)")
    batch_parser.add_argument("--iterations", type=int, default=None,
                              help="training iterations (default: the homework's); fewer is a development run")
    batch_parser.add_argument("--seed", type=int, default=None, help="training seed (default: the homework's)")
    batch_parser.add_argument("--unit-only", action="store_true", help="run the unit checks only, no training")
    batch_parser.add_argument("--timeout", type=float, default=2_400.0,
                              help="wall-clock seconds per submission before it is killed (default 2400)")
    batch_parser.add_argument("--retry-failed", action="store_true",
                              help="grade again the submissions whose last grading timed out, crashed or faulted")
    batch_parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch_parser.add_argument("--allow-no-isolation", action="store_true",
                              help="grade even without OS isolation (not run as root: sandbox mode none), where a "
                                   "process of student code that detaches can outlive its grading and touch your "
                                   "files; without this flag the batch refuses to run in that mode")
    batch_parser.set_defaults(run=batch_command)
    for command in (grade_parser, batch_parser):
        command.add_argument("--homework", default=None,
                             help="the homework's id (default: the default homework; see python -m grader homeworks)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (getattr(args, "iterations", None) or 1) < 1 or (getattr(args, "threads", None) or 0) < 0:
        parser.error("--iterations must be positive and --threads not negative")
    if (getattr(args, "time_limit", None) or MIN_TIME_LIMIT_SECONDS) < MIN_TIME_LIMIT_SECONDS:
        parser.error(f"--time-limit must be at least {MIN_TIME_LIMIT_SECONDS:.0f} seconds")
    if args.command == "batch":
        try:
            load_homework(args.homework)
        except HomeworkError as error:
            parser.error(str(error))
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
