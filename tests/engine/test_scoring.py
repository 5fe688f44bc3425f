"""A calibrated band: the share of points a value earns, and what a check says of a value better than any reference
run (in the band's own direction)."""

import math

from grader.engine.scoring import Band

NELBO = Band(full=101.8, zero=115.8, review=98.3, order="asc")
ACCURACY = Band(full=0.91, zero=0.61, review=1.01, order="desc")


def test_points_fall_linearly_beyond_the_full_edge_in_either_direction():
    assert NELBO.fraction(100.0) == 1.0 and NELBO.fraction(108.8) == 0.5 and NELBO.fraction(120.0) == 0.0
    assert ACCURACY.fraction(0.95) == 1.0 and ACCURACY.fraction(0.76) == 0.5 and ACCURACY.fraction(0.5) == 0.0
    assert NELBO.fraction(math.nan) == 0.0 and not NELBO.inside(math.nan)


def test_a_value_better_than_any_reference_run_is_flagged_for_review_in_the_bands_direction():
    assert NELBO.review_note(99.0, "NELBO") is None
    assert NELBO.review_note(90.0, "NELBO") == ("This NELBO is lower than any reference run (below 98.3); staff may "
                                                "review it.")
    assert ACCURACY.review_note(0.95, "accuracy") is None
    assert "higher than any reference run (above 0.5)" in Band(0.91, 0.61, 0.5, "desc").review_note(0.7, "accuracy")
