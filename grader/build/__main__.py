"""Command line of the build tools.

    python -m grader.build assignment           # regenerate assignment/ from reference/
    python -m grader.build assignment --check   # exit 1 and list the differences if assignment/ is stale
    python -m grader.build handout              # dist/handout.zip for students
    python -m grader.build autograder           # dist/autograder.zip for Gradescope [--time-limit SECONDS]
"""

import argparse
import sys
from pathlib import Path

from grader.build.assignment import BuildError, check_assignment, write_assignment
from grader.build.autograder import AUTOGRADER_ZIP, DEFAULT_TIME_LIMIT_SECONDS, build_autograder
from grader.build.handout import build_handout
from grader.build.layout import ASSIGNMENT_DIR, DATA_FILE, HANDOUT_ZIP, REFERENCE_DIR
from grader.build.solutions import MarkerError


def run_assignment(args: argparse.Namespace) -> int:
    if args.check:
        stale = check_assignment(args.reference, args.out)
        if stale:
            print(f"{args.out} is stale; run `python -m grader.build assignment` to regenerate it:", file=sys.stderr)
            for line in stale:
                print(f"  {line}", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date with {args.reference}")
        return 0
    written = write_assignment(args.reference, args.out)
    print(f"wrote {len(written)} files into {args.out}")
    return 0


def run_handout(args: argparse.Namespace) -> int:
    entries = build_handout(args.reference, args.assignment, args.data, args.out)
    print(f"wrote {args.out} ({len(entries)} files, {args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


def run_autograder(args: argparse.Namespace) -> int:
    entries = build_autograder(args.out, args.time_limit)
    print(f"wrote {args.out} ({len(entries)} files, {args.out.stat().st_size / 1e6:.1f} MB); set the assignment's "
          f"autograder timeout on Gradescope to {args.time_limit} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    assignment = commands.add_parser("assignment", help="regenerate the student starter from reference/")
    assignment.add_argument("--check", action="store_true", help="only check; exit 1 if the starter is stale")
    assignment.add_argument("--reference", type=Path, default=REFERENCE_DIR, help="the homework with solutions")
    assignment.add_argument("--out", type=Path, default=ASSIGNMENT_DIR, help="the starter folder")
    assignment.set_defaults(run=run_assignment)

    handout = commands.add_parser("handout", help="the student handout zip")
    handout.add_argument("--reference", type=Path, default=REFERENCE_DIR, help="the homework with solutions")
    handout.add_argument("--assignment", type=Path, default=ASSIGNMENT_DIR, help="the generated starter")
    handout.add_argument("--data", type=Path, default=DATA_FILE, help="the MNIST .npz file to ship")
    handout.add_argument("--out", type=Path, default=HANDOUT_ZIP, help="the zip to write")
    handout.set_defaults(run=run_handout)

    autograder = commands.add_parser("autograder", help="the Gradescope autograder zip")
    autograder.add_argument("--out", type=Path, default=AUTOGRADER_ZIP, help="the zip to write")
    autograder.add_argument("--time-limit", type=int, default=DEFAULT_TIME_LIMIT_SECONDS,
                            help="the assignment's autograder timeout on Gradescope, seconds (default 600)")
    autograder.set_defaults(run=run_autograder)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (BuildError, MarkerError, SyntaxError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
