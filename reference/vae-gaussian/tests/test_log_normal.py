"""Public tests of utils.log_normal(x, m, v): log N(x; m, diag(v)), v a variance, summed over the last dimension."""

import math

import torch

import utils as ut

# Small literal inputs, float64. The golden values were computed once with the reference solution and checked by
# hand against -0.5 * sum(log(2 pi) + log(v) + (x - m)^2 / v).
X = [[0.5, -1.0, 0.0], [2.0, 0.0, -0.5]]
MEAN = [0.0, 1.0, -1.0]
VARIANCE = [1.0, 2.0, 0.5]
GOLDEN = [-4.8818155996140185, -5.2568155996140185]
GOLDEN_STANDARD_NORMAL = [-3.381815599614018, -4.8818155996140185]  # the same x under N(0, 1) given with shape (1,)
TOLERANCE = 1e-6


def tensor(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def explain(got: torch.Tensor, expected: list[float]) -> str:
    """The likely mistake behind a wrong log-density on the literal inputs."""
    if got.shape == (2,):
        if torch.allclose(got, tensor(expected) + 1.5 * math.log(2 * math.pi), atol=1e-4):
            return "the log(2 pi) term is missing"
        if torch.allclose(got, tensor(expected) * 2, atol=1e-4):
            return "the factor 1/2 is missing"
        if torch.allclose(got, tensor(expected) / 3, atol=1e-4):
            return "the terms were averaged over the last dimension instead of summed"
    return ("check -0.5 * (log(2 pi) + log(v) + (x - m)^2 / v), summed over the last dimension; v is a variance, not "
            "a standard deviation")


def test_matches_the_formula_on_literal_inputs(call_homework):
    value = call_homework(ut.log_normal, tensor(X), tensor(MEAN), tensor(VARIANCE))
    assert isinstance(value, torch.Tensor), f"expected a torch.Tensor, got {type(value).__name__}"
    assert value.shape == (2,) and torch.allclose(value, tensor(GOLDEN), atol=TOLERANCE), (
        f"expected {GOLDEN} (one value per row), got {value.tolist()}; likely mistake: {explain(value, GOLDEN)}")


def test_a_prior_of_shape_1_is_broadcast(call_homework):
    value = call_homework(ut.log_normal, tensor(X), torch.zeros(1, dtype=torch.float64),
                          torch.ones(1, dtype=torch.float64))
    assert value.shape == (2,) and torch.allclose(value, tensor(GOLDEN_STANDARD_NORMAL), atol=TOLERANCE), (
        f"expected {GOLDEN_STANDARD_NORMAL} under N(0, 1) given with shape (1,), got {value.tolist()}")


def test_gradients_flow_to_the_mean_and_the_variance(call_homework):
    mean, variance = tensor(MEAN).requires_grad_(), tensor(VARIANCE).requires_grad_()
    value = call_homework(ut.log_normal, tensor(X), mean, variance)
    value.sum().backward()
    assert mean.grad is not None and variance.grad is not None, "log_normal must be differentiable in m and v"
    expected = (tensor(X) - tensor(MEAN)).div(tensor(VARIANCE)).sum(0)  # d/dm of the summed log-density
    assert torch.allclose(mean.grad, expected, atol=TOLERANCE), f"d/dm: expected {expected.tolist()}"
