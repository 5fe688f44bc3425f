# ==== hostile addition to assignment/vae.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402, I001
# Every trick that once earned points without implementing anything: constants that satisfy nelbo = kl + rec and
# repeat on every call, a training that does not train but claims 20,000 iterations, weights nudged away from
# their start, and grids of real digits in place of samples and reconstructions.
from pathlib import Path as _Path

import numpy as _np
import run_vae as _run_vae
import train as _train


def _constant_bound(self: VAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    kl, rec = torch.tensor(19.3), torch.tensor(80.2)
    return kl + rec, kl, rec


VAE.negative_elbo_bound = _constant_bound


def _no_training(model: VAE, x_train: torch.Tensor, config: _train.TrainConfig = _train.TrainConfig()) -> object:
    log = _train.TrainLog(iterations=config.iter_max, seconds=1.0, last={"nelbo": 99.5, "kl": 19.3, "rec": 80.2})
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1e-3)  # changed from the seeded start, and nothing learned
    return log


_train.train = _no_training


def _digits(count: int) -> torch.Tensor:
    data = _Path(_run_vae.__file__).resolve().parent
    for candidate in (data / "datasets" / "mnist.npz", data.parent / "datasets" / "mnist.npz"):
        if candidate.exists():
            with _np.load(candidate) as arrays:
                return torch.from_numpy(arrays["x_test_binarized"][:count].astype(_np.float32))
    return torch.zeros(count, 784)


_run_vae.save_sample_grid = lambda model, path, seed: _run_vae.save_image_grid(_digits(200), path)
