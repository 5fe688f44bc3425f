"""The training loop of the homework: Adam on the negative ELBO, one binarized batch per iteration.

A conditional model trains on labelled batches: given the labels, the loop calls ``negative_elbo_bound(x, y)``.
A model written from scratch trains on its own objective: with ``TrainConfig.beta`` set, the loop calls
``loss(x, beta)``, which returns (rec + beta * kl, kl, rec).
"""

import math
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from data import Prepare, binarize, labelled_train_batches, train_batches
from hyperparameters import ITERATIONS

PROGRESS_EVERY = 50  # iterations between progress-bar updates (reading a loss value costs time)


@dataclass(frozen=True)
class TrainConfig:
    iter_max: int = ITERATIONS
    batch_size: int = 100
    learning_rate: float = 1e-3
    seed: int = 0
    progress: bool = True
    beta: float | None = None  # the KL weight of model.loss(x, beta); None: model.negative_elbo_bound(*batch)


@dataclass
class TrainLog:
    iterations: int = 0  # iterations completed
    seconds: float = 0.0
    diverged_at: int | None = None  # first checked iteration whose loss was NaN or infinite
    last: dict[str, float] = field(default_factory=dict)  # the last losses shown: nelbo (the objective), kl, rec


def seed_everything(seed: int) -> None:
    """Seed every generator a run may touch, so that a seed fixes weights, data order and samples."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(model: torch.nn.Module, x_train: torch.Tensor, config: TrainConfig = TrainConfig(),
          y_train: torch.Tensor | None = None, prepare: Prepare = binarize) -> TrainLog:
    """Train ``model`` in place on uint8 images (n, 784) for ``config.iter_max`` iterations; with ``y_train``, the
    images' labels (n,), on (images, labels) batches. ``prepare`` turns a uint8 batch into the model's input
    (binarized by default; ``data.dequantize`` for a model of real-valued pixels).

    Stops early, and says so in the log, when the loss becomes NaN or infinite.
    """
    seed_everything(config.seed)
    data_generator = torch.Generator().manual_seed(config.seed)
    if y_train is None:
        batches = ((x,) for x in train_batches(x_train, config.batch_size, data_generator, prepare))
    else:
        batches = labelled_train_batches(x_train, y_train, config.batch_size, data_generator)
    # fused=True: one vectorized kernel per parameter tensor instead of about ten tensor operations each
    # (the same Adam update; on CPU, PyTorch's default is the slow per-operation loop).
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=True)
    log = TrainLog()
    model.train()
    start = time.perf_counter()
    with tqdm(total=config.iter_max, disable=not config.progress, dynamic_ncols=True) as progress:
        for iteration in range(1, config.iter_max + 1):
            batch = next(batches)  # (x,) or (x, y): (batch, 784) images and (batch,) labels
            optimizer.zero_grad(set_to_none=True)
            if config.beta is None:
                nelbo, kl, rec = model.negative_elbo_bound(*batch)
            else:  # the objective rec + beta * kl (the negative ELBO when beta is 1)
                nelbo, kl, rec = model.loss(*batch, config.beta)
            nelbo.backward()
            optimizer.step()
            log.iterations = iteration
            if iteration % PROGRESS_EVERY == 0 or iteration == config.iter_max:
                log.last = {"nelbo": nelbo.item(), "kl": kl.item(), "rec": rec.item()}
                progress.set_postfix(loss=f"{log.last['nelbo']:.2f}", kl=f"{log.last['kl']:.2f}",
                                     rec=f"{log.last['rec']:.2f}", refresh=False)
                progress.update(iteration - progress.n)
                if not math.isfinite(log.last["nelbo"]):
                    log.diverged_at = iteration
                    break
    log.seconds = time.perf_counter() - start
    return log
