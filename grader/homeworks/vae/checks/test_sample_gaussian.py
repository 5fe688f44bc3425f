"""Checks of utils.sample_gaussian(m, v): the reparameterization trick, v a variance."""

import numpy as np
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.expect import require_finite, tensor_values
from grader.engine.feedback import hint_on_error, preview, wrong
from grader.grading.session import GradingSession
from grader.homeworks.vae.diagnose import moments_mistake, variance_mistake

SEED_LABEL = "sample_gaussian"  # the checks' inputs come from grading.check_seed(SEED_LABEL) (grader/check_inputs.py)
MOMENT_SAMPLES = 20_000
MOMENT_MEANS = np.array([-2.0, 0.0, 0.5, 3.0, 1.0])
MOMENT_VARIANCES = np.array([0.25, 1.0, 4.0, 0.01, 2.5])
SIGMAS = 5.0  # tolerance in standard errors: a right answer fails with probability < 1e-5 per column
FRESH_OFFSETS = (30, 31)  # two calls seeded differently must not return the same sample


def base_seed(grading: GradingSession) -> int:
    return grading.check_seed(SEED_LABEL)


def require_noise(z: np.ndarray, m: np.ndarray, what: str) -> None:
    """A sample equal to m is no sample: properties of the output earn nothing without noise in it."""
    if np.allclose(z, m, rtol=0.0, atol=1e-7):
        raise wrong(f"{what} returned m itself: there is no noise in the sample.", "z = m + sqrt(v) * eps, not m",
                    "z equal to m", "draw eps = torch.randn_like(m) and return m + torch.sqrt(v) * eps.")


def inputs(shape: tuple[int, ...], dtype: type, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 2.0, size=shape).astype(dtype)
    v = rng.uniform(0.05, 3.0, size=shape).astype(dtype)
    return m, v


@number("1.1")
def test_shape_and_dtype(grading: GradingSession) -> None:
    """sample_gaussian: returns a plain tensor shaped like m, in m's dtype"""
    seed = base_seed(grading)
    for k, (shape, dtype, torch_dtype) in enumerate([((64, 10), np.float32, "torch.float32"),
                                                     ((5, 3), np.float64, "torch.float64"),
                                                     ((2, 4, 3), np.float32, "torch.float32")]):
        m, v = inputs(shape, dtype, seed + k)
        with hint_on_error(f"this call had m and v of shape {shape}: a size hard-coded for (batch, 10) fails "
                           "here; draw the noise with m's own shape, torch.randn_like(m)."):
            result = grading.unit("sample_gaussian", m=m, v=v, seed=seed + k)
        what = f"sample_gaussian(m, v) with m of shape {shape}"
        z = tensor_values(result["z"], what, shape, torch_dtype,
                          "the noise must have m's full shape (torch.randn_like(m)), and z = m + sqrt(v) * eps.")
        require_noise(z, m, what)


@number("1.2")
def test_moments(grading: GradingSession, note: list[str]) -> None:
    """sample_gaussian: samples have mean m and variance v, fresh noise on every call"""
    shape = (MOMENT_SAMPLES, len(MOMENT_MEANS))
    m = np.broadcast_to(MOMENT_MEANS, shape).copy()
    v = np.broadcast_to(MOMENT_VARIANCES, shape).copy()
    result = grading.unit("sample_gaussian", m=m, v=v, seed=base_seed(grading), requires_grad=False)
    z = tensor_values(result["z"], "sample_gaussian", shape, "torch.float64")
    if not np.all(np.isfinite(z)):
        raise wrong("sample_gaussian returned NaN or infinity.", "finite samples", preview(z),
                    "the square root of a negative number or a division by zero.")
    if np.allclose(z, m):
        raise wrong("The samples are m itself.", f"variances close to {MOMENT_VARIANCES.tolist()}", "variances 0",
                    variance_mistake(np.zeros_like(MOMENT_VARIANCES), MOMENT_VARIANCES))
    if np.all(z == z[:1]):
        raise wrong("Every row of the sample is the same.", "independent noise for every row of the batch",
                    f"{shape[0]:,} identical rows, e.g. {np.round(z[0], 3).tolist()}",
                    "one noise vector was shared by every row (torch.randn(dim) or similar, broadcast); draw eps "
                    "with m's full shape: torch.randn_like(m).")
    means, variances = z.mean(axis=0), z.var(axis=0, ddof=1)
    # The means' standard errors from the samples' own variances: a sample whose variance is wrong is reported
    # for its variance below, not for means that wander as far as that variance lets them.
    mean_tolerance = SIGMAS * np.sqrt(np.maximum(variances, MOMENT_VARIANCES) / MOMENT_SAMPLES)
    variance_tolerance = SIGMAS * MOMENT_VARIANCES * np.sqrt(2.0 / (MOMENT_SAMPLES - 1))
    note.append(f"{MOMENT_SAMPLES:,} samples per column; means {np.round(means, 3).tolist()}, "
                f"variances {np.round(variances, 3).tolist()}")
    if np.any(np.abs(means - MOMENT_MEANS) > mean_tolerance):
        raise wrong("The samples' means are not m.", f"means close to {MOMENT_MEANS.tolist()}",
                    f"means {np.round(means, 3).tolist()}",
                    moments_mistake(means, variances, MOMENT_MEANS, MOMENT_VARIANCES))
    if np.any(np.abs(variances - MOMENT_VARIANCES) > variance_tolerance):
        raise wrong("The samples' variances are not v.", f"variances close to {MOMENT_VARIANCES.tolist()}",
                    f"variances {np.round(variances, 3).tolist()}", variance_mistake(variances, MOMENT_VARIANCES))
    standardized = (z - MOMENT_MEANS) / np.sqrt(MOMENT_VARIANCES)
    correlation = np.corrcoef(standardized, rowvar=False)[np.triu_indices(len(MOMENT_MEANS), 1)]
    if np.any(np.abs(correlation) > SIGMAS / np.sqrt(MOMENT_SAMPLES)):
        raise wrong("The coordinates of a sample are correlated.", "independent noise in every coordinate",
                    f"correlations up to {np.abs(correlation).max():.2f}",
                    "one noise value was shared across a row; draw eps with m's full shape (torch.randn_like(m)).")
    check_fresh_noise(grading)


