"""The reference training script as students run it (from a homework's layers, its own hyperparameters first):
metrics, grid, last line. Where full runs land is make calibrate's to measure (the same loop and evaluator, in the
grader's worker); tests/instructor/test_calibration.py checks its committed output."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from grader.engine.oracle import reference
from tests.conftest import FLAGSHIP, HOMEWORKS, ROOT

CELL, PADDING = 30, 2  # a 28-pixel image and the 2-pixel padding before it
PROVIDED_MODELS = [homework for homework in HOMEWORKS if "z_dim" in homework.training().arguments]  # not beta-vae's


def run_vae(out: Path, *args: str, homework: str = FLAGSHIP.id) -> str:
    command = [sys.executable, "-m", "grader.instructor.run_reference", "--homework", homework, "--",
               "--no-progress", "--out", str(out), *args]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return completed.stdout


@pytest.mark.parametrize("homework", PROVIDED_MODELS, ids=lambda homework: homework.id)
def test_each_homework_runs_with_its_own_settings(homework, tmp_path):
    stdout = run_vae(tmp_path, "--iter-max", "5", homework=homework.id)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["z_dim"] == homework.training().arguments["z_dim"]
    labels = reference(homework).report.LABELS  # the figures the homework's report.py adds to the last line
    assert set(labels) <= set(metrics) and all(f"{label}: " in stdout.splitlines()[-1] for label in labels.values())
    rows, columns = homework.settings["grid_rows"], homework.settings["grid_columns"]
    with Image.open(tmp_path / "samples.png") as grid:
        assert grid.size == (columns * CELL + PADDING, rows * CELL + PADDING)


def test_a_short_run_writes_metrics_grid_weights_and_the_last_line(tmp_path):
    stdout = run_vae(tmp_path, "--iter-max", "30", "--seed", "3")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"nelbo", "kl", "rec", "iterations", "seed", "seconds"} <= set(metrics)
    assert metrics["iterations"] == 30 and metrics["seed"] == 3
    assert metrics["nelbo"] == pytest.approx(metrics["kl"] + metrics["rec"], rel=1e-6)
    last = stdout.strip().splitlines()[-1]
    assert last == f"NELBO: {metrics['nelbo']:.4f} KL: {metrics['kl']:.4f} Rec: {metrics['rec']:.4f}"
    assert (tmp_path / "weights.pt").stat().st_size > 1_000_000


def test_several_runs_report_mean_and_standard_error(tmp_path):
    stdout = run_vae(tmp_path, "--iter-max", "10", "--runs", "2", "--seed", "5")
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["seeds"] == [5, 6]
    runs = [json.loads((tmp_path / f"seed_{s}" / "metrics.json").read_text())["nelbo"] for s in (5, 6)]
    assert summary["nelbo"]["mean"] == pytest.approx(sum(runs) / 2)
    assert summary["nelbo"]["standard_error"] == pytest.approx(abs(runs[0] - runs[1]) / 2)
    assert stdout.strip().splitlines()[-1].startswith("NELBO: ") and " ± " in stdout.strip().splitlines()[-1]


def test_same_seed_same_numbers(tmp_path):
    first = run_vae(tmp_path / "a", "--iter-max", "20").strip().splitlines()[-1]
    second = run_vae(tmp_path / "b", "--iter-max", "20").strip().splitlines()[-1]
    assert first == second
