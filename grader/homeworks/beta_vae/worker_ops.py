"""beta-vae's worker operations: they run in the sandboxed worker, on the student's own model.

The student's file defines ``BetaVAE`` with any architecture; these operations reach it only through its interface
(``BetaVAE()``, ``encode``, ``decode``, ``loss``, ``state_dict``) and answer plain values in the shapes
grader/homeworks/beta_vae/trusted.py declares. ``worker`` is the engine's Worker (grader/grading/worker.py). This
file is copied next to the worker and imports nothing from the grader.

``loss`` is called with ``utils.sample_gaussian`` replaced by the same formula on noise drawn from ``noise_seed``
(the trusted side draws that noise again), and with ``encode`` and ``decode`` recorded, so the trusted side can
recompute every term from what the student's own networks returned. A trained model is rebuilt and loaded by
``load_model`` in a process of its own for each role (encoder, decoder): see trusted.py.
"""

from pathlib import Path

import numpy as np
import torch

STUDENT_MODULE = "beta_vae"
HELPERS_MODULE = "utils"
MODEL_CLASS = "BetaVAE"
CHUNK = 1_000  # images or latents per forward pass of a trained model


def build(worker: object, seed: int) -> torch.nn.Module:
    """The student's model as ``BetaVAE()`` builds it after ``torch.manual_seed(seed)``."""
    module = worker.module(STUDENT_MODULE)
    torch.manual_seed(seed)
    model = getattr(module, MODEL_CLASS)()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{MODEL_CLASS}() built a {type(model).__name__}, not a torch.nn.Module")
    return model


def describe_parts(worker: object, value: object) -> dict:
    """A returned value described, and each of its parts when it is a short tuple or list."""
    answer: dict = {"returned": worker.describe(value)}
    if isinstance(value, tuple | list) and len(value) <= 4:
        answer["parts"] = [worker.describe(part) for part in value]
    return answer


def state_sizes(model: torch.nn.Module) -> dict:
    return {name: int(tensor.numel()) for name, tensor in model.state_dict().items()}


def op_inspect(worker: object, request: dict) -> dict:
    """The freshly built model: its state's sizes, then encode and decode twice each in eval mode."""
    model = build(worker, int(request["seed"]))
    result: dict = {"state_sizes": state_sizes(model), "z_dim": None}
    x = torch.from_numpy(request["x"])  # (batch, 784)
    model.eval()
    with torch.no_grad():
        encoded = model.encode(x)
        result["encoded"] = describe_parts(worker, encoded)
        result["encoded_again"] = describe_parts(worker, model.encode(x))
        mean = encoded[0] if isinstance(encoded, tuple | list) and len(encoded) == 2 else None
        if isinstance(mean, torch.Tensor) and mean.dim() == 2 and 0 < mean.shape[1] <= request["z_probe"].shape[1]:
            result["z_dim"] = int(mean.shape[1])
            z = torch.from_numpy(request["z_probe"][:, : mean.shape[1]].copy())  # (batch, z_dim)
            result["decoded"] = describe_parts(worker, model.decode(z))
            result["decoded_again"] = describe_parts(worker, model.decode(z))
    return result


