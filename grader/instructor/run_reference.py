"""Run a homework's reference ``run_vae.py`` from its layers in ``reference/`` (``make train HOMEWORK=<id>``).

    python -m grader.instructor.run_reference --homework vae-d40 -- --out runs/vae-d40 --iter-max 2000
    python -m grader.instructor.run_reference --homework beta-vae --script explore_beta -- --iter-max 500

The layers lead ``sys.path`` in their order (the homework's own folder first), so a module a homework overrides
(its hyperparameters.py, say) is the one imported, exactly as in its handout.
"""

import argparse
import runpy
import sys

from grader.engine.homework import load_homework

ENTRY_POINT = "run_vae"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.instructor.run_reference", description=__doc__)
    parser.add_argument("--homework", default=None, help="the homework's id (default: the default homework)")
    parser.add_argument("--script", default=ENTRY_POINT, help=f"the script to run (default: {ENTRY_POINT})")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="passed to the script (after --)")
    args = parser.parse_args(argv)
    homework = load_homework(args.homework)
    forwarded = args.arguments[1:] if args.arguments[:1] == ["--"] else args.arguments
    sys.path[:0] = [str(layer) for layer in homework.reference_layers]
    sys.argv = [f"{args.script}.py", *forwarded]
    try:
        runpy.run_module(args.script, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
