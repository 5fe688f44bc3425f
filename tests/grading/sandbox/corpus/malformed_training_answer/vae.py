# ==== hostile addition to reference/vae.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
# The training answer claims 10^15 iterations and carries an int among the weights.
import sys as _sys

_worker = _sys.modules["__main__"]
_honest_handle = _worker.Worker.handle


def _handle(self: object, request: object) -> dict:
    answer = _honest_handle(self, request)
    if isinstance(request, dict) and request.get("op") == "train" and answer.get("ok"):
        answer["result"]["iterations"] = 10**15  # within 64 bits (the wire refuses more): past any run
        answer["result"]["weights"]["enc.net.0.bias"] = 3
    return answer


if hasattr(_worker, "Worker"):
    _worker.Worker.handle = _handle
