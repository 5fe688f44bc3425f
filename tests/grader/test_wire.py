import json
import os
import time

import numpy as np
import pytest

from grader import wire


def roundtrip(message: object) -> object:
    return wire.decode(wire.encode(message)[wire.HEADER.size:])


def test_arrays_bytes_and_plain_values_survive_a_roundtrip():
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    message = {"a": array, "png": b"\x89PNG...", "n": 3, "x": 1.5, "s": "hi", "l": [1, None, True]}
    decoded = roundtrip(message)
    assert decoded["a"].dtype == np.float32 and decoded["a"].shape == (3, 4)
    np.testing.assert_array_equal(decoded["a"], array)
    assert decoded["png"] == b"\x89PNG..."
    assert {k: decoded[k] for k in ("n", "x", "s", "l")} == {"n": 3, "x": 1.5, "s": "hi", "l": [1, None, True]}


@pytest.mark.parametrize("dtype", ["object", "complex64", "float16"])
def test_only_whitelisted_dtypes_are_sent(dtype):
    with pytest.raises(wire.WireError, match="not sent"):
        wire.encode({"a": np.zeros(2, dtype=dtype)})


def forged(spec: dict) -> bytes:
    return json.dumps({"a": {"__array__": spec}}).encode()


@pytest.mark.parametrize("spec, message", [
    ({"dtype": "object", "shape": [1], "data": ""}, "not accepted"),
    ({"dtype": "float32", "shape": [4], "data": "AAAA"}, "needs 16"),
    ({"dtype": "float32", "shape": [-1], "data": ""}, "shape"),
    ({"dtype": "float32", "shape": [1], "data": "!!notbase64"}, "malformed"),
    ({"dtype": "float32", "shape": [1]}, "malformed array"),
])
def test_forged_arrays_are_refused(spec, message):
    with pytest.raises(wire.WireError, match=message):
        wire.decode(forged(spec))


def test_garbage_and_deep_nesting_are_refused():
    with pytest.raises(wire.WireError, match="not valid JSON"):
        wire.decode(b"\xff\xfe not json")
    with pytest.raises(wire.WireError):
        wire.decode(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.decode(json.dumps(json.loads("[" * 40 + "]" * 40)).encode())


def test_frames_over_a_pipe_with_deadline_size_cap_and_close():
    read_fd, write_fd = os.pipe()
    try:
        wire.write_frame(write_fd, {"ok": True, "a": np.ones(3, np.int64)})
        assert wire.read_frame(read_fd, time.monotonic() + 5)["ok"] is True
        with pytest.raises(wire.WireTimeout):
            wire.read_frame(read_fd, time.monotonic() + 0.2)
        os.write(write_fd, wire.HEADER.pack(wire.MAX_FRAME_BYTES + 1))
        with pytest.raises(wire.WireError, match="announces"):
            wire.read_frame(read_fd, time.monotonic() + 5)
    finally:
        os.close(write_fd)
    with pytest.raises(wire.WireClosed):
        wire.read_frame(read_fd, time.monotonic() + 5)
    os.close(read_fd)