class Recorder:
    """Records the model's encode and decode calls and the samples drawn, while ``loss`` runs."""

    def __init__(self, model: torch.nn.Module, noise_seed: int) -> None:
        self.model = model
        self.noise_seed = noise_seed
        self.encoded: list[object] = []
        self.decoded: list[tuple[torch.Tensor, object]] = []
        self.sampled: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def encode(self, x: torch.Tensor) -> object:
        output = type(self.model).encode(self.model, x)
        self.encoded.append(output)
        return output

    def decode(self, z: torch.Tensor) -> object:
        output = type(self.model).decode(self.model, z)
        self.decoded.append((z, output))
        return output

    def sample_gaussian(self, m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The provided formula on the known noise: z = m + sqrt(v) * eps, eps from ``noise_seed``."""
        generator = torch.Generator().manual_seed(self.noise_seed)
        epsilon = torch.randn(m.shape, generator=generator, dtype=m.dtype)  # (batch, z_dim)
        z = m + torch.sqrt(v) * epsilon
        self.sampled.append((m, v, z))
        return z


def patch_sampler(worker: object, replacement: object) -> list[tuple[object, str, object]]:
    """``utils.sample_gaussian``, and any name the student's module bound to it, replaced; the originals returned."""
    helpers = worker.module(HELPERS_MODULE)
    student = worker.module(STUDENT_MODULE)
    original = helpers.sample_gaussian
    saved = [(helpers, "sample_gaussian", original)]
    for name, value in list(vars(student).items()):
        if value is original:
            saved.append((student, name, value))
    for module, name, _ in saved:
        setattr(module, name, replacement)
    return saved


def one_loss_call(worker: object, model: torch.nn.Module, x: torch.Tensor, beta: float, noise_seed: int,
                  with_gradients: bool) -> dict:
    recorder = Recorder(model, noise_seed)
    model.encode, model.decode = recorder.encode, recorder.decode  # instance attributes: self.encode is recorded
    saved = patch_sampler(worker, recorder.sample_gaussian)
    try:
        torch.manual_seed(noise_seed)
        returned = model.loss(x, beta)
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
        del model.encode, model.decode
    result = {"beta": beta, **describe_parts(worker, returned), "encode_calls": len(recorder.encoded),
              "decode_calls": len(recorder.decoded), "sample_calls": len(recorder.sampled)}
    if recorder.encoded:
        result["encoded"] = describe_parts(worker, recorder.encoded[0])
    if recorder.decoded:
        z, logits = recorder.decoded[0]
        result["decoded_z"] = worker.describe(z)
        result["decoded"] = describe_parts(worker, logits)
    if recorder.sampled:
        m, v, z = recorder.sampled[0]
        result["sampled_m"], result["sampled_v"] = worker.describe(m), worker.describe(v)
    if with_gradients:
        result.update(gradients(worker, model, x, returned, recorder))
    return result


def gradients(worker: object, model: torch.nn.Module, x: torch.Tensor, returned: object,
              recorder: Recorder) -> dict:
    """Which parameters the loss's gradient reaches, sorted into the encoder's and the decoder's (by which of
    encode and decode uses them), and its gradient with respect to the encoder's mean."""
    if not (isinstance(returned, tuple | list) and returned and isinstance(returned[0], torch.Tensor)
            and returned[0].requires_grad and returned[0].numel() == 1):
        return {"grad_error": "the total is not a scalar tensor that requires grad: it is detached from the model"}
    encoded = recorder.encoded[0] if recorder.encoded else None
    is_pair = isinstance(encoded, tuple | list) and len(encoded) == 2 and isinstance(encoded[0], torch.Tensor)
    mean = encoded[0] if is_pair else None
    if mean is not None and mean.requires_grad:
        mean.retain_grad()
    model.zero_grad(set_to_none=True)
    torch.Tensor.sum(returned[0]).backward()
    reached = {name for name, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)}
    result: dict = {"grad_mean": None if mean is None or mean.grad is None else worker.array(mean.grad)}
    result["encoder_parameters"], result["decoder_parameters"] = used_parameters(model, x, recorder)
    result["reached_parameters"] = sorted(reached)
    return result


def used_parameters(model: torch.nn.Module, x: torch.Tensor, recorder: Recorder) -> tuple[list[str], list[str]]:
    """The parameters encode's outputs depend on, and decode's (a backward pass through each alone)."""
    found = []
    for run in (lambda: model.encode(x), lambda: model.decode(recorder.decoded[0][0].detach())):
        model.zero_grad(set_to_none=True)
        try:
            output = run()
            parts = output if isinstance(output, tuple | list) else (output,)
            total = sum(torch.Tensor.sum(part) for part in parts
                        if isinstance(part, torch.Tensor) and part.requires_grad)
            if isinstance(total, torch.Tensor):
                total.backward()
        except (IndexError, RuntimeError, TypeError):
            pass
        found.append(sorted(name for name, p in model.named_parameters()
                            if p.grad is not None and bool(p.grad.abs().sum() > 0)))
    model.zero_grad(set_to_none=True)
    return found[0], found[1]


