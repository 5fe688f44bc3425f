"""Validate what the worker described before comparing values: type, shape, dtype, finiteness."""

import numpy as np

from grader.engine.feedback import preview, worst_difference, wrong

PLAIN_TENSOR = "torch.Tensor"


def tensor_values(description: object, what: str, shape: tuple[int, ...] | None, dtype: str | None,
                  shape_hint: str = "") -> np.ndarray:
    """The values of a returned tensor, after checking it is a plain tensor of the expected shape and dtype."""
    if not isinstance(description, dict) or not description.get("is_tensor"):
        got_type = description.get("type", "?") if isinstance(description, dict) else "?"
        raise wrong(f"{what} did not return a tensor.", "a torch.Tensor", f"a value of type {got_type}",
                    "return a tensor computed with torch operations (not a Python number from .item() or float(), a "
                    "numpy array or a tuple).")
    if description.get("type") != PLAIN_TENSOR:
        raise wrong(f"{what} returned a tensor subclass.", "exactly torch.Tensor", str(description.get("type")),
                    "return the result of torch operations, not an instance of your own Tensor subclass.")
    got_shape = tuple(description.get("shape", ()))
    if shape is not None and got_shape != shape:
        raise wrong(f"{what} returned a tensor of the wrong shape.", f"shape {shape}", f"shape {got_shape}",
                    shape_hint or "a sum or mean over the wrong dimension, or an unintended broadcast.")
    if dtype is not None and description.get("dtype") != dtype:
        raise wrong(f"{what} returned the wrong dtype.", dtype, str(description.get("dtype")),
                    "a tensor created with a fixed dtype; create new tensors like the inputs (e.g. torch.randn_like).")
    values = description.get("value")
    if not isinstance(values, np.ndarray) or tuple(values.shape) != got_shape:
        raise wrong(f"{what}: the returned values could not be read.", "a tensor", repr(values)[:100])
    return values


def require_finite(values: np.ndarray, what: str, mistake: str) -> None:
    if not np.all(np.isfinite(values)):
        raise wrong(f"{what} contains NaN or infinity.", "finite values", preview(values), mistake)


def require_close(got: np.ndarray, expected: np.ndarray, what: str, mistake: str,
                  rtol: float = 1e-4, atol: float = 1e-4) -> None:
    if not np.allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol):
        raise wrong(f"{what} does not match the reference.", preview(expected), preview(got),
                    f"{mistake} ({worst_difference(got, expected)})")
