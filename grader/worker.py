"""The untrusted side of the grader: imports a submission and answers computation requests.

Run by the grader as ``python worker.py HOMEWORK_DIR REQUEST_FD RESPONSE_FD`` inside the sandbox,
with ``wire.py`` next to it. It reads request frames, calls the student's code, and writes one
response frame per request. It decides nothing: every number it sends back is checked by the trusted
side, which treats it as untrusted input. This file is copied into the workspace and must import
nothing from the grader package.

Every response is ``{"ok": True, "result": ...}`` or ``{"ok": False, "kind": KIND, "error": ...,
"traceback": ...}`` with KIND one of ``not_implemented`` (the stub's NotImplementedError),
``exit`` (the code called sys.exit or raised KeyboardInterrupt) or ``error`` (any other exception).
"""

import os
import sys
import traceback
from pathlib import Path

import numpy as np
import torch

import wire

STUDENT_FILES = ("utils.py", "vae.py")
THREADS_VARIABLE = "VAE_GRADER_THREADS"
SENT_DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64", torch.uint8: "uint8",
               torch.bool: "bool"}
TRACEBACK_LINES = 30


class Worker:
    def __init__(self, homework: Path) -> None:
        self.homework = homework.resolve()
        self.student_paths = {str(self.homework / name) for name in STUDENT_FILES}
        self.modules: dict[str, object] = {}

    # -- reporting ---------------------------------------------------------------------------------

    def student_traceback(self, error: BaseException) -> str:
        """The traceback frames in the student's own files, then the exception line."""
        frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename in self.student_paths]
        lines = [f'  File "{Path(f.filename).name}", line {f.lineno}, in {f.name}\n    {f.line or ""}' for f in frames]
        if isinstance(error, SyntaxError) and error.filename in self.student_paths:
            text = (error.text or "").rstrip()
            lines.append(f'  File "{Path(error.filename).name}", line {error.lineno}\n    {text}')
        lines.append("".join(traceback.format_exception_only(type(error), error)).strip())
        return "\n".join(lines[-TRACEBACK_LINES:])

    def failure(self, error: BaseException) -> dict:
        if isinstance(error, NotImplementedError):
            kind = "not_implemented"
        elif isinstance(error, SystemExit | KeyboardInterrupt):
            kind = "exit"
        else:
            kind = "error"
        message = f"{type(error).__name__}: {error}"[:2000]
        return {"ok": False, "kind": kind, "error": message, "traceback": self.student_traceback(error)}

    # -- helpers -----------------------------------------------------------------------------------

    def module(self, name: str) -> object:
        if name not in self.modules:
            self.modules[name] = __import__(name)
        return self.modules[name]

    @staticmethod
    def describe(value: object) -> dict:
        """What came back from the student's code: its type and, for a tensor, its values."""
        kind = type(value)
        description: dict = {"type": f"{kind.__module__}.{kind.__qualname__}", "is_tensor": False}
        if isinstance(value, torch.Tensor):
            plain = torch.Tensor.detach(value).as_subclass(torch.Tensor)
            description.update(
                is_tensor=True,
                dtype=str(plain.dtype),
                shape=list(plain.shape),
                requires_grad=bool(value.requires_grad),
                value=tensor_to_array(plain),
            )
        elif isinstance(value, tuple | list):
            description["length"] = len(value)
        return description

    # -- operations --------------------------------------------------------------------------------

    def op_import(self, request: dict) -> dict:
        """Warm up: import the student's modules. Failures are reported, not raised: each later
        operation imports what it needs again and fails with that module's own error."""
        problems = {}
        for name in ("utils", "vae"):
            try:
                self.module(name)
            except BaseException as error:  # a module that fails to import is retried by each operation
                problems[name] = self.failure(error)
        return {"problems": problems}

    def op_sample_gaussian(self, request: dict) -> dict:
        utils = self.module("utils")
        track = bool(request.get("requires_grad", True))
        m = torch.from_numpy(request["m"]).requires_grad_(track)
        v = torch.from_numpy(request["v"]).requires_grad_(track)
        m_before, v_before = m.detach().clone(), v.detach().clone()
        torch.manual_seed(request["seed"])
        z = utils.sample_gaussian(m, v)
        result = {"z": self.describe(z)}
        result["inputs_unchanged"] = bool(torch.equal(m.detach(), m_before) and torch.equal(v.detach(), v_before))
        if track:
            result.update(self.gradients(z, {"m": m, "v": v}))
        return result

    def op_kl_normal(self, request: dict) -> dict:
        utils = self.module("utils")
        inputs = {name: torch.from_numpy(request[name]).requires_grad_(name in ("qm", "qv"))
                  for name in ("qm", "qv", "pm", "pv")}
        before = {name: tensor.detach().clone() for name, tensor in inputs.items()}
        kl = utils.kl_normal(inputs["qm"], inputs["qv"], inputs["pm"], inputs["pv"])
        result = {"kl": self.describe(kl)}
        result["inputs_unchanged"] = all(torch.equal(inputs[n].detach(), before[n]) for n in inputs)
        result.update(self.gradients(kl, {"qm": inputs["qm"], "qv": inputs["qv"]}))
        return result

    @staticmethod
    def gradients(output: object, leaves: dict[str, torch.Tensor]) -> dict:
        """d(sum of output)/d(leaf) for each leaf, or why there is none."""
        if not isinstance(output, torch.Tensor) or not output.requires_grad:
            return {"grad_error": "the output does not require grad: it is detached from the inputs"}
        torch.Tensor.sum(output).backward()
        return {f"grad_{name}": None if leaf.grad is None else tensor_to_array(leaf.grad)
                for name, leaf in leaves.items()}

    def build_model(self, z_dim: int, weights: dict) -> tuple[torch.nn.Module, list[str]]:
        """The student's VAE with the grader's weights; also the weight names it lacks."""
        model = self.module("vae").VAE(z_dim=z_dim)
        state = {name: torch.from_numpy(array) for name, array in weights.items()}
        missing = model.load_state_dict(state, strict=False).missing_keys
        return model, list(missing)

    def op_negative_elbo_bound(self, request: dict) -> dict:
        """The bound on a fixed batch with fixed weights, with sample_gaussian made deterministic."""
        utils, vae = self.module("utils"), self.module("vae")
        model, missing_weights = self.build_model(request["z_dim"], request["weights"])
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
        result: dict = {"returned": self.describe(outputs), "sample_gaussian_calls": calls,
                        "missing_weights": missing_weights}
        result["repeated_terms"] = [[self.describe(term) for term in again] if isinstance(again, tuple | list)
                                    else [self.describe(again)] for again in repeated]
        if isinstance(outputs, tuple | list) and len(outputs) == 3:
            result["terms"] = [self.describe(term) for term in outputs]
            nelbo = outputs[0]
            if isinstance(nelbo, torch.Tensor) and nelbo.requires_grad and nelbo.numel() == 1:
                torch.Tensor.sum(nelbo).backward()
                result["grads"] = {name: tensor_to_array(p.grad) for name, p in model.named_parameters()
                                   if p.grad is not None}
        return result

    def op_train(self, request: dict) -> dict:
        """Train with the provided loop, then send the weights and, for information only, what the run reported
        and the student's own bound on the test set. The grader scores nothing of this but the weights, which
        it evaluates and draws from itself."""
        data, train, evaluate = (self.module(n) for n in ("data", "train", "evaluate"))
        vae = self.module("vae")
        mnist = data.load_mnist(Path(request["data"]))
        train.seed_everything(request["seed"])  # the seed fixes the initial weights as well
        model = vae.VAE(z_dim=request["z_dim"])
        config = train.TrainConfig(iter_max=request["iterations"], seed=request["seed"], progress=False)
        log = train.train(model, mnist.x_train, config)
        weights = {name: tensor_to_array(tensor) for name, tensor in model.state_dict().items()}
        result: dict = {"weights": weights, "iterations": log.iterations, "seconds": log.seconds,
                        "diverged_at": log.diverged_at, "last": finite_numbers(log.last)}
        try:
            result["own_bound"] = finite_numbers(evaluate.evaluate_bound(model, mnist.x_test_binarized, repeats=1))
        except Exception as error:  # the student's bound on the test set is for information only
            result["own_bound_error"] = f"{type(error).__name__}: {error}"[:500]
        return result

    def handle(self, request: object) -> dict:
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "kind": "protocol", "error": "malformed request"}
        operation = getattr(self, f"op_{request['op']}", None)
        if operation is None:
            return {"ok": False, "kind": "protocol", "error": f"unknown operation {request['op']!r}"}
        try:
            return {"ok": True, "result": operation(request)}
        except BaseException as error:  # everything the student's code raises is reported
            return self.failure(error)


def finite_numbers(values: dict) -> dict:
    """Float values, a non-finite one (a diverged loss) as None: the answer's declared shape wants finite numbers."""
    numbers = {str(key): float(value) for key, value in values.items()}
    return {key: value if np.isfinite(value) else None for key, value in numbers.items()}


def tensor_to_array(tensor: torch.Tensor) -> np.ndarray:
    plain = torch.Tensor.detach(tensor).as_subclass(torch.Tensor).cpu().contiguous()
    if plain.dtype not in SENT_DTYPES:
        plain = plain.to(torch.float64)
    return plain.numpy().copy()


def main(argv: list[str]) -> int:
    homework, request_fd, response_fd = Path(argv[0]), int(argv[1]), int(argv[2])
    sys.path.insert(0, str(homework))
    torch.set_num_threads(int(os.environ.get(THREADS_VARIABLE, "1")))
    worker = Worker(homework)
    while True:
        try:
            request = wire.read_frame(request_fd)
        except wire.WireClosed:
            return 0
        response = worker.handle(request)
        try:
            wire.write_frame(response_fd, response)
        except wire.WireError as error:
            wire.write_frame(response_fd, {"ok": False, "kind": "error", "error": f"unsendable result: {error}"})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
