import json
import os
import time

import numpy as np
import pytest

from grader.grading import wire


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
    ({"dtype": "float32", "shape": [1], "data": "!!notb64"}, "malformed"),
    ({"dtype": "float32", "shape": [1], "data": "AAAAAAAAAAAA"}, "12 base64 characters"),
    ({"dtype": "float32", "shape": [True], "data": "AAAAAA=="}, "malformed array shape"),
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


# -- the cost of decoding is bounded before it is spent ---------------------------------------------


def refuse_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make json parsing fail the test: what must be refused before parsing never gets there."""
    def parse(*args: object, **kwargs: object) -> object:
        raise AssertionError("the frame was parsed")
    monkeypatch.setattr(wire.json, "loads", parse)


def test_a_flood_of_empty_lists_is_refused_before_parsing(monkeypatch):
    body = b'{"ok": true, "result": {"pad": [' + b"[]," * wire.MAX_ELEMENTS + b"[]]}}"
    refuse_parsing(monkeypatch)
    with pytest.raises(wire.WireError, match="elements, more than the"):
        wire.decode(body)


def test_many_small_arrays_decode_within_the_element_cap_and_are_refused_beyond_it(monkeypatch):
    few = [np.full(2, i, dtype=np.int32) for i in range(500)]
    decoded = roundtrip({"arrays": few})["arrays"]
    assert len(decoded) == 500 and all(np.array_equal(a, b) for a, b in zip(decoded, few, strict=True))
    one = json.dumps({"__array__": {"dtype": "bool", "shape": [], "data": "AA=="}}).encode()
    flood = b"[" + b",".join([one] * (wire.MAX_ELEMENTS // 5 + 1)) + b"]"
    refuse_parsing(monkeypatch)
    with pytest.raises(wire.WireError, match="elements"):
        wire.decode(flood)


def test_encode_refuses_what_decode_would_refuse():
    """An honest worker learns its answer is unsendable instead of sending a frame the grader refuses."""
    with pytest.raises(wire.WireError, match="elements"):
        wire.encode({"calls": [[1, 10]] * wire.MAX_ELEMENTS})
    for huge in (10**400, 10**5000):  # str(10**5000) raises ValueError: the message must not need it
        with pytest.raises(wire.WireError, match="64 bits"):
            wire.encode({"iterations": huge})
    with pytest.raises(wire.WireError, match="64 bits"):
        wire.encode({"seed": 2**64})
    assert roundtrip({"seed": np.uint64(2**64 - 1)}) == {"seed": 2**64 - 1}


def test_a_frame_larger_than_the_cap_is_refused_even_without_a_header(monkeypatch):
    monkeypatch.setattr(wire, "MAX_FRAME_BYTES", 1000)
    refuse_parsing(monkeypatch)
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.decode(b" " * 1001 + b"1")


def test_an_honest_training_answer_three_times_larger_in_float64_fits():
    """Today's training answer: 661,404 float32 weights and two PNGs (3.5 MiB); the cap leaves room for growth."""
    weights = {"enc": np.zeros(3 * 661_404, dtype=np.float64)}
    frame = wire.encode({"ok": True, "result": {"weights": weights, "samples_png": bytes(200_000),
                                                "reconstructions_png": bytes(200_000)}})
    assert len(frame) <= wire.MAX_FRAME_BYTES
    assert roundtrip({"weights": weights})["weights"]["enc"].shape == (3 * 661_404,)


@pytest.mark.parametrize("shape", [[2**70, 0], [2**32, 2**32], [0, 10**12], [2**31, 2**31, 2**31]])
def test_an_array_shape_with_a_huge_product_is_refused_before_allocating(monkeypatch, shape):
    def no_decoding(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the array data was decoded")
    monkeypatch.setattr(wire.base64, "b64decode", no_decoding)
    with pytest.raises(wire.WireError, match=r"shape|64 bits"):  # 2**70 is refused as an integer literal already
        wire.decode(forged({"dtype": "uint8", "shape": shape, "data": ""}))


@pytest.mark.parametrize("literal, refused", [
    ("9" * 5000, True),  # over Python's own 4,300-digit limit
    ("1" + "0" * 400, True),  # 10**400: under that limit, far over any honest value
    (str(2**64), True),
    (str(-(2**63) - 1), True),
    (str(2**64 - 1), False),  # a uint64 seed
    (str(-(2**63)), False),
])
def test_integer_literals_must_fit_in_64_bits(literal, refused):
    body = f'{{"ok": true, "result": {{"iterations": {literal}}}}}'.encode()
    if refused:
        with pytest.raises(wire.WireError, match="64 bits"):
            wire.decode(body)
    else:
        assert wire.decode(body)["result"]["iterations"] == int(literal)


def test_deep_nesting_of_objects_and_lists_is_refused():
    nested: object = 1
    for level in range(wire.MAX_JSON_DEPTH + 2):
        nested = {"a": nested} if level % 2 else [nested]
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.decode(json.dumps(nested).encode())
    with pytest.raises(wire.WireError):
        wire.decode(b'{"a":' * 60_000 + b"1" + b"}" * 60_000)


HOSTILE_BODIES = [
    b"[" + b"[]," * wire.MAX_ELEMENTS + b"[]]",
    b"[" + b"0," * wire.MAX_ELEMENTS + b"0]",
    forged({"dtype": "float32", "shape": [2**70, 0], "data": ""}),
    forged({"dtype": "float32", "shape": [-(2**70)], "data": ""}),
    forged({"dtype": "float32", "shape": [1.5], "data": "AAAAAA=="}),
    forged({"dtype": ["float32"], "shape": [1], "data": "AAAAAA=="}),
    forged({"dtype": "float32", "shape": [1], "data": 12}),
    json.dumps({"b": {"__bytes__": "A"}}).encode(),
    json.dumps({"b": {"__bytes__": None}}).encode(),
    b'{"n": 1' + b"0" * 10_000 + b"}",
    b'{"x": 1e999999, "y": -Infinity, "z": NaN}',
    b'"\\ud800"',
    b"\xc3\x28",
    b"",
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_a_hostile_frame_is_a_wire_error_or_plain_values_never_another_exception(body):
    try:
        wire.decode(body)
    except wire.WireError:
        pass


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_decoding_that_ends_past_the_deadline_is_a_timeout(monkeypatch):
    clock = FakeClock()
    deadline = clock.now + 10
    monkeypatch.setattr(wire, "time", clock)
    real_decode = wire.decode

    def slow_decode(body: bytes) -> object:
        clock.now = deadline + 1  # as if decoding had taken the rest of the call's time
        return real_decode(body)

    monkeypatch.setattr(wire, "decode", slow_decode)
    read_fd, write_fd = os.pipe()
    try:
        wire.write_frame(write_fd, {"ok": True})
        with pytest.raises(wire.WireTimeout, match="past the deadline"):
            wire.read_frame(read_fd, deadline)
    finally:
        os.close(read_fd)
        os.close(write_fd)
