"""The trusted side's read of a worker's answer: a hostile frame ends the worker and is the student's protocol error.

No sandbox here: the client's channel is a pair of pipes that the test writes the worker's side of.
"""

import json
import os
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from grader.engine.answers import VALUE, ListOf, Number, Optional, Record
from grader.grading import wire
from grader.grading.worker_client import WorkerClient, WorkerProtocolError, WorkerTimeout


class Channel:
    """A WorkerClient whose worker is this test: ``answer`` writes a raw frame where the worker would."""

    def __init__(self) -> None:
        answers = {"kl_normal": Record({"kl": VALUE}, optional={"extra": ListOf(Optional(Number()))})}
        self.client = WorkerClient(SimpleNamespace(), "unit", answers)  # type: ignore[arg-type]  # no worker started
        self.request_read, self.client.request_fd = os.pipe()
        self.client.response_fd, self.response_write = os.pipe()
        self.writers: list[threading.Thread] = []

    def answer(self, body: bytes) -> None:
        """Write the frame from a thread: a frame larger than the pipe's buffer would block the test."""
        def write() -> None:
            view = memoryview(wire.HEADER.pack(len(body)) + body)
            try:
                while view:
                    view = view[os.write(self.response_write, view):]
            except BrokenPipeError:  # the client refused the frame and closed its end
                pass
        self.writers.append(threading.Thread(target=write, daemon=True))
        self.writers[-1].start()

    def close(self) -> None:
        self.client.close()  # closes the read end: a writer still blocked gets a broken pipe and stops
        for writer in self.writers:
            writer.join()
        os.close(self.request_read)
        os.close(self.response_write)


@pytest.fixture
def channel() -> Iterator[Channel]:
    opened = Channel()
    yield opened
    opened.close()


def answer_with(result_extra: bytes) -> bytes:
    return b'{"ok": true, "result": {"kl": {"is_tensor": false, "type": "float"}, "extra": ' + result_extra + b"}}"


HOSTILE_ANSWERS = {
    "a flood of empty lists": answer_with(b"[" + b"[]," * wire.MAX_ELEMENTS + b"[]]"),
    "an array shape whose product overflows": answer_with(
        json.dumps({"__array__": {"dtype": "float32", "shape": [2**70, 0], "data": ""}}).encode()),
    "an array shape of 2**32 x 2**32": answer_with(
        json.dumps({"__array__": {"dtype": "uint8", "shape": [2**32, 2**32], "data": ""}}).encode()),
    "an iteration count of 10**400": answer_with(b"1" + b"0" * 400),
    "an integer of 5,000 digits": answer_with(b"9" * 5000),
}


@pytest.mark.parametrize("body", HOSTILE_ANSWERS.values(), ids=HOSTILE_ANSWERS.keys())
def test_a_hostile_answer_is_a_protocol_error_and_ends_the_worker(channel, body):
    channel.answer(body)
    with pytest.raises(WorkerProtocolError, match="unreadable"):
        channel.client._exchange("kl_normal", 30.0, {})
    assert channel.client.response_fd == -1  # the worker's channel is closed: the next call starts a fresh worker


def test_an_honest_answer_passes(channel):
    channel.answer(answer_with(b"[1, 2.5, null]"))
    assert channel.client._exchange("kl_normal", 30.0, {})["extra"] == [1, 2.5, None]


def test_an_answer_whose_decoding_ends_past_the_deadline_is_a_timeout(channel, monkeypatch):
    """Decoding is part of the call: the clock the wire reads jumps past any deadline while it decodes."""
    late = SimpleNamespace(offset=0.0)
    monkeypatch.setattr(wire, "time", SimpleNamespace(monotonic=lambda: time.monotonic() + late.offset))
    real_decode = wire.decode

    def slow_decode(body: bytes) -> object:
        late.offset = 3600.0
        return real_decode(body)

    monkeypatch.setattr(wire, "decode", slow_decode)
    channel.answer(answer_with(b"[]"))
    with pytest.raises(WorkerTimeout):
        channel.client._exchange("kl_normal", 30.0, {})
    assert channel.client.response_fd == -1
