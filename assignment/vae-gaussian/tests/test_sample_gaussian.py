"""Public tests of utils.sample_gaussian(m, v): z ~ N(m, diag(v)) by the reparameterization trick."""

import torch

import utils as ut

MOMENT_SAMPLES = 200_000  # rows drawn to estimate the mean and variance of each coordinate
MEAN_TOLERANCE = 0.03  # about 5 standard errors for the largest variance below (4.0)
VARIANCE_RELATIVE_TOLERANCE = 0.05


def test_shape_and_dtype_follow_the_inputs(call_homework):
    for shape, dtype in [((4, 3), torch.float32), ((2, 5, 3), torch.float64)]:
        m = torch.zeros(shape, dtype=dtype)
        v = torch.ones(shape, dtype=dtype)
        z = call_homework(ut.sample_gaussian, m, v)
        assert isinstance(z, torch.Tensor), f"expected a torch.Tensor, got {type(z).__name__}"
        assert z.shape == m.shape, (
            f"expected z of shape {tuple(m.shape)} (the shape of m), got {tuple(z.shape)}; "
            "likely mistake: noise of another shape, or a reduction; draw eps with torch.randn_like(m)"
        )
        assert z.dtype == dtype, (
            f"expected dtype {dtype} (that of m), got {z.dtype}; likely mistake: noise created with "
            "torch.randn(shape) in the default dtype; torch.randn_like(m) keeps m's dtype"
        )


def test_mean_and_variance_are_m_and_v(call_homework):
    torch.manual_seed(0)
    mean = torch.tensor([-2.0, 0.0, 3.0])
    variance = torch.tensor([0.25, 1.0, 4.0])
    m = mean.expand(MOMENT_SAMPLES, 3)  # (MOMENT_SAMPLES, 3)
    v = variance.expand(MOMENT_SAMPLES, 3)
    z = call_homework(ut.sample_gaussian, m, v)  # (MOMENT_SAMPLES, 3)

    sample_mean = z.mean(0)
    assert torch.allclose(sample_mean, mean, atol=MEAN_TOLERANCE), (
        f"expected the sample mean to be m = {mean.tolist()}, got {sample_mean.tolist()}; "
        "likely mistake: the sample must be m plus zero-mean noise"
    )
    sample_variance = z.var(0)
    if torch.allclose(sample_variance, variance.pow(2), rtol=VARIANCE_RELATIVE_TOLERANCE):
        hint = "v was used as a standard deviation; v is a variance, so scale the noise by sqrt(v)"
    elif torch.allclose(sample_variance, variance.exp(), rtol=VARIANCE_RELATIVE_TOLERANCE):
        hint = "v was used as a log-variance; v is a variance, so scale the noise by sqrt(v)"
    else:
        hint = "the noise must be standard normal (torch.randn_like) and scaled by sqrt(v)"
    assert torch.allclose(sample_variance, variance, rtol=VARIANCE_RELATIVE_TOLERANCE), (
        f"expected the sample variance to be v = {variance.tolist()}, got "
        f"{[round(value, 3) for value in sample_variance.tolist()]}; likely mistake: {hint}"
    )


def test_gradients_reach_m_and_v(call_homework):
    torch.manual_seed(1)
    m = torch.randn(5, 3, requires_grad=True)
    v = (torch.rand(5, 3) + 0.5).requires_grad_()
    z = call_homework(ut.sample_gaussian, m, v)
    assert z.requires_grad, (
        "expected z to be differentiable with respect to m and v, but it has no gradient; likely mistake: "
        "sampling with torch.normal(...) or under torch.no_grad(); write z = m + sqrt(v) * eps"
    )
    z.sum().backward()
    assert m.grad is not None and v.grad is not None, (
        f"expected gradients for both m and v, got m.grad={'set' if m.grad is not None else 'None'}, "
        f"v.grad={'set' if v.grad is not None else 'None'}; likely mistake: a detached parameter"
    )
    assert torch.allclose(m.grad, torch.ones_like(m)), (
        f"expected dz/dm = 1 everywhere, got {m.grad.flatten().tolist()[:5]}...; likely mistake: the noise "
        "must be added to m, not multiplied with it"
    )
    # With z = m + sqrt(v) * eps, dz/dv = eps / (2 sqrt(v)) = (z - m) / (2 v).
    expected = ((z - m) / (2 * v)).detach()
    assert torch.allclose(v.grad, expected, rtol=1e-4, atol=1e-6), (
        "expected dz/dv = (z - m) / (2 v), the derivative of m + sqrt(v) * eps, got "
        f"{v.grad.flatten().tolist()[:3]}... instead of {expected.flatten().tolist()[:3]}...; likely mistake: "
        "the noise eps must be drawn once and independently of v, then scaled by sqrt(v)"
    )


def test_a_seed_fixes_the_sample_and_inputs_are_left_alone(call_homework):
    m = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    v = torch.tensor([[1.0, 0.5], [0.25, 2.0]])
    m_before, v_before = m.clone(), v.clone()
    torch.manual_seed(2)
    first = call_homework(ut.sample_gaussian, m, v)
    torch.manual_seed(2)
    second = call_homework(ut.sample_gaussian, m, v)
    third = call_homework(ut.sample_gaussian, m, v)
    assert torch.equal(m, m_before) and torch.equal(v, v_before), (
        "expected m and v unchanged, but sample_gaussian modified them; likely mistake: an in-place "
        "operation such as m.add_(...); build a new tensor instead"
    )
    assert torch.equal(first, second), (
        "expected the same sample after the same torch.manual_seed, got two different ones; likely "
        "mistake: noise from numpy or Python's random module; use torch.randn_like"
    )
    assert not torch.equal(second, third), (
        "expected a new sample at every call, got the same one twice; likely mistake: the noise is fixed "
        "or missing (z = m); draw fresh noise with torch.randn_like at every call"
    )
