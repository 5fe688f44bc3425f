"""beta-vae's scripts as students run them (from its layers): run_vae.py saves the seed's 3 x 16 figure, metrics
and weights; explore_beta.py trains one short run per beta and plots KL, Rec and images against beta."""

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.conftest import ROOT

CELL, PADDING = 30, 2  # a 28-pixel image and the 2-pixel padding before it
COLUMNS, ROWS = 16, 3  # test images, reconstructions, new images


def run(script: str, *args: str) -> str:
    command = [sys.executable, "-m", "grader.instructor.run_reference", "--homework", "beta-vae", "--script", script,
               "--", "--no-progress", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_run_vae_saves_the_figure_metrics_and_weights(tmp_path: Path):
    stdout = run("run_vae", "--out", str(tmp_path), "--iter-max", "20", "--beta", "1")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"nelbo", "kl", "rec", "pixel_error", "beta", "iterations"} <= set(metrics)
    assert metrics["nelbo"] == metrics["kl"] + metrics["rec"] and metrics["iterations"] == 20
    with Image.open(tmp_path / "figure.png") as figure:
        assert figure.size == (COLUMNS * CELL + PADDING, ROWS * CELL + PADDING)
    assert (tmp_path / "weights.pt").stat().st_size > 1_000_000
    assert stdout.strip().splitlines()[-1].startswith("NELBO: ") and "Pixel error: " in stdout


def test_explore_beta_plots_one_short_run_per_beta(tmp_path: Path):
    run("explore_beta", "--out", str(tmp_path), "--iter-max", "10", "--betas", "0", "2")
    results = json.loads((tmp_path / "explore_beta.json").read_text())
    assert [result["beta"] for result in results] == [0.0, 2.0]
    assert all({"kl", "rec", "nelbo"} <= set(result) for result in results)
    with Image.open(tmp_path / "explore_beta.png") as plot:
        assert plot.size[0] > 600 and plot.size[1] > 400
