"""Checks of the model trained with beta = 1: the provided loop trains the student's BetaVAE in the worker, and the
grader evaluates the returned state through encode and decode, each in a process of its own, with its own KL,
likelihood and noise (grader/homeworks/beta_vae/trusted.py). What the worker reports of its run is not scored."""

import math
from collections.abc import Callable

from gradescope_utils.autograder_utils.decorators import number

from grader.engine.feedback import wrong
from grader.engine.scoring import load_band
from grader.grading.session import GradingSession
from grader.homeworks.beta_vae import trusted

SCORED_METRIC = "nelbo"


@number("3.1")
def test_trained(grading: GradingSession, note: list[str]) -> None:
    """training: the returned state is finite, within the budget, and the model has learned"""
    run = trusted.reported(grading)
    note.append(f"Your training run reported {run.iterations:,} iterations in {run.seconds:.0f} s (for "
                "information: the grader scores only what it computes from the returned state).")
    nelbo = trusted.evaluated(grading).metrics[SCORED_METRIC]
    learned = float(trusted.settings(grading)["learned_nelbo"])
    if not nelbo <= learned:
        raise wrong("The trained model has not learned: its test NELBO by the grader's evaluation is above what a "
                    "model of independent pixels reaches.", f"at most {learned:g} nats (untrained: about 545)",
                    f"{nelbo:.1f}", "a loss that does not train the model (see the unit checks above), or a model "
                    "whose decode ignores z.")


@number("3.2")
def test_test_nelbo(grading: GradingSession, note: list[str], earn: Callable[[float], None]) -> None:
    """training: test NELBO by the grader's evaluation in the band (the reference's, plus an allowance)"""
    metrics = trusted.evaluated(grading).metrics
    band = load_band(grading.homework, SCORED_METRIC)
    nelbo = metrics[SCORED_METRIC]
    earn(band.fraction(nelbo))
    note.append(f"Grader's evaluation on the 10,000 binarized test images, through your encode and decode: NELBO "
                f"{nelbo:.3f}, KL {metrics['kl']:.3f}, Rec {metrics['rec']:.3f}.")
    note.extend(filter(None, [grading.training().development_note(), band.review_note(nelbo, "NELBO")]))
    if not band.inside(nelbo):
        got = f"{nelbo:.3f}" if math.isfinite(nelbo) else "not finite"
        raise wrong("The trained model's test NELBO is outside the band.",
                    f"at most {band.full:g} (the reference: about 98); zero points from {band.zero:g}", got,
                    "when the unit checks pass, a model too small or too regularized for 10,000 iterations "
                    "(heavy dropout, tiny hidden layers, a very small z_dim), or a learning problem (saturated "
                    "tanh, variances that collapse): try the reference's design, two ELU layers of 300 each way.")
