"""The calibrated band: derived as documented, and the committed calibration.json agrees with its own runs."""

import json
import math
from statistics import NormalDist

import pytest

from grader.instructor.calibrate import (
    DEFAULT_CATALOGUE,
    PARTIAL_CREDIT_NATS,
    PLOT_FILE,
    REFERENCE_SUBMISSION,
    TARGET_FALSE_FAIL,
    CalibrationConfig,
    chi2_quantile,
    derive_band,
    load_variants,
    normal_tail,
    per_seed_worst,
    placed,
    run_calibration,
    thread_effect,
    write_calibration,
)
from grader.engine.scoring import CALIBRATION_FILE, NelboBand, load_band
from grader.grading.session import FULL_ITERATIONS


def test_the_chi_square_approximation_is_close_to_tabulated_quantiles():
    # chi-square 5 % quantiles from the tables: 7 dof 2.167, 10 dof 3.940, 19 dof 10.117, 39 dof 25.695
    for dof, tabulated in ((7, 2.167), (10, 3.940), (19, 10.117), (39, 25.695)):
        assert chi2_quantile(0.05, dof) == pytest.approx(tabulated, rel=0.01)


def test_the_band_edge_leaves_the_target_false_fail_probability_at_the_upper_sd():
    nelbos = [99.5, 99.8, 100.1, 99.6, 99.9, 99.7, 100.0, 99.4]
    band, statistics = derive_band(nelbos)
    assert band.full_at_or_below >= max(nelbos)
    assert band.review_below <= min(nelbos)
    assert band.zero_at_or_above == pytest.approx(band.full_at_or_below + PARTIAL_CREDIT_NATS)
    assert statistics["false_fail_probability_sd_upper_95"] <= TARGET_FALSE_FAIL
    assert statistics["false_fail_probability"] <= statistics["false_fail_probability_sd_upper_95"]
    assert statistics["reference_runs_losing_points"] == 0
    z = (band.full_at_or_below - statistics["mean"]) / statistics["sd"]
    assert normal_tail(z) == pytest.approx(1 - NormalDist().cdf(z), rel=1e-6)


def test_a_band_needs_three_runs():
    with pytest.raises(ValueError, match="at least 3"):
        derive_band([100.0, 100.2])


def test_a_calibration_file_round_trips_through_the_grader(tmp_path):
    runs = [{"seed": s, "threads": 1 + s % 2, "iterations": 300, "nelbo": 150.0 + 0.1 * s, "kl": 10.0,
             "rec": 140.0 + 0.1 * s} for s in range(5)]
    config = CalibrationConfig(iterations=300, out=tmp_path / "calibration.json", plot=tmp_path / "calibration.png")
    band = write_calibration(runs, config)
    assert load_band(config.out) == band
    assert config.plot.stat().st_size > 10_000


@pytest.mark.skipif(not CALIBRATION_FILE.exists(), reason="make calibrate has not been run")
def test_the_committed_band_is_the_one_its_runs_give():
    document = json.loads(CALIBRATION_FILE.read_text())
    full = [run for run in document["runs"] if run["iterations"] == FULL_ITERATIONS and math.isfinite(run["nelbo"])]
    band = load_band()
    if len(per_seed_worst(full)) >= 3:
        assert band == derive_band(per_seed_worst(full))[0]
        assert all(run["nelbo"] <= band.full_at_or_below for run in full), "a reference run would lose points"
        assert PLOT_FILE.exists()
    else:
        assert band == NelboBand()


def test_variants_come_from_the_catalogue_and_unknown_ids_are_refused():
    (variant,) = load_variants(DEFAULT_CATALOGUE, ("bound_nelbo_half_kl",))
    assert "nelbo = 0.5 * kl + rec" in variant.files["vae.py"]
    assert variant.files["utils.py"] == (REFERENCE_SUBMISSION / "utils.py").read_text()
    with pytest.raises(ValueError, match="no_such_mutant"):
        load_variants(DEFAULT_CATALOGUE, ("no_such_mutant",))


def test_a_placement_says_where_it_falls_and_what_it_scores():
    band = NelboBand(full_at_or_below=101.0, zero_at_or_above=115.0, review_below=97.0)
    runs = [{"id": name, "nelbo": nelbo} for name, nelbo in (("a", 100.0), ("b", 108.0), ("c", 130.0),
                                                              ("d", math.nan))]
    where = {run["id"]: (run["where"], run["points"]) for run in placed(runs, band)}
    assert where == {"a": ("inside the band: full points", 30), "b": ("partial credit", 15.0),
                     "c": ("zero points", 0.0), "d": ("zero points", 0.0)}


@pytest.mark.slow
def test_a_short_calibration_runs_in_parallel_resumes_and_places_a_variant(tmp_path):
    config = CalibrationConfig(seeds=3, threads=(1,), iterations=40, out=tmp_path / "calibration.json",
                               plot=tmp_path / "calibration.png", jobs=2, place=("bound_nelbo_half_kl",))
    assert run_calibration(config) == 0
    document = json.loads(config.out.read_text())
    assert sorted(run["seed"] for run in document["runs"]) == [0, 1, 2]
    assert [run["id"] for run in document["placements"]] == ["bound_nelbo_half_kl"]
    assert document["placements"][0]["of"] == 30 and "where" in document["placements"][0]
    assert load_band(config.out) == derive_band([run["nelbo"] for run in document["runs"]])[0]
    stamp = config.out.stat().st_mtime_ns
    assert run_calibration(config) == 0  # everything is done: nothing is trained again
    assert len(json.loads(config.out.read_text())["runs"]) == 3 and config.out.stat().st_mtime_ns >= stamp


def test_runs_of_one_seed_count_once_with_their_worst_value():
    runs = [{"seed": 0, "threads": 1, "nelbo": 99.5}, {"seed": 0, "threads": 2, "nelbo": 99.6},
            {"seed": 1, "threads": 1, "nelbo": 100.1}]
    assert per_seed_worst(runs) == [99.6, 100.1]
    assert thread_effect(runs) == pytest.approx(0.1)
    assert thread_effect(runs[2:]) is None