def check_fresh_noise(grading: GradingSession) -> None:
    """Two calls with the global generator seeded differently must draw different noise."""
    seed = base_seed(grading)
    m, v = inputs((64, 10), np.float32, seed + FRESH_OFFSETS[0])
    samples = [tensor_values(grading.unit("sample_gaussian", m=m, v=v, seed=seed + offset, requires_grad=False)["z"],
                             "sample_gaussian", m.shape, "torch.float32") for offset in FRESH_OFFSETS]
    if np.array_equal(samples[0], samples[1]):
        raise wrong("Two calls drew exactly the same noise.", "a new sample on every call", "the same sample twice",
                    "the random generator is re-seeded inside the function (torch.manual_seed) or the noise is "
                    "fixed; draw eps = torch.randn_like(m) from the global generator and never seed it there.")


@number("1.3")
def test_reparameterized(grading: GradingSession) -> None:
    """sample_gaussian: is reparameterized (dz/dm = 1, dz/dv = (z - m) / (2v))"""
    seed = base_seed(grading) + 10
    m, v = inputs((256, 8), np.float64, seed)
    result = grading.unit("sample_gaussian", m=m, v=v, seed=seed)
    z = tensor_values(result["z"], "sample_gaussian", m.shape, "torch.float64")
    require_finite(z, "sample_gaussian(m, v) with variances in [0.05, 3]",
                   "a division by zero or a square root of a negative number; z = m + sqrt(v) * eps.")
    if "grad_error" in result:
        raise wrong("No gradient flows from z back to m and v.", "z differentiable with respect to m and v",
                    result["grad_error"], "torch.normal, .detach(), .data or numpy cut the graph; write "
                    "z = m + torch.sqrt(v) * eps with eps = torch.randn_like(m).")
    grad_m, grad_v = result.get("grad_m"), result.get("grad_v")
    if grad_m is None or grad_v is None:
        missing = "m" if grad_m is None else "v"
        raise wrong(f"No gradient reaches {missing}: dz/d{missing} is missing.", "gradients for both m and v",
                    f"none for {missing}", f"{'sqrt(v)' if missing == 'v' else 'm'} was detached (.detach(), .data, "
                    "torch.no_grad()) or converted to a number or numpy; compute z from m and v with torch "
                    "operations.")
    if grad_m.shape != m.shape or not np.allclose(grad_m, 1.0, rtol=1e-6, atol=1e-6):
        mistake = "z = m + sqrt(v) * eps is linear in m."
        if grad_m.shape == m.shape and np.allclose(grad_m, 0.0) and np.allclose(grad_v, 0.0):
            mistake = ("z has zero gradient with respect to m and v: torch.normal(m, std) draws without the "
                       "reparameterization; write z = m + torch.sqrt(v) * eps with eps = torch.randn_like(m).")
        raise wrong("dz/dm is not 1.", "dz/dm = 1 everywhere", preview(grad_m), mistake)
    expected = (z - m) / (2 * v)
    if grad_v.shape != v.shape or not np.allclose(grad_v, expected, rtol=1e-5, atol=1e-8):
        mistake = "the sample must be m + sqrt(v) * eps with the noise eps drawn independently of m and v."
        if grad_v.shape == v.shape and np.allclose(grad_v, (z - m) / v, rtol=1e-5, atol=1e-8):
            mistake = "v was used as a standard deviation (z = m + v * eps); use torch.sqrt(v)."
        elif np.allclose(grad_v, 0.0):
            mistake = "z does not depend on v through the graph (zero gradient); scale eps by torch.sqrt(v)."
        raise wrong("dz/dv is not (z - m) / (2v).", preview(expected), preview(grad_v), mistake)


@number("1.4")
def test_inputs_unchanged(grading: GradingSession) -> None:
    """sample_gaussian: leaves m and v unchanged"""
    seed = base_seed(grading) + 20
    m, v = inputs((32, 6), np.float32, seed)
    result = grading.unit("sample_gaussian", m=m, v=v, seed=seed, requires_grad=False)
    require_noise(tensor_values(result["z"], "sample_gaussian", m.shape, None), m, "sample_gaussian")
    if not result["inputs_unchanged"]:
        raise wrong("sample_gaussian modified its inputs.", "m and v unchanged after the call", "changed values",
                    "an in-place operation such as v.sqrt_() or m += ...; use out-of-place operations.")
