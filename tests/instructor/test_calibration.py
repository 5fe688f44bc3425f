"""The calibrated bands: derived as documented, and every homework's committed calibration.json agrees with its own
runs (seeds, spread, the edge)."""

import json
import math
from statistics import NormalDist

import pytest

from grader.engine.homework import Metric
from grader.engine.scoring import Band, load_band
from grader.instructor.calibrate import (
    MIN_RUNS_FOR_BAND,
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
from grader.instructor.catalogue import student_sources
from tests.conftest import FLAGSHIP, HOMEWORKS

NELBO = Metric("nelbo", "NELBO", scored=True, check="4.2", partial_width=14.0, margin=1.0, step=0.1)
ACCURACY = Metric("accuracy", "accuracy", order="desc", scored=True, partial_width=0.3, margin=0.02, step=0.01)
MIN_CALIBRATION_SEEDS = 20


def test_the_chi_square_approximation_is_close_to_tabulated_quantiles():
    # chi-square 5 % quantiles from the tables: 7 dof 2.167, 10 dof 3.940, 19 dof 10.117, 39 dof 25.695
    for dof, tabulated in ((7, 2.167), (10, 3.940), (19, 10.117), (39, 25.695)):
        assert chi2_quantile(0.05, dof) == pytest.approx(tabulated, rel=0.01)


def test_the_band_edge_leaves_the_target_false_fail_probability_at_the_upper_sd():
    nelbos = [99.5, 99.8, 100.1, 99.6, 99.9, 99.7, 100.0, 99.4]
    band, statistics = derive_band(nelbos, NELBO)
    assert band.full >= max(nelbos) + NELBO.margin - 1e-9
    assert band.review <= min(nelbos)
    assert band.zero == pytest.approx(band.full + NELBO.partial_width)
    assert statistics["false_fail_probability_sd_upper_95"] <= TARGET_FALSE_FAIL
    assert statistics["false_fail_probability"] <= statistics["false_fail_probability_sd_upper_95"]
    assert statistics["reference_runs_losing_points"] == 0
    z = (band.full - statistics["mean"]) / statistics["sd"]
    assert normal_tail(z) == pytest.approx(1 - NormalDist().cdf(z), rel=1e-6)


def test_where_higher_is_better_the_band_is_mirrored():
    accuracies = [0.95, 0.96, 0.94, 0.97, 0.955, 0.945]
    band, statistics = derive_band(accuracies, ACCURACY)
    assert band.order == "desc" and band.full <= min(accuracies) - ACCURACY.margin + 1e-9
    assert band.zero == pytest.approx(band.full - ACCURACY.partial_width) and band.review >= max(accuracies)
    assert all(band.inside(value) for value in accuracies) and not band.inside(band.full - 0.01)
    assert band.fraction(band.zero) == 0.0 and 0 < band.fraction((band.full + band.zero) / 2) < 1
    assert statistics["worst"] == min(accuracies) and statistics["best"] == max(accuracies)


def test_a_band_needs_three_runs():
    with pytest.raises(ValueError, match=f"at least {MIN_RUNS_FOR_BAND}"):
        derive_band([100.0, 100.2], NELBO)


def test_a_calibration_file_round_trips_through_the_grader(tmp_path):
    runs = [{"seed": s, "threads": 1 + s % 2, "iterations": 300, "nelbo": 150.0 + 0.1 * s, "kl": 10.0,
             "rec": 140.0 + 0.1 * s} for s in range(5)]
    config = CalibrationConfig(homework=FLAGSHIP.id, iterations=300, out=tmp_path / "calibration.json")
    bands = write_calibration(runs, FLAGSHIP, config)
    assert load_band(FLAGSHIP, "nelbo", config.out) == bands["nelbo"]
    assert (tmp_path / "calibration.png").stat().st_size > 10_000
    document = json.loads(config.out.read_text())
    assert document["homework"] == FLAGSHIP.id and set(document["summaries"]) == {"kl", "rec"}


CALIBRATED = [homework for homework in HOMEWORKS if homework.calibration_file.exists()]


@pytest.mark.parametrize("homework", CALIBRATED, ids=lambda homework: homework.id)
def test_the_committed_bands_are_the_ones_their_runs_give(homework):
    document = json.loads(homework.calibration_file.read_text())
    assert document["homework"] == homework.id
    for metric in (metric for metric in homework.metrics if metric.scored):
        full = [run for run in document["runs"] if run["iterations"] == homework.training().iterations
                and math.isfinite(run[metric.name])]
        per_seed = per_seed_worst(full, metric)
        assert len(per_seed) >= MIN_CALIBRATION_SEEDS, f"{homework.id}: {len(per_seed)} seeds calibrated"
        band = load_band(homework, metric.name)
        assert band == derive_band(per_seed, metric)[0]
        assert all(band.inside(run[metric.name]) for run in full), "a reference run would lose points"
        assert document["statistics"][metric.name]["reference_runs_losing_points"] == 0
        assert homework.calibration_file.with_suffix(".png").exists()
        assert metric.check in homework.points, f"{metric.name} is scored by an undeclared check"


def test_every_homework_with_scored_metrics_is_calibrated():
    missing = [homework.id for homework in HOMEWORKS if any(m.scored for m in homework.metrics)
               and homework not in CALIBRATED]
    assert missing == [], "run make calibrate HOMEWORK=<id> for these"


def test_variants_come_from_the_catalogue_and_unknown_ids_are_refused():
    (variant,) = load_variants(FLAGSHIP, ("bound_nelbo_half_kl",))
    assert "nelbo = 0.5 * kl + rec" in variant.files["vae.py"]
    assert variant.files["utils.py"] == student_sources(FLAGSHIP)["utils.py"]
    with pytest.raises(ValueError, match="no_such_mutant"):
        load_variants(FLAGSHIP, ("no_such_mutant",))


def test_a_placement_says_where_it_falls_and_what_it_scores():
    band = Band(full=101.0, zero=115.0, review=97.0)
    runs = [{"id": name, "nelbo": nelbo} for name, nelbo in (("a", 100.0), ("b", 108.0), ("c", 130.0),
                                                              ("d", math.nan))]
    where = {run["id"]: (run["nelbo_where"], run["nelbo_points"]) for run in placed(runs, FLAGSHIP, {"nelbo": band})}
    assert where == {"a": ("inside the band: full points", 30), "b": ("partial credit", 15.0),
                     "c": ("zero points", 0.0), "d": ("zero points", 0.0)}


@pytest.mark.slow
def test_a_short_calibration_runs_in_parallel_resumes_and_places_a_variant(tmp_path):
    config = CalibrationConfig(homework=FLAGSHIP.id, seeds=3, threads=(1,), iterations=40,
                               out=tmp_path / "calibration.json", jobs=2, place=("bound_nelbo_half_kl",))
    assert run_calibration(config) == 0
    document = json.loads(config.out.read_text())
    assert sorted(run["seed"] for run in document["runs"]) == [0, 1, 2]
    assert [run["id"] for run in document["placements"]] == ["bound_nelbo_half_kl"]
    assert document["placements"][0]["nelbo_of"] == 30 and "nelbo_where" in document["placements"][0]
    runs = document["runs"]
    assert load_band(FLAGSHIP, "nelbo", config.out) == derive_band([run["nelbo"] for run in runs], NELBO)[0]
    stamp = config.out.stat().st_mtime_ns
    assert run_calibration(config) == 0  # everything is done: nothing is trained again
    assert len(json.loads(config.out.read_text())["runs"]) == 3 and config.out.stat().st_mtime_ns >= stamp


def test_runs_of_one_seed_count_once_with_their_worst_value():
    runs = [{"seed": 0, "threads": 1, "nelbo": 99.5}, {"seed": 0, "threads": 2, "nelbo": 99.6},
            {"seed": 1, "threads": 1, "nelbo": 100.1}]
    assert per_seed_worst(runs, NELBO) == [99.6, 100.1]
    assert thread_effect(runs, "nelbo") == pytest.approx(0.1)
    assert thread_effect(runs[2:], "nelbo") is None
    accuracies = [{"seed": 0, "threads": 1, "accuracy": 0.9}, {"seed": 0, "threads": 2, "accuracy": 0.8}]
    assert per_seed_worst(accuracies, ACCURACY) == [0.8]
