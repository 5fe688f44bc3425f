"""The flagship's worker operations: they run in the sandboxed worker, on the student's code.

Each ``op_<name>(worker, request)`` answers one request of the trusted side with plain values (described
tensors, arrays, numbers), in the shape grader/homeworks/vae/trusted.py declares for it. ``worker`` is the
engine's Worker (grader/grading/worker.py): ``worker.module(name)`` imports a homework module,
``worker.describe(value)`` describes what a student's function returned, ``worker.gradients(output,
leaves)`` backpropagates, ``worker.array(tensor)`` and ``worker.finite_numbers(mapping)`` make values
sendable. This file is copied next to the worker and imports nothing from the grader.

Each function is graded on its own: while an operation calls one student function, every other student function
is replaced by the reference's (``isolated``), so a missing or wrong helper costs its own checks only. The
reference cannot be imported here (the sandbox does not hold it), so its two formulas are written out below;
a test (tests/homeworks/vae/test_worker_ops.py) holds them equal to the reference in values and gradients.
They must be functions of the arguments the student passes, not values sent from the trusted side: a bound that
calls kl_normal with its arguments swapped must still get KL(p || q), and the encoder must still get the KL's
gradient.
"""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

STUDENT_MODULES = ("utils", "vae")  # the student's files, imported as modules
HELPERS_MODULE = "utils"  # where the student functions another one calls live


def reference_sample_gaussian(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The reference's reparameterized sample: z = m + sqrt(v) * eps, eps ~ N(0, I) of m's shape."""
    return m + torch.sqrt(v) * torch.randn_like(m)


def reference_kl_normal(qm: torch.Tensor, qv: torch.Tensor, pm: torch.Tensor, pv: torch.Tensor) -> torch.Tensor:
    """The reference's KL(q || p) of diagonal Gaussians, summed over the last dimension: (...)."""
    element_wise = 0.5 * (torch.log(pv) - torch.log(qv) + qv / pv + (qm - pm).pow(2) / pv - 1)
    return element_wise.sum(-1)


SUBSTITUTES: dict[str, Callable[..., torch.Tensor]] = {
    "sample_gaussian": reference_sample_gaussian,
    "kl_normal": reference_kl_normal,
}


@contextmanager
def isolated(worker: object, own: str,
             overrides: dict[str, Callable[..., torch.Tensor]] | None = None) -> Iterator[None]:
    """While the block runs, every student function but ``own`` is the reference's (or ``overrides``'), in the helpers'
    module and wherever a student module imported it by name (``from utils import kl_normal``). A function the
    student deleted or left as the stub is substituted all the same; everything is restored afterwards. Only the
    student modules already imported are touched: importing one here would run its code in another function's
    checks (and fail them with its errors)."""
    helpers = worker.module(HELPERS_MODULE)
    modules = [helpers, *(sys.modules[name] for name in STUDENT_MODULES if name in sys.modules
                          and sys.modules[name] is not helpers)]
    substitutes = {name: function for name, function in {**SUBSTITUTES, **(overrides or {})}.items() if name != own}
    missing = object()
    originals = {name: getattr(helpers, name, missing) for name in substitutes}
    saved: list[tuple[object, str, object]] = []
    for module in modules:
        for attribute, value in list(vars(module).items()):
            if module is helpers:
                name = attribute if attribute in substitutes else None
            else:  # a name bound to a helper (from utils import kl_normal [as kl]); a function of its own stays
                same = [name for name, original in originals.items() if original is value]
                name = same[0] if len(same) == 1 else attribute if attribute in same else None
            if name is not None:
                saved.append((module, attribute, value))
                setattr(module, attribute, substitutes[name])
    for name, original in originals.items():
        if original is missing:
            saved.append((helpers, name, missing))
            setattr(helpers, name, substitutes[name])
    try:
        yield
    finally:
        for module, attribute, value in reversed(saved):
            if value is missing:
                delattr(module, attribute)
            else:
                setattr(module, attribute, value)


def op_sample_gaussian(worker: object, request: dict) -> dict:
    utils = worker.module(HELPERS_MODULE)
    track = bool(request.get("requires_grad", True))
    m = torch.from_numpy(request["m"]).requires_grad_(track)
    v = torch.from_numpy(request["v"]).requires_grad_(track)
    m_before, v_before = m.detach().clone(), v.detach().clone()
    torch.manual_seed(request["seed"])
    with isolated(worker, "sample_gaussian"):
        z = utils.sample_gaussian(m, v)
    result = {"z": worker.describe(z)}
    result["inputs_unchanged"] = bool(torch.equal(m.detach(), m_before) and torch.equal(v.detach(), v_before))
    if track:
        result.update(worker.gradients(z, {"m": m, "v": v}))
    return result


def op_kl_normal(worker: object, request: dict) -> dict:
    utils = worker.module(HELPERS_MODULE)
    inputs = {name: torch.from_numpy(request[name]).requires_grad_(name in ("qm", "qv"))
              for name in ("qm", "qv", "pm", "pv")}
    before = {name: tensor.detach().clone() for name, tensor in inputs.items()}
    with isolated(worker, "kl_normal"):
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
    """The bound on a fixed batch with fixed weights and fixed noise, the helpers being the reference's.

    ut.sample_gaussian is the reference's formula with the request's noise, and torch's generator is seeded with
    ``noise_seed`` before every call, from which the trusted side drew that same noise: a bound that samples inline
    (qm + sqrt(qv) * torch.randn_like(qm)) draws the same z as one that calls the helper.
    """
    model, missing_weights = build_model(worker, request["z_dim"], request["weights"])
    x = torch.from_numpy(request["x"])
    epsilon = torch.from_numpy(request["epsilon"])  # (batch, z_dim)
    calls: list[list[int]] = []

    def sample_with_fixed_noise(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        calls.append(list(m.shape))
        return m + torch.sqrt(v) * epsilon

    def bound() -> object:
        torch.manual_seed(int(request["noise_seed"]))
        return model.negative_elbo_bound(x)

    with isolated(worker, "negative_elbo_bound", {"sample_gaussian": sample_with_fixed_noise}):
        outputs = bound()
        # the same call again on the same model: a bound that keeps state between calls shows here
        repeated = [bound() for _ in range(int(request.get("repeats", 1)) - 1)]
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
