"""Public tests of utils.kl_normal(qm, qv, pm, pv): KL(q || p) of diagonal Gaussians, summed over the last dim."""

import pytest
import torch

import utils as ut

# Small literal inputs, float64. The golden values below were computed once with the reference solution,
# ``utils.kl_normal(Q_MEAN, Q_VARIANCE, P_MEAN, P_VARIANCE).tolist()``, and checked by hand against
# 0.5 * sum(log(pv) - log(qv) + qv / pv + (qm - pm)^2 / pv - 1).
Q_MEAN = [[0.5, -1.0, 0.0], [2.0, 0.0, -0.5]]
Q_VARIANCE = [[1.0, 0.5, 3.0], [0.25, 2.0, 1.5]]
P_MEAN = [0.0, 1.0, -1.0]
P_VARIANCE = [1.0, 2.0, 0.5]
GOLDEN_KL = [4.047267445945918, 3.268841036225891]
# Same q against the standard normal prior N(0, 1) given with shape (1,), as VAE.z_prior is.
GOLDEN_KL_STANDARD_PRIOR = [1.1722674459459177, 2.6438410362258904]
TOLERANCE = 1e-6


def tensor(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def explain(got: torch.Tensor, expected: list[float]) -> str:
    """The likely mistake behind a wrong KL on the literal inputs."""
    got_total = got.sum().item() if got.dim() > 0 else got.item()
    if got.dim() == 0 and abs(got_total - sum(expected)) < 1e-4:
        return "the result was summed over the batch too; sum over the last dimension only"
    if got.dim() == 0 and abs(got_total - sum(expected) / len(expected)) < 1e-4:
        return "the result was averaged over the batch; return one value per row"
    return ("check the closed form 0.5 * (log(pv) - log(qv) + qv / pv + (qm - pm)^2 / pv - 1), summed over the "
            "last dimension; qv and pv are variances, not standard deviations")


def test_matches_the_closed_form_on_literal_inputs(call_homework):
    kl = call_homework(ut.kl_normal, tensor(Q_MEAN), tensor(Q_VARIANCE), tensor(P_MEAN), tensor(P_VARIANCE))
    assert isinstance(kl, torch.Tensor), f"expected a torch.Tensor, got {type(kl).__name__}"
    assert kl.shape == (2,) and torch.allclose(kl, tensor(GOLDEN_KL), atol=TOLERANCE), (
        f"expected {GOLDEN_KL} (one value per row), got {kl.tolist()}; likely mistake: {explain(kl, GOLDEN_KL)}"
    )


def test_a_prior_of_shape_1_is_broadcast(call_homework):
    prior_mean, prior_variance = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    kl = call_homework(ut.kl_normal, tensor(Q_MEAN), tensor(Q_VARIANCE), prior_mean, prior_variance)
    assert kl.shape == (2,) and torch.allclose(kl, tensor(GOLDEN_KL_STANDARD_PRIOR), atol=TOLERANCE), (
        f"expected {GOLDEN_KL_STANDARD_PRIOR} against the prior N(0, 1) given with shape (1,), got {kl.tolist()}; "
        f"likely mistake: {explain(kl, GOLDEN_KL_STANDARD_PRIOR)}; the prior must broadcast to (batch, dim)"
    )
    prior_per_dim = call_homework(ut.kl_normal, tensor(Q_MEAN), tensor(Q_VARIANCE),
                                  torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(kl, prior_per_dim, atol=TOLERANCE), (
        f"expected the same KL for a prior of shape (1,) and of shape (dim,), got {kl.tolist()} and "
        f"{prior_per_dim.tolist()}; likely mistake: the prior's shape changes the sum (sum over qm's last "
        "dimension after broadcasting)"
    )


def test_sums_over_the_last_dimension_only(call_homework):
    torch.manual_seed(0)
    qm, qv = torch.randn(4, 5, 3), torch.rand(4, 5, 3) + 0.1  # (4, 5, dim = 3)
    pm, pv = torch.randn(3), torch.rand(3) + 0.1  # (dim,)
    kl = call_homework(ut.kl_normal, qm, qv, pm, pv)
    assert kl.shape == (4, 5), (
        f"expected shape (4, 5) for inputs of shape (4, 5, 3), got {tuple(kl.shape)}; likely mistake: "
        "sum over the last dimension only, with .sum(-1), and do not average over the batch"
    )
    assert (kl >= -1e-6).all(), (
        f"expected KL >= 0 everywhere, got a minimum of {kl.min().item():.4f}; likely mistake: a sign or "
        "the order of q and p in the log terms (log(pv) - log(qv))"
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_is_zero_between_identical_distributions(call_homework, dtype):
    torch.manual_seed(1)
    m = torch.randn(6, 4, dtype=dtype)
    v = torch.rand(6, 4, dtype=dtype) + 0.1
    kl = call_homework(ut.kl_normal, m, v, m.clone(), v.clone())
    assert kl.shape == (6,), (
        f"expected one KL per row, shape (6,), got {tuple(kl.shape)}; likely mistake: sum over the last "
        "dimension only, with .sum(-1)"
    )
    assert torch.allclose(kl, torch.zeros(6, dtype=dtype), atol=1e-5), (
        f"expected KL(q || q) = 0 for each of the 6 rows, got {kl.tolist()}; likely mistake: the constant "
        "-1 per dimension, or the ratio qv / pv, is missing or wrong"
    )
