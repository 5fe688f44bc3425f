"""Checks of utils.sample_gaussian(m, v): the reparameterization trick, v a variance."""

import numpy as np
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.feedback import preview
from grader.grading.session import GradingSession
from grader.grading.worker_client import StudentError
from grader.homeworks.vae import noise
from grader.homeworks.vae.diagnose import Diagnosis, fail, require_finite, returned_tensor

SEED_LABEL = "sample_gaussian"  # the checks' inputs come from grading.check_seed(SEED_LABEL) (grader/check_inputs.py)
SHAPES = [((64, 10), np.float32, "torch.float32"), ((5, 3), np.float64, "torch.float64"),
          ((2, 4, 3), np.float32, "torch.float32")]
SECOND_CALL_OFFSET = 1  # check 1.2's second call seeds torch's generator with the first's seed + 1
FIX = "z = m + torch.sqrt(v) * eps with eps = torch.randn_like(m)."


def base_seed(grading: GradingSession) -> int:
    return grading.check_seed(SEED_LABEL)


def require_noise(z: np.ndarray, m: np.ndarray, what: str) -> None:
    """A sample equal to m is no sample: properties of the output earn nothing without noise in it."""
    if np.allclose(z, m, rtol=0.0, atol=1e-7):
        raise fail(f"{what} returned m itself: there is no noise in the sample.", "z = m + sqrt(v) * eps, not m",
                   "z equal to m", Diagnosis(("sg_no_noise",)))


def inputs(shape: tuple[int, ...], dtype: type, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 2.0, size=shape).astype(dtype)
    v = rng.uniform(0.05, 3.0, size=shape).astype(dtype)
    return m, v


def shape_diagnosis(shape: tuple[int, ...], earlier_passed: bool) -> Diagnosis:
    """A wrong shape (or an error) at ``shape`` after the (64, 10) call went through: a size hard-coded for (batch, 10)
    when ``shape`` is another 2-D shape; for more dimensions only a guess (a noise shape built for 2-D inputs, as
    (m.shape[0], 1), fails here too)."""
    fix = "draw the noise with m's own shape, torch.randn_like(m)."
    if earlier_passed and len(shape) == len(SHAPES[0][0]):
        return Diagnosis(("sg_hard_coded_shape",))
    if earlier_passed:
        return Diagnosis(observed=f"the 2-D calls went through; this m has {len(shape)} dimensions", guesses=(
            "the noise drawn with a shape made for 2-D inputs (m.shape[0] and m.shape[1], or (batch, 1))",
            "a sum or mean over a dimension"), fix=fix)
    return Diagnosis(guesses=("the noise drawn with a fixed shape instead of m's",
                              "a sum or mean over a dimension"), fix=fix)


@number("1.1")
def test_shape_and_dtype(grading: GradingSession) -> None:
    """sample_gaussian: returns a plain tensor shaped like m, in m's dtype"""
    seed = base_seed(grading)
    for k, (shape, dtype, torch_dtype) in enumerate(SHAPES):
        m, v = inputs(shape, dtype, seed + k)
        try:
            result = grading.unit("sample_gaussian", m=m, v=v, seed=seed + k)
        except StudentError as error:
            hint = "".join(f"\n{line}" for line in shape_diagnosis(shape, k > 0).lines()) if k > 0 else ""
            raise StudentError(f"{error.message}\n(this call had m and v of shape {shape}){hint}",
                               error.traceback) from None
        what = f"sample_gaussian(m, v) with m of shape {shape}"
        z = returned_tensor(result["z"], what, shape, torch_dtype,
                            shape_diagnosis=lambda _, k=k, shape=shape: shape_diagnosis(shape, k > 0),
                            dtype_tag="sg_casts_dtype")
        require_noise(z, m, what)


