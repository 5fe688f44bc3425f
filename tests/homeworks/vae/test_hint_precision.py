"""The hint-precision report (tests/homeworks/vae/hint_precision.py) counts what it says it counts: a hint naming a
true mistake, a wrong one (today's words or the grader's earlier ones), or none; passed checks and guesses aside."""

from grader.homeworks.vae.diagnose import MISTAKES
from tests.homeworks.vae import hint_precision


def test_the_tally_counts_true_wrong_and_unnamed_hints_per_check():
    sign = MISTAKES["bound_rec_sign_flipped"].text
    graded = {"entry": {
        "3.3": {"score": 0.0, "max": 5.0, "output": f"rec does not match.\nLikely mistake: {sign}"},
        "3.5": {"score": 0.0, "max": 2.0, "output": (
            "Likely mistake: a hard-coded batch size (100) or latent size (10)\n"
            f"Likely mistake: {sign} (found by check 3.3; ...)\n"
            "Possible causes (guesses, most likely first): (1) a β")},
        "3.4": {"score": 0.0, "max": 5.0, "output": "Likely mistake: the values of kl or rec are wrong"},
        "3.2": {"score": 5.0, "max": 5.0, "output": "Likely mistake: the KL has weight 3 (a passed check: ignored)"},
    }}
    counts = hint_precision.tally(graded, {"entry": {"bound_rec_sign_flipped"}}, hint_precision.words())
    assert dict(counts["3.3"]) == {"shown": 1, "true": 1, "wrong": 0, "none": 0, "inherited": 0}
    assert dict(counts["3.5"]) == {"shown": 2, "true": 1, "wrong": 1, "none": 0, "inherited": 1}
    assert dict(counts["3.4"]) == {"shown": 1, "true": 0, "wrong": 0, "none": 1, "inherited": 0}
    assert "3.2" not in counts
