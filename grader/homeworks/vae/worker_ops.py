"""The flagship's worker operations: they run in the sandboxed worker, on the student's code.

Each ``op_<name>(worker, request)`` answers one request of the trusted side with plain values (described
tensors, arrays, numbers), in the shape grader/homeworks/vae/trusted.py declares for it. ``worker`` is the
engine's Worker (grader/grading/worker.py): ``worker.module(name)`` imports a homework module,
``worker.describe(value)`` describes what a student's function returned, ``worker.gradients(output,
leaves)`` backpropagates, ``worker.array(tensor)`` and ``worker.finite_numbers(mapping)`` make values
sendable. This file is copied next to the worker and imports nothing from the grader.
"""

from pathlib import Path

import torch


def op_sample_gaussian(worker: object, request: dict) -> dict:
    utils = worker.module("utils")
    track = bool(request.get("requires_grad", True))
    m = torch.from_numpy(request["m"]).requires_grad_(track)
    v = torch.from_numpy(request["v"]).requires_grad_(track)
    m_before, v_before = m.detach().clone(), v.detach().clone()
    torch.manual_seed(request["seed"])
    z = utils.sample_gaussian(m, v)
    result = {"z": worker.describe(z)}
    result["inputs_unchanged"] = bool(torch.equal(m.detach(), m_before) and torch.equal(v.detach(), v_before))
    if track:
        result.update(worker.gradients(z, {"m": m, "v": v}))
    return result


def op_kl_normal(worker: object, request: dict) -> dict:
    utils = worker.module("utils")
    inputs = {name: torch.from_numpy(request[name]).requires_grad_(name in ("qm", "qv"))
              for name in ("qm", "qv", "pm", "pv")}
    before = {name: tensor.detach().clone() for name, tensor in inputs.items()}
    kl = utils.kl_normal(inputs["qm"], inputs["qv"], inputs["pm"], inputs["pv"])
    result = {"kl": worker.describe(kl)}
    result["inputs_unchanged"] = all(torch.equal(inputs[n].detach(), before[n]) for n in inputs)
    result.update(worker.gradients(kl, {"qm": inputs["qm"], "qv": inputs["qv"]}))
    return result


def build_model(worker: object, z_dim: int, weights: dict) -> tuple[torch.nn.Module, list[str]]:
    """The student's VAE with the grader's weights; also the weight names it lacks."""
    model = worker.module("vae").VAE(z_dim=z_dim)
    state = {name: torch.from_numpy(array) for name, array in weights.items()}
    missing = model.load_state_dict(state, strict=False).missing_keys
    return model, list(missing)


def op_negative_elbo_bound(worker: object, request: dict) -> dict:
    """The bound on a fixed batch with fixed weights, with sample_gaussian made deterministic."""
    utils, vae = worker.module("utils"), worker.module("vae")
    model, missing_weights = build_model(worker, request["z_dim"], request["weights"])
    x = torch.from_numpy(request["x"])
    epsilon = torch.from_numpy(request["epsilon"])  # (batch, z_dim)
    calls: list[list[int]] = []

    def sample_with_fixed_noise(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        calls.append(list(m.shape))
        return m + torch.sqrt(v) * epsilon

    original = utils.sample_gaussian
    patched_names = [name for name, value in vars(vae).items() if value is original]
    utils.sample_gaussian = sample_with_fixed_noise
    for name in patched_names:
        setattr(vae, name, sample_with_fixed_noise)
    try:
        outputs = model.negative_elbo_bound(x)
        # the same call again on the same model: a bound that keeps state between calls shows here
        repeated = [model.negative_elbo_bound(x) for _ in range(int(request.get("repeats", 1)) - 1)]
    finally:
        utils.sample_gaussian = original
        for name in patched_names:
            setattr(vae, name, original)
    result: dict = {"returned": worker.describe(outputs), "sample_gaussian_calls": calls,
                    "missing_weights": missing_weights}
    result["repeated_terms"] = [[worker.describe(term) for term in again] if isinstance(again, tuple | list)
                                else [worker.describe(again)] for again in repeated]
    if isinstance(outputs, tuple | list) and len(outputs) == 3:
        result["terms"] = [worker.describe(term) for term in outputs]
        nelbo = outputs[0]
        if isinstance(nelbo, torch.Tensor) and nelbo.requires_grad and nelbo.numel() == 1:
            torch.Tensor.sum(nelbo).backward()
            result["grads"] = {name: worker.array(p.grad) for name, p in model.named_parameters()
                               if p.grad is not None}
    return result


def op_train(worker: object, request: dict) -> dict:
    """Train with the provided loop, then send the weights and, for information only, what the run reported
    and the student's own bound on the test set. The grader scores nothing of this but the weights, which it
    evaluates and draws from itself."""
    data, train, evaluate = (worker.module(n) for n in ("data", "train", "evaluate"))
    vae = worker.module("vae")
    mnist = data.load_mnist(Path(request["data"]["mnist.npz"]))
    train.seed_everything(request["seed"])  # the seed fixes the initial weights as well
    model = vae.VAE(z_dim=request["z_dim"])
    config = train.TrainConfig(iter_max=request["iterations"], seed=request["seed"], progress=False)
    log = train.train(model, mnist.x_train, config)
    weights = {name: worker.array(tensor) for name, tensor in model.state_dict().items()}
    result: dict = {"weights": weights, "iterations": log.iterations, "seconds": log.seconds,
                    "diverged_at": log.diverged_at, "last": worker.finite_numbers(log.last)}
    try:
        result["own_bound"] = worker.finite_numbers(evaluate.evaluate_bound(model, mnist.x_test_binarized, repeats=1))
    except Exception as error:  # the student's bound on the test set is for information only
        result["own_bound_error"] = f"{type(error).__name__}: {error}"[:500]
    return result
