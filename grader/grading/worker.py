"""The untrusted side of the grader: imports a submission and answers computation requests.

Run by the grader as ``python worker.py HOMEWORK_DIR REQUEST_FD RESPONSE_FD`` inside the sandbox, with
``wire.py`` and the homework's operations (``ops_0.py``, ...) next to it. It reads request frames, calls the student's
code through the homework's operations, and writes one response frame per request. It decides nothing:
every answer is validated and checked by the trusted side, which treats it as untrusted input. This file
is copied into the workspace and must import nothing from the grader package; it knows no homework.

Every response is ``{"ok": True, "result": ...}`` or ``{"ok": False, "kind": KIND, "error": ...,
"traceback": ...}`` with KIND one of ``not_implemented`` (the stub's NotImplementedError),
``exit`` (the code called sys.exit or raised KeyboardInterrupt) or ``error`` (any other exception).
"""

import importlib
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

import wire

THREADS_VARIABLE = "GRADER_WORKER_THREADS"
OPERATIONS_PREFIX = "ops_"  # the homework's operations, copied next to this file as ops_0.py, ops_1.py, ...
SENT_DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64", torch.uint8: "uint8",
               torch.bool: "bool"}
TRACEBACK_LINES = 30


class Worker:
    """Answers requests: ``import`` here, every other operation from the homework's operations modules (its own
    first, then its bases'), called as ``op_<name>(worker, request)`` with this object as its toolbox (module,
    describe, gradients)."""

    def __init__(self, homework: Path, operations: list[ModuleType]) -> None:
        self.homework = homework.resolve()
        self.operations = operations
        self.student_paths: set[str] = set()  # named by the import request: tracebacks show these files only
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
        """Warm up: import the modules the homework names. Failures are reported, not raised: each later
        operation imports what it needs again and fails with that module's own error."""
        files = request.get("student_files", [])
        self.student_paths = {str(self.homework / str(name)) for name in files if isinstance(name, str)}
        problems = {}
        for name in request.get("modules", []):
            try:
                self.module(str(name))
            except BaseException as error:  # a module that fails to import is retried by each operation
                problems[str(name)] = self.failure(error)
        return {"problems": problems}

    def shared(self, name: str) -> object:
        """A function of the operations modules by name, nearest homework first: an extension's operations reuse
        their base's helpers this way (the grader package is not importable here)."""
        for module in self.operations:
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"no operations module defines {name!r}")

    @staticmethod
    def array(tensor: torch.Tensor) -> np.ndarray:
        return tensor_to_array(tensor)

    @staticmethod
    def finite_numbers(values: dict) -> dict:
        return finite_numbers(values)

    @staticmethod
    def gradients(output: object, leaves: dict[str, torch.Tensor]) -> dict:
        """d(sum of output)/d(leaf) for each leaf, or why there is none."""
        if not isinstance(output, torch.Tensor) or not output.requires_grad:
            return {"grad_error": "the output does not require grad: it is detached from the inputs"}
        torch.Tensor.sum(output).backward()
        return {f"grad_{name}": None if leaf.grad is None else tensor_to_array(leaf.grad)
                for name, leaf in leaves.items()}

    def handle(self, request: object) -> dict:
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "kind": "protocol", "error": "malformed request"}
        name = request["op"]
        operation = self.op_import if name == "import" else next(
            (found for module in self.operations if (found := getattr(module, f"op_{name}", None)) is not None), None)
        if operation is None:
            return {"ok": False, "kind": "protocol", "error": f"unknown operation {request['op']!r}"}
        try:
            result = operation(request) if name == "import" else operation(self, request)
            return {"ok": True, "result": result}
        except BaseException as error:  # everything the student's code raises is reported
            return self.failure(error)


def finite_numbers(values: dict) -> dict:
    """Float values, a non-finite one (a diverged run) as None: the answer's declared shape wants finite numbers."""
    numbers = {str(key): float(value) for key, value in values.items()}
    return {key: value if np.isfinite(value) else None for key, value in numbers.items()}


def tensor_to_array(tensor: torch.Tensor) -> np.ndarray:
    plain = torch.Tensor.detach(tensor).as_subclass(torch.Tensor).cpu().contiguous()
    if plain.dtype not in SENT_DTYPES:
        plain = plain.to(torch.float64)
    return plain.numpy().copy()


def main(argv: list[str]) -> int:
    homework, request_fd, response_fd = Path(argv[0]), int(argv[1]), int(argv[2])
    here = Path(__file__).resolve().parent  # the operations beside this file, imported before the homework's folder
    names = sorted((path.stem for path in here.glob(f"{OPERATIONS_PREFIX}*.py")), key=lambda stem: int(stem[4:]))
    operations = [importlib.import_module(name) for name in names]
    sys.path.insert(0, str(homework))
    torch.set_num_threads(int(os.environ.get(THREADS_VARIABLE, "1")))
    worker = Worker(homework, operations)
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
