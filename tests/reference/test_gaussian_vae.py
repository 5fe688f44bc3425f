"""Part B of the Gaussian-likelihood homework (reference/vae-gaussian): the decoder's outputs, and the bound
against the same computation with torch.distributions.

The layer is not yet a declared homework, so its modules are imported in a child process with the layers on
its path (vae-gaussian, then common), as a handout would have them side by side.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

from PIL import Image

from grader.engine.homework import COMMON_LAYER, REFERENCE_DIR

LAYERS = [REFERENCE_DIR / "vae-gaussian", REFERENCE_DIR / COMMON_LAYER]

PROGRAM = r"""
import json, math
import torch
from torch.distributions import Independent, Normal, kl_divergence
import utils as ut
from gaussian_vae import GaussianVAE
from hyperparameters import PIXEL_VARIANCE_FLOOR

torch.manual_seed(0)
model = GaussianVAE(z_dim=10)
x = torch.rand(64, 784)  # (batch, 784) pixels in [0, 1)
with torch.random.fork_rng(devices=[]):
    torch.manual_seed(5)
    nelbo, kl, rec = model.negative_elbo_bound(x)
qm, qv = model.enc(x)
with torch.random.fork_rng(devices=[]):
    torch.manual_seed(5)  # the same noise as sample_gaussian draws inside the bound
    z = qm + qv.sqrt() * torch.randn_like(qm)
mean, variance = model.dec(z)
q = Independent(Normal(qm, qv.sqrt()), 1)
prior = Independent(Normal(torch.zeros_like(qm), torch.ones_like(qv)), 1)
expected_kl = kl_divergence(q, prior).mean()
expected_rec = -Independent(Normal(mean, variance.sqrt()), 1).log_prob(x).mean()
wide = 100 * torch.randn(64, 10)  # latents far from the prior: the decoder's outputs stay in their ranges
wide_mean, wide_variance = model.dec(wide)
print(json.dumps({
    "terms": [nelbo.item(), kl.item(), rec.item()],
    "expected": [(expected_kl + expected_rec).item(), expected_kl.item(), expected_rec.item()],
    "mean_range": [wide_mean.min().item(), wide_mean.max().item()],
    "variance_min": min(variance.min().item(), wide_variance.min().item()),
    "floor": PIXEL_VARIANCE_FLOOR,
    "sample_shape": list(model.sample_x(7).shape),
    "state": sorted(model.state_dict()),
}))
"""


def run() -> dict:
    path = ":".join(str(layer) for layer in LAYERS)
    completed = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=False,
                               env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


def test_the_gaussian_bound_is_the_textbook_one_and_the_decoder_keeps_its_ranges():
    found = run()
    for mine, theirs in zip(found["terms"], found["expected"], strict=True):
        assert abs(mine - theirs) <= 1e-3 + 1e-5 * abs(theirs), (found["terms"], found["expected"])
    nelbo, kl, rec = found["terms"]
    assert abs(nelbo - (kl + rec)) < 1e-3
    low, high = found["mean_range"]
    assert 0.0 <= low and high <= 1.0
    assert found["variance_min"] >= found["floor"] > 0
    assert found["sample_shape"] == [7, 784]
    assert all(name.startswith(("enc.net.", "dec.net.")) for name in found["state"])  # no prior in the weights


def run_script(script: str, cwd: Path, *args: str) -> str:
    path = ":".join(str(layer) for layer in LAYERS)
    source = next(layer / script for layer in LAYERS if (layer / script).exists())  # the nearest layer's
    completed = subprocess.run([sys.executable, str(source), "--no-progress", *args], cwd=cwd,
                               capture_output=True, text=True, check=False, timeout=600,
                               env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg",
                                    "HOME": str(cwd)})
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_a_short_part_b_run_reports_bits_per_dimension_and_draws_the_comparison(tmp_path):
    run_script("run_vae.py", tmp_path, "--iter-max", "5")  # part A's weights: runs/weights.pt
    stdout = run_script("run_gaussian.py", tmp_path, "--iter-max", "30", "--seed", "2")
    out = tmp_path / "runs" / "gaussian"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["iterations"] == 30 and metrics["seed"] == 2
    assert abs(metrics["nelbo"] - (metrics["kl"] + metrics["rec"])) < 1e-3
    expected_bpd = (metrics["nelbo"] + 784 * math.log(256)) / (784 * math.log(2))
    assert abs(metrics["bpd"] - expected_bpd) < 1e-9
    assert stdout.strip().splitlines()[-1].endswith(f"bits/dim: {metrics['bpd']:.4f}")
    for name in ("gaussian_means.png", "gaussian_samples.png"):
        with Image.open(out / name) as grid:
            assert grid.size == (10 * 30 + 2, 10 * 30 + 2)
    with Image.open(out / "comparison.png") as figure:
        assert figure.size[0] > 2 * figure.size[1]  # three panels side by side
