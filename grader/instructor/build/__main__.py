"""Command line of the build tools (every command takes --homework ID; assignment without it: every homework).

    python -m grader.instructor.build assignment [--homework ID]           # regenerate assignment/<id>/
    python -m grader.instructor.build assignment --check [--homework ID]   # exit 1, listing differences, if stale
    python -m grader.instructor.build handout --homework ID                # dist/handout-<id>.zip for students
    python -m grader.instructor.build autograder --homework ID [--time-limit SECONDS]   # dist/autograder-<id>.zip
    python -m grader.instructor.build submission --homework ID --out DIR   # the reference's student files, to grade
"""

import argparse
import sys
from pathlib import Path

from grader.engine.homework import Homework, HomeworkError, all_homeworks, load_homework
from grader.instructor.build.assemble import BuildError
from grader.instructor.build.assignment import check_assignment, write_assignment
from grader.instructor.build.autograder import build_autograder
from grader.instructor.build.handout import build_handout
from grader.instructor.build.layout import autograder_zip, handout_zip
from grader.instructor.build.solutions import MarkerError
from grader.instructor.catalogue import write_reference_submission


def buildable(homework_id: str | None) -> Homework:
    """The homework to package: never a draft (its handout or autograder would ship a homework still being
    written; its starter is generated all the same, for grading it in development)."""
    homework = load_homework(homework_id)
    if homework.draft:
        raise BuildError(f"homework {homework.id} is a draft ({homework.folder / 'homework.toml'}: draft = true): "
                         "finish it (its checks, catalogue and calibration), then remove the flag to package it")
    return homework


def _homeworks(args: argparse.Namespace) -> list[Homework]:
    """The named homework, or every one, drafts included (their starters serve their development gradings)."""
    return [load_homework(args.homework)] if args.homework else all_homeworks(drafts=True)


def run_assignment(args: argparse.Namespace) -> int:
    if args.out is not None and not args.homework:
        raise BuildError("--out needs --homework: it is one homework's starter folder")
    stale_any = False
    for homework in _homeworks(args):
        out = args.out or homework.assignment_dir
        if args.check:
            stale = check_assignment(homework, out)
            if stale:
                stale_any = True
                print(f"{out} is stale; run `make assignment` to regenerate it:", file=sys.stderr)
                for line in stale:
                    print(f"  {line}", file=sys.stderr)
            else:
                print(f"{out} is up to date with its sources")
            continue
        written = write_assignment(homework, out)
        print(f"wrote {len(written)} files into {out}")
    return 1 if stale_any else 0


def run_handout(args: argparse.Namespace) -> int:
    homework = buildable(args.homework)
    out = args.out or handout_zip(homework.id)
    entries = build_handout(homework, out)
    print(f"wrote {out} ({len(entries)} files, {out.stat().st_size / 1e6:.1f} MB)")
    return 0


def run_autograder(args: argparse.Namespace) -> int:
    homework = buildable(args.homework)
    out = args.out or autograder_zip(homework.id)
    time_limit = args.time_limit or homework.time_limit
    entries = build_autograder(homework, out, time_limit)
    print(f"wrote {out} ({len(entries)} files, {out.stat().st_size / 1e6:.1f} MB) for homework {homework.id}; set "
          f"the assignment's autograder timeout on Gradescope to {time_limit} s")
    return 0


def run_submission(args: argparse.Namespace) -> int:
    homework = load_homework(args.homework)
    folder = write_reference_submission(homework, args.out)
    print(f"wrote {', '.join(homework.student_files)} of {homework.id}'s reference into {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader.instructor.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    assignment = commands.add_parser("assignment", help="regenerate the starters from reference/")
    assignment.add_argument("--check", action="store_true", help="only check; exit 1 if a starter is stale")
    assignment.add_argument("--out", type=Path, default=None, help="the starter folder (default assignment/<id>/)")
    assignment.set_defaults(run=run_assignment)

    handout = commands.add_parser("handout", help="a homework's student handout zip")
    handout.add_argument("--out", type=Path, default=None, help="the zip to write (default dist/handout-<id>.zip)")
    handout.set_defaults(run=run_handout)

    autograder = commands.add_parser("autograder", help="a homework's Gradescope autograder zip")
    autograder.add_argument("--out", type=Path, default=None, help="the zip (default dist/autograder-<id>.zip)")
    autograder.add_argument("--time-limit", type=int, default=None,
                            help="the assignment's autograder timeout on Gradescope, seconds (default: the "
                                 "homework's recommended limit)")
    autograder.set_defaults(run=run_autograder)
    submission = commands.add_parser("submission", help="the reference's student files, as a student uploads them")
    submission.add_argument("--out", type=Path, required=True, help="the folder to write them into")
    submission.set_defaults(run=run_submission)
    for command in (assignment, handout, autograder, submission):
        command.add_argument("--homework", default=None, help="the homework's id (python -m grader homeworks)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (BuildError, MarkerError, HomeworkError, SyntaxError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
