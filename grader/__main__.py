"""Command line: ``python -m grader grade SUBMISSION [--out DIR] [--iterations N] [--seed S] [--threads T]``."""

import argparse
import sys
from pathlib import Path

from grader.grade import RESULTS_NAME, grade
from grader.session import FULL_ITERATIONS, GradeConfig, default_threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description="The VAE homework autograder.")
    commands = parser.add_subparsers(dest="command", required=True)
    grade_parser = commands.add_parser("grade", help="grade one submission (a folder or a .zip)")
    grade_parser.add_argument("submission", type=Path)
    grade_parser.add_argument("--out", type=Path, default=Path("results"), help="results folder (default results/)")
    grade_parser.add_argument("--iterations", type=int, default=FULL_ITERATIONS,
                              help="training iterations; fewer than 20,000 is a development run that does not count")
    grade_parser.add_argument("--seed", type=int, default=0)
    grade_parser.add_argument("--threads", type=int, default=default_threads())
    grade_parser.add_argument("--unit-only", action="store_true", help="run the unit checks only, no training")
    args = parser.parse_args(argv)

    if args.command == "grade":
        if args.iterations < 1 or args.threads < 1:
            parser.error("--iterations and --threads must be positive")
        config = GradeConfig(iterations=args.iterations, seed=args.seed, threads=args.threads,
                             training=not args.unit_only)
        result = grade(args.submission, args.out, config)
        for check in result.checks:
            mark = "ok " if check.passed else "-- "
            print(f"{mark}{check.number:>5} {check.name:<62} {check.score:g}/{check.max_score:g} {check.outcome.value}")
        print(f"score {result.score:g}/{result.max_score:g}; wrote {args.out / RESULTS_NAME}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
