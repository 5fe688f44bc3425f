"""cvae's worker operations: they run in the sandboxed worker, on the student's cvae.py.

Each ``op_<name>(worker, request)`` answers one request of the trusted side with plain values, in the shape
grader/homeworks/cvae/trusted.py declares. The helpers the student's functions call (utils.sample_gaussian,
utils.kl_normal, the networks) are provided modules, not student files. Before every call of the bound, torch's
generator is seeded with the request's ``noise_seed``: the noise of ut.sample_gaussian, or of torch.randn_like(qm)
written inline, is then the noise the trusted side drew from that seed. This file is copied next to the worker and
imports nothing from the grader.
"""

from pathlib import Path

import torch

STUDENT_MODULE = "cvae"


def build_model(worker: object, z_dim: int, weights: dict) -> tuple[torch.nn.Module, list[str]]:
    """The student's CVAE with the grader's weights; also the weight names it lacks."""
    model = worker.module(STUDENT_MODULE).CVAE(z_dim=z_dim)
    state = {name: torch.from_numpy(array) for name, array in weights.items()}
    missing = model.load_state_dict(state, strict=False).missing_keys
    return model, list(missing)


def describe_terms(worker: object, outputs: object) -> list[dict]:
    if isinstance(outputs, tuple | list):
        return [worker.describe(term) for term in outputs]
    return [worker.describe(outputs)]


def op_negative_elbo_bound(worker: object, request: dict) -> dict:
    """The bound on the grader's weights, batch, labels and noise; called once per entry of ``labels_per_call`` on
    the same model (the first call's terms and gradients; the later calls' terms: other labels, or the same again)."""
    model, missing_weights = build_model(worker, request["z_dim"], request["weights"])
    x = torch.from_numpy(request["x"])  # (batch, 784)
    outputs = []
    for labels in request["labels_per_call"]:
        torch.manual_seed(int(request["noise_seed"]))
        outputs.append(model.negative_elbo_bound(x, torch.from_numpy(labels)))
    first = outputs[0]
    result: dict = {"returned": worker.describe(first), "missing_weights": missing_weights,
                    "repeated_terms": [describe_terms(worker, again) for again in outputs[1:]]}
    if isinstance(first, tuple | list) and len(first) == 3:
        result["terms"] = [worker.describe(term) for term in first]
        nelbo = first[0]
        if isinstance(nelbo, torch.Tensor) and nelbo.requires_grad and nelbo.numel() == 1:
            torch.Tensor.sum(nelbo).backward()
            result["grads"] = {name: worker.array(p.grad) for name, p in model.named_parameters()
                               if p.grad is not None}
    return result


def op_sample_x(worker: object, request: dict) -> dict:
    """The student's sample_x on the grader's weights and labels, with torch's generator seeded by the request."""
    model, missing_weights = build_model(worker, request["z_dim"], request["weights"])
    labels = torch.from_numpy(request["labels"])  # (n,) int64
    before = labels.clone()
    torch.manual_seed(int(request["seed"]))
    with torch.no_grad():
        x = model.sample_x(labels)
    return {"returned": worker.describe(x), "missing_weights": missing_weights,
            "labels_unchanged": bool(torch.equal(labels, before))}


def op_train(worker: object, request: dict) -> dict:
    """Train with the provided loop on the labelled training set, then send the weights and, for information only,
    what the run reported and the student's own bound on the test set. The grader scores nothing of this but the
    weights, which it evaluates and draws from itself."""
    data, train, evaluate = (worker.module(n) for n in ("data", "train", "evaluate"))
    mnist = data.load_mnist(Path(request["data"]["mnist.npz"]))
    train.seed_everything(request["seed"])  # the seed fixes the initial weights as well
    model = worker.module(STUDENT_MODULE).CVAE(z_dim=request["z_dim"])
    config = train.TrainConfig(iter_max=request["iterations"], seed=request["seed"], progress=False)
    log = train.train(model, mnist.x_train, config, y_train=mnist.y_train)
    weights = {name: worker.array(tensor) for name, tensor in model.state_dict().items()}
    result: dict = {"weights": weights, "iterations": log.iterations, "seconds": log.seconds,
                    "diverged_at": log.diverged_at, "last": worker.finite_numbers(log.last)}
    try:
        own = evaluate.evaluate_bound(model, mnist.x_test_binarized, repeats=1, y_test=mnist.y_test)
        result["own_bound"] = worker.finite_numbers(own)
    except Exception as error:  # the student's bound on the test set is for information only
        result["own_bound_error"] = f"{type(error).__name__}: {error}"[:500]
    return result
