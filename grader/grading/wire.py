"""The wire format between the trusted grader and the untrusted worker. No pickle anywhere.

A frame is an 8-byte big-endian length followed by that many bytes of UTF-8 JSON. Inside the JSON,
numpy arrays travel as ``{"__array__": {"dtype": ..., "shape": [...], "data": base64}}`` with a dtype
from a short whitelist, and raw bytes (PNG files) as ``{"__bytes__": base64}``. Decoding checks that
the byte count matches the shape, so a frame can only ever become dicts, lists, numbers, strings,
arrays and bytes.

The grader decodes what an untrusted worker sent, so the cost of decoding is bounded before any of it
is spent: a frame is at most MAX_FRAME_BYTES, holds at most MAX_ELEMENTS lists, objects and commas
(counted in the raw bytes before parsing: parsing ``[],`` repeated costs about 140 bytes and 1.3 µs per
element), integers fit in 64 bits, and an array's declared shape is checked against what a frame can
carry before anything is allocated. Both sides apply the same limits when encoding, so an honest worker
learns that its answer is unsendable instead of sending a frame the grader refuses.

This module is copied next to the worker and must import nothing from the grader package.
"""

import base64
import json
import math
import os
import selectors
import struct
import time

import numpy as np

# The largest honest frame is the training answer: 661,404 float32 weights and two PNGs, 3.5 MiB. 32 MiB leaves
# room for a model three times larger even in float64, and bounds the grader's peak while decoding to ~130 MiB.
MAX_FRAME_BYTES = 32 * 2**20
# "[", "{" and "," in a frame: every value but the first of each list or object follows a comma, so this bounds
# the number of values parsed (commas inside strings count too, which only errs on the safe side). An honest
# answer has fewer than 200; 100,000 bounds parsing at about 0.15 s and 15 MiB.
MAX_ELEMENTS = 100_000
STRUCTURAL_CHARACTERS = (b"[", b"{", b",")
INT_RANGE = (-(2**63), 2**64 - 1)  # what int64 or uint64 holds: sizes, seeds, counts; nothing honest is larger
MAX_INT_CHARACTERS = len(str(INT_RANGE[0]))  # refused before converting, whatever the interpreter's own digit limit
MAX_ARRAY_DIMENSIONS = 8
HEADER = struct.Struct(">Q")
ARRAY_DTYPES = {"float32", "float64", "int64", "int32", "uint8", "bool"}
MAX_JSON_DEPTH = 32


class WireError(Exception):
    """A frame that breaks the format: too large, too many elements, not JSON, a bad array, nesting too deep."""


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
        return _to_json_value(value.item(), depth)
    if isinstance(value, int) and not isinstance(value, bool):
        _check_int_range(value)
        return int(value)  # a subclass of int could change how it is written
    if value is None or isinstance(value, bool | float | str):
        return value
    raise WireError(f"cannot send a {type(value).__name__}")


def _check_int_range(value: int) -> None:
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise WireError(f"an integer of {value.bit_length():,} bits does not fit in 64 bits")  # str() may refuse it


def _parse_int(text: str) -> int:
    """json's hook for integer literals: the length is checked before the (superlinear) conversion."""
    if len(text) > MAX_INT_CHARACTERS:
        raise WireError(f"an integer literal of {len(text):,} characters does not fit in 64 bits")
    value = int(text)
    _check_int_range(value)
    return value


def count_elements(body: bytes | bytearray) -> int:
    """The structural characters in a JSON text: a cheap upper bound on the values parsing it would create."""
    return sum(body.count(character) for character in STRUCTURAL_CHARACTERS)


def _declared_values(shape: list[int]) -> int:
    """Values an array of ``shape`` holds, counting empty dimensions as 1 (a (0, 10**12) array is refused too)."""
    return math.prod(max(size, 1) for size in shape)


def _decode_array(spec: object) -> np.ndarray:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise WireError("malformed array")
    dtype, shape, data = spec["dtype"], spec["shape"], spec["data"]
    if dtype not in ARRAY_DTYPES:
        raise WireError(f"array dtype {dtype!r} is not accepted")
    if (not isinstance(shape, list) or len(shape) > MAX_ARRAY_DIMENSIONS
            or not all(type(n) is int and 0 <= n <= MAX_FRAME_BYTES for n in shape)):
        raise WireError("malformed array shape")
    # Exact integer arithmetic (numpy's int64 product wraps around), and before anything is allocated.
    if _declared_values(shape) > MAX_FRAME_BYTES:
        raise WireError(f"array shape {shape} declares more values than a frame can carry")
    if not isinstance(data, str):
        raise WireError("malformed array data")
    expected = math.prod(shape) * np.dtype(dtype).itemsize
    if len(data) != 4 * math.ceil(expected / 3):
        raise WireError(f"array data has {len(data)} base64 characters, its shape {shape} needs {expected} bytes")
    raw = base64.b64decode(data, validate=True)
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
    """The frame for ``message``; a WireError for anything ``decode`` would refuse (too large, too many elements)."""
    body = json.dumps(_to_json_value(message), allow_nan=True).encode("utf-8")
    _check_size(body)
    return HEADER.pack(len(body)) + body


def _check_size(body: bytes | bytearray) -> None:
    if len(body) > MAX_FRAME_BYTES:
        raise WireError(f"frame of {len(body):,} bytes exceeds {MAX_FRAME_BYTES:,}")
    elements = count_elements(body)
    if elements > MAX_ELEMENTS:
        raise WireError(f"frame has {elements:,} list or object elements, more than the {MAX_ELEMENTS:,} accepted")


def decode(body: bytes | bytearray) -> object:
    """The message in a frame's body, or a WireError; size and element count are checked before parsing."""
    _check_size(body)
    try:
        parsed = json.loads(body.decode("utf-8"), parse_int=_parse_int)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise WireError(f"frame is not valid JSON: {error.__class__.__name__}") from None
    try:
        return _from_json_value(parsed)
    except (ValueError, TypeError, RecursionError, OverflowError) as error:  # binascii.Error is a ValueError
        raise WireError(f"malformed frame content: {error}") from None


def write_frame(fd: int, message: object) -> None:
    data = memoryview(encode(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_frame(fd: int, deadline: float | None = None) -> object:
    """Read one frame from ``fd``; ``deadline`` is a ``time.monotonic()`` value (None: wait forever).

    Decoding belongs to the call's time: a frame that arrives in time but whose decoding ends past the
    deadline is a WireTimeout as well (decoding is bounded, so this overshoots by a fraction of a second).
    """
    header = _read_exactly(fd, HEADER.size, deadline)
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise WireError(f"frame announces {length:,} bytes, more than the {MAX_FRAME_BYTES:,} accepted")
    body = _read_exactly(fd, length, deadline)
    _check_deadline(deadline, "the answer was complete only after the deadline")
    message = decode(body)
    _check_deadline(deadline, "decoding the answer ran past the deadline")
    return message


def _check_deadline(deadline: float | None, message: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise WireTimeout(message)


def _read_exactly(fd: int, count: int, deadline: float | None) -> bytearray:
    """``count`` bytes from ``fd``, read into one buffer (no list of chunks joined at the end: one copy at peak)."""
    buffer = bytearray(count)
    view = memoryview(buffer)
    filled = 0
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while filled < count:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                raise WireTimeout("no answer before the deadline")
            if not selector.select(timeout):
                continue
            received = os.readv(fd, [view[filled:]])
            if not received:
                raise WireClosed("channel closed")
            filled += received
    view.release()
    return buffer
