# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
# The worker runs as __main__ in the student's process: replace its answers with values of the wrong shape.
import sys as _sys

import numpy as _np

_worker = _sys.modules["__main__"]
_honest_handle = _worker.Worker.handle


def _corrupt(op: object, result: dict) -> dict:
    if op == "sample_gaussian":
        result["z"]["value"] = 5  # an int where the tensor's values belong
    elif op == "kl_normal":
        for name in ("grad_qm", "grad_qv"):
            if isinstance(result.get(name), _np.ndarray):
                result[name] = _np.full(result[name].shape, _np.nan)  # all-NaN gradients
    elif op == "negative_elbo_bound":
        result.pop("repeated_terms", None)  # the field check 3.6 compares
    return result


def _handle(self: object, request: object) -> dict:
    answer = _honest_handle(self, request)
    if isinstance(request, dict) and answer.get("ok"):
        answer["result"] = _corrupt(request.get("op"), answer["result"])
    return answer


if hasattr(_worker, "Worker"):
    _worker.Worker.handle = _handle
