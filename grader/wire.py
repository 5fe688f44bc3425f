"""The wire format between the trusted grader and the untrusted worker. No pickle anywhere.

A frame is an 8-byte big-endian length followed by that many bytes of UTF-8 JSON. Inside the JSON,
numpy arrays travel as ``{"__array__": {"dtype": ..., "shape": [...], "data": base64}}`` with a dtype
from a short whitelist, and raw bytes (PNG files) as ``{"__bytes__": base64}``. Decoding checks that
the byte count matches the shape, so a frame can only ever become dicts, lists, numbers, strings,
arrays and bytes.

This module is copied next to the worker and must import nothing from the grader package.
"""

import base64
import json
import os
import selectors
import struct
import time

import numpy as np

MAX_FRAME_BYTES = 96 * 2**20  # weights and two PNGs need about 4 MiB; anything far larger is hostile
HEADER = struct.Struct(">Q")
ARRAY_DTYPES = {"float32", "float64", "int64", "int32", "uint8", "bool"}
MAX_JSON_DEPTH = 32


class WireError(Exception):
    """A frame that breaks the format: too large, not JSON, a bad array, nesting too deep."""


class WireTimeout(WireError):
    """No complete frame arrived before the deadline."""


class WireClosed(WireError):
    """The other side closed the channel (for the worker: it exited or was killed)."""


def _to_json_value(value: object, depth: int = 0) -> object:
    if depth > MAX_JSON_DEPTH:
        raise WireError("value nested too deeply")
    if isinstance(value, np.ndarray):
        if value.dtype.name not in ARRAY_DTYPES:
            raise WireError(f"array dtype {value.dtype.name} is not sent over the wire")
        contiguous = np.ascontiguousarray(value)
        data = base64.b64encode(contiguous.tobytes()).decode("ascii")
        return {"__array__": {"dtype": value.dtype.name, "shape": list(value.shape), "data": data}}
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(key): _to_json_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json_value(item, depth + 1) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise WireError(f"cannot send a {type(value).__name__}")


def _decode_array(spec: object) -> np.ndarray:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise WireError("malformed array")
    dtype, shape, data = spec["dtype"], spec["shape"], spec["data"]
    if dtype not in ARRAY_DTYPES:
        raise WireError(f"array dtype {dtype!r} is not accepted")
    if not isinstance(shape, list) or not all(isinstance(n, int) and 0 <= n for n in shape) or len(shape) > 8:
        raise WireError("malformed array shape")
    if not isinstance(data, str):
        raise WireError("malformed array data")
    raw = base64.b64decode(data, validate=True)
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if len(raw) != expected:
        raise WireError(f"array data has {len(raw)} bytes, its shape {shape} needs {expected}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _from_json_value(value: object, depth: int = 0) -> object:
    if depth > MAX_JSON_DEPTH:
        raise WireError("value nested too deeply")
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return _decode_array(value["__array__"])
        if set(value) == {"__bytes__"}:
            if not isinstance(value["__bytes__"], str):
                raise WireError("malformed bytes")
            return base64.b64decode(value["__bytes__"], validate=True)
        return {key: _from_json_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_json_value(item, depth + 1) for item in value]
    return value


def encode(message: object) -> bytes:
    body = json.dumps(_to_json_value(message), allow_nan=True).encode("utf-8")
    if len(body) > MAX_FRAME_BYTES:
        raise WireError(f"frame of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> object:
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise WireError(f"frame is not valid JSON: {error.__class__.__name__}") from None
    try:
        return _from_json_value(parsed)
    except (ValueError, TypeError, RecursionError) as error:  # binascii.Error is a ValueError
        raise WireError(f"malformed frame content: {error}") from None


def write_frame(fd: int, message: object) -> None:
    data = memoryview(encode(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_frame(fd: int, deadline: float | None = None) -> object:
    """Read one frame from ``fd``; ``deadline`` is a ``time.monotonic()`` value (None: wait forever)."""
    header = _read_exactly(fd, HEADER.size, deadline)
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise WireError(f"frame announces {length} bytes, more than the {MAX_FRAME_BYTES} accepted")
    return decode(_read_exactly(fd, length, deadline))


def _read_exactly(fd: int, count: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = count
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while remaining:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                raise WireTimeout("no answer before the deadline")
            if not selector.select(timeout):
                continue
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                raise WireClosed("channel closed")
            chunks.append(chunk)
            remaining -= len(chunk)
    return b"".join(chunks)