@number("1.2")
def test_distribution(grading: GradingSession, note: list[str]) -> None:
    """sample_gaussian: samples are N(m, v), independent across rows, columns and calls"""
    shape = (noise.ROWS, noise.COLUMNS)
    m = np.broadcast_to(noise.MEANS, shape).copy()
    v = np.broadcast_to(noise.VARIANCES, shape).copy()
    seed = base_seed(grading)
    samples = [returned_tensor(grading.unit("sample_gaussian", m=m, v=v, seed=seed + offset, requires_grad=False)["z"],
                               "sample_gaussian", shape, "torch.float64", dtype_tag="sg_casts_dtype")
               for offset in (0, SECOND_CALL_OFFSET)]
    limits = noise.thresholds()
    note.append(f"{noise.ROWS:,} samples per column, two calls; means {np.round(samples[0].mean(axis=0), 3).tolist()}, "
                f"variances {np.round(samples[0].var(axis=0, ddof=1), 3).tolist()}; each statistical test at level "
                f"{limits.alpha:.2g}, so a right answer fails this check with probability under {noise.FALSE_FAIL:g}")
    finding = noise.examine(samples[0], samples[1], seed, limits)
    if finding is not None:
        raise fail(finding.summary, finding.expected, finding.got, finding.diagnosis)


@number("1.3")
def test_reparameterized(grading: GradingSession) -> None:
    """sample_gaussian: is reparameterized (dz/dm = 1, dz/dv = (z - m) / (2v))"""
    seed = base_seed(grading) + 10
    m, v = inputs((256, 8), np.float64, seed)
    result = grading.unit("sample_gaussian", m=m, v=v, seed=seed)
    z = returned_tensor(result["z"], "sample_gaussian", m.shape, "torch.float64", dtype_tag="sg_casts_dtype")
    require_finite(z, "sample_gaussian(m, v) with variances in [0.05, 3]", Diagnosis(
        guesses=("a division by zero", "a square root of a negative number"), fix=FIX))
    require_noise(z, m, "sample_gaussian")  # z = m has no gradient for v: the missing noise is the cause
    if "grad_error" in result:
        raise fail("No gradient flows from z back to m and v.", "z differentiable with respect to m and v",
                   result["grad_error"], Diagnosis(("sg_detached_sample",), fix=FIX))
    grad_m, grad_v = result.get("grad_m"), result.get("grad_v")
    if grad_m is None or grad_v is None:
        missing = "m" if grad_m is None else "v"
        tag = "sg_mean_detached" if missing == "m" else "sg_scale_detached"
        raise fail(f"No gradient reaches {missing}: dz/d{missing} is missing.", "gradients for both m and v",
                   f"none for {missing}", Diagnosis((tag,), fix=FIX))
    if grad_m.shape != m.shape or not np.allclose(grad_m, 1.0, rtol=1e-6, atol=1e-6):
        if grad_m.shape == m.shape and np.allclose(grad_m, 0.0) and np.allclose(grad_v, 0.0):
            diagnosis = Diagnosis(("sg_torch_normal",))
        elif grad_m.shape == m.shape and np.allclose(grad_m, 0.0):
            diagnosis = Diagnosis(("sg_mean_detached",))
        else:
            diagnosis = Diagnosis(observed="z = m + sqrt(v) * eps is linear in m, so dz/dm is 1 everywhere", fix=FIX)
        raise fail("dz/dm is not 1.", "dz/dm = 1 everywhere", preview(grad_m), diagnosis)
    expected = (z - m) / (2 * v)
    if grad_v.shape != v.shape or not np.allclose(grad_v, expected, rtol=1e-5, atol=1e-8):
        diagnosis = Diagnosis(observed="the gradient differs from that of m + sqrt(v) * eps with eps drawn "
                                       "independently of m and v", fix=FIX)
        if grad_v.shape == v.shape and np.allclose(grad_v, (z - m) / v, rtol=1e-5, atol=1e-8):
            diagnosis = Diagnosis(("sg_variance_as_std",))
        elif grad_v.shape == v.shape and np.allclose(grad_v, 0.0):
            diagnosis = Diagnosis(("sg_scale_detached",))
        raise fail("dz/dv is not (z - m) / (2v).", preview(expected), preview(grad_v), diagnosis)


@number("1.4")
def test_inputs_unchanged(grading: GradingSession) -> None:
    """sample_gaussian: leaves m and v unchanged"""
    seed = base_seed(grading) + 20
    m, v = inputs((32, 6), np.float32, seed)
    result = grading.unit("sample_gaussian", m=m, v=v, seed=seed, requires_grad=False)
    require_noise(returned_tensor(result["z"], "sample_gaussian", m.shape, None), m, "sample_gaussian")
    if not result["inputs_unchanged"]:
        raise fail("sample_gaussian modified its inputs.", "m and v unchanged after the call", "changed values",
                   Diagnosis(("sg_in_place",)))