def op_loss(worker: object, request: dict) -> dict:
    """``loss(x, beta)`` for each beta on the same freshly built model (train mode), each call with the same noise;
    the first call's gradients as well."""
    model = build(worker, int(request["seed"]))
    model.train()
    x = torch.from_numpy(request["x"])  # (batch, 784)
    noise_seed = int(request["noise_seed"])
    calls = [one_loss_call(worker, model, x, float(beta), noise_seed, with_gradients=index == 0)
             for index, beta in enumerate(request["betas"])]
    return {"calls": calls}


def op_step_time(worker: object, request: dict) -> dict:
    """``steps`` training iterations (Adam, as the provided loop) on one batch; the trusted side times the call."""
    model = build(worker, int(request["seed"]))
    model.train()
    x = torch.from_numpy(request["x"])  # (batch, 784)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    for _ in range(int(request["steps"])):
        optimizer.zero_grad(set_to_none=True)
        total = model.loss(x, 1.0)[0]
        total.backward()
        optimizer.step()
    return {"steps": int(request["steps"])}


def op_train(worker: object, request: dict) -> dict:
    """Train with the provided loop and the request's beta, then send the state_dict. What the run reports is
    shown for information only: the grader evaluates the returned state itself, through encode and decode."""
    train = worker.module("train")
    with np.load(Path(request["data"]["mnist.npz"]), allow_pickle=False) as arrays:  # the training set alone
        x_train = torch.from_numpy(arrays["x_train"])  # (60000, 784) uint8
    train.seed_everything(request["seed"])  # the seed fixes the initial weights as well
    model = build(worker, int(request["seed"]))
    config = train.TrainConfig(iter_max=request["iterations"], seed=request["seed"], progress=False,
                               beta=float(request["beta"]))
    log = train.train(model, x_train, config)
    state = {name: worker.array(tensor) for name, tensor in model.state_dict().items()}
    return {"state": state, "iterations": log.iterations, "seconds": log.seconds, "diverged_at": log.diverged_at,
            "last": worker.finite_numbers(log.last)}


# -- a trained model, in the process of one role ------------------------------------------------------------


def op_load_model(worker: object, request: dict) -> dict:
    """Build ``BetaVAE()`` and load the trained state (every entry, nothing else), in eval mode."""
    model = build(worker, int(request["seed"]))
    state = {name: torch.from_numpy(array) for name, array in request["state"].items()}
    model.load_state_dict(state, strict=True)
    worker.trained_model = model.eval()
    return {"loaded": len(state)}


def trained(worker: object) -> torch.nn.Module:
    model = getattr(worker, "trained_model", None)
    if model is None:
        raise RuntimeError("no trained model was loaded in this process")
    return model


def op_encode(worker: object, request: dict) -> dict:
    """encode on the request's binary images (uint8, to keep the request small), chunk by chunk, without gradients:
    (m, v) of (n, z_dim) each."""
    model, x = trained(worker), torch.from_numpy(request["x"]).float()  # (n, 784)
    means, variances = [], []
    with torch.no_grad():
        for start in range(0, x.shape[0], CHUNK):
            encoded = model.encode(x[start : start + CHUNK])
            if not (isinstance(encoded, tuple | list) and len(encoded) == 2
                    and all(isinstance(part, torch.Tensor) for part in encoded)):
                raise TypeError(f"encode returned {type(encoded).__name__}, not a pair of tensors (m, v)")
            means.append(torch.Tensor.float(encoded[0]))
            variances.append(torch.Tensor.float(encoded[1]))
    return {"m": worker.array(torch.cat(means)), "v": worker.array(torch.cat(variances))}


def op_decode(worker: object, request: dict) -> dict:
    """decode on the request's latents, chunk by chunk, without gradients: logits (n, 784)."""
    model, z = trained(worker), torch.from_numpy(request["z"])  # (n, z_dim)
    chunks = []
    with torch.no_grad():
        for start in range(0, z.shape[0], CHUNK):
            logits = model.decode(z[start : start + CHUNK])
            if not isinstance(logits, torch.Tensor):
                raise TypeError(f"decode returned {type(logits).__name__}, not a tensor of logits")
            chunks.append(torch.Tensor.float(logits))
    return {"logits": worker.array(torch.cat(chunks))}
