"""vae-gaussian's worker operations: part B's functions on the grader's inputs, and part B's training with the
provided loop on dequantized pixels.

The flagship's operations (sample_gaussian, kl_normal, negative_elbo_bound, train) serve part A as they are: the
worker looks an operation up here first, then in grader/homeworks/vae/worker_ops.py, and
``worker.shared("isolated")`` is the flagship's helper that puts the grader's version of every other student
function in place while one is checked. This file is copied next to the worker and imports nothing from the grader.
"""

import math
from pathlib import Path

import torch


def op_train_gaussian(worker: object, request: dict) -> dict:
    """Train the student's GaussianVAE with the provided loop on dequantized batches, then send the weights and,
    for information only, what the run reported. The grader scores nothing of this but the weights, which it
    evaluates and draws from itself."""
    data, train = worker.module("data"), worker.module("train")
    gaussian_vae = worker.module("gaussian_vae")
    mnist = data.load_mnist(Path(request["data"]["mnist.npz"]))
    train.seed_everything(request["seed"])  # the seed fixes the initial weights as well
    model = gaussian_vae.GaussianVAE(z_dim=request["z_dim"])
    config = train.TrainConfig(iter_max=request["iterations"], seed=request["seed"], progress=False)
    log = train.train(model, mnist.x_train, config, prepare=data.dequantize)
    weights = {name: worker.array(tensor) for name, tensor in model.state_dict().items()}
    return {"weights": weights, "iterations": log.iterations, "seconds": log.seconds,
            "diverged_at": log.diverged_at, "last": worker.finite_numbers(log.last)}


def reference_log_normal(x: torch.Tensor, m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The reference's log N(x; m, diag(v)), summed over the last dimension (a test holds it equal to
    reference/common/utils.py's)."""
    return (-0.5 * (math.log(2 * math.pi) + torch.log(v) + (x - m).pow(2) / v)).sum(-1)


def op_log_normal(worker: object, request: dict) -> dict:
    """The student's utils.log_normal on the grader's inputs, its gradients in m and v, and whether it changed them."""
    utils = worker.module("utils")
    isolated = worker.shared("isolated")
    x = torch.from_numpy(request["x"])
    m = torch.from_numpy(request["m"]).requires_grad_(True)
    v = torch.from_numpy(request["v"]).requires_grad_(True)
    before = [tensor.detach().clone() for tensor in (x, m, v)]
    with isolated(worker, "log_normal"):
        value = utils.log_normal(x, m, v)
    result = {"value": worker.describe(value)}
    result["inputs_unchanged"] = all(torch.equal(now.detach(), then) for now, then in zip((x, m, v), before,
                                                                                          strict=True))
    result.update(worker.gradients(value, {"m": m, "v": v}))
    return result


def op_gaussian_negative_elbo_bound(worker: object, request: dict) -> dict:
    """The student's GaussianVAE.negative_elbo_bound on the grader's weights, batch and noise; the helpers it may
    call are the grader's (sample_gaussian with the request's noise, kl_normal and log_normal the closed forms), so
    the bound's points depend on the bound alone."""
    isolated = worker.shared("isolated")
    model = worker.module("gaussian_vae").GaussianVAE(z_dim=request["z_dim"])
    state = {name: torch.from_numpy(array) for name, array in request["weights"].items()}
    missing_weights = list(model.load_state_dict(state, strict=False).missing_keys)
    x = torch.from_numpy(request["x"])
    epsilon = torch.from_numpy(request["epsilon"])  # (batch, z_dim)
    calls: list[list[int]] = []

    def sample_with_fixed_noise(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        calls.append(list(m.shape))
        return m + torch.sqrt(v) * epsilon

    overrides = {"sample_gaussian": sample_with_fixed_noise, "log_normal": reference_log_normal}
    with isolated(worker, "negative_elbo_bound", overrides):
        torch.manual_seed(int(request["noise_seed"]))
        outputs = model.negative_elbo_bound(x)
    result: dict = {"returned": worker.describe(outputs), "sample_gaussian_calls": calls,
                    "missing_weights": missing_weights}
    if isinstance(outputs, tuple | list) and len(outputs) == 3:
        result["terms"] = [worker.describe(term) for term in outputs]
        nelbo = outputs[0]
        if isinstance(nelbo, torch.Tensor) and nelbo.requires_grad and nelbo.numel() == 1:
            torch.Tensor.sum(nelbo).backward()
            result["grads"] = {name: worker.array(p.grad) for name, p in model.named_parameters()
                               if p.grad is not None}
    return result
