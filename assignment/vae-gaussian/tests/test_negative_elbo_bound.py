"""Public tests of VAE.negative_elbo_bound(x) -> (nelbo, kl, rec), batch means with one sample of z."""

import math

import pytest
import torch

from vae import VAE

Z_DIM = 2
BATCH = 6
WEIGHT_SCALE = 0.2
WEIGHT_FREQUENCY = 0.37  # radians per weight along the flattened parameter
CERTAIN_VARIANCE_BIAS = -30.0  # softplus(-30) ~ 1e-13: the encoder variance drops to the floor, z ~ qm
PIXELS = 784

# Golden values, computed once with the reference solution on the fixed VAE and batch built below
# (``fixed_vae()``, ``fixed_batch()``): ``[t.item() for t in model.negative_elbo_bound(x)]``.
GOLDEN_KL = 1.3785637617111206  # does not depend on the sample of z
GOLDEN_REC_CERTAIN = 745.1499  # rec of the VAE whose encoder variance is ~0 (z = qm up to 1e-4)
KL_TOLERANCE = 1e-3
REC_TOLERANCE = 1e-2


def fixed_vae() -> VAE:
    """A small VAE whose weights are a fixed smooth pattern: the same on every machine, no random draw."""
    model = VAE(z_dim=Z_DIM)
    with torch.no_grad():
        for index, parameter in enumerate(model.parameters()):
            position = torch.arange(parameter.numel(), dtype=torch.float64)
            pattern = torch.sin(position * WEIGHT_FREQUENCY + index) * WEIGHT_SCALE
            parameter.copy_(pattern.reshape(parameter.shape))
    return model


def fixed_batch() -> torch.Tensor:
    """(BATCH, 784) binary images, a fixed pattern with about 30% ones."""
    position = torch.arange(BATCH * PIXELS)
    return ((position * 7919) % 10 < 3).float().reshape(BATCH, PIXELS)


def make_certain(model: VAE) -> VAE:
    """Make q(z | x) nearly a point mass: its variance head outputs the floor, so z = qm up to ~1e-4."""
    with torch.no_grad():
        last = model.enc.net[-1]  # Linear(300, 2 * z_dim): means first, then variances
        last.weight[Z_DIM:] = 0.0
        last.bias[Z_DIM:] = CERTAIN_VARIANCE_BIAS
    return model


def bound(call_homework, model: VAE, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(seed)
    terms = call_homework(model.negative_elbo_bound, x)
    assert isinstance(terms, tuple | list) and len(terms) == 3, (
        f"expected a tuple (nelbo, kl, rec), got {type(terms).__name__}"
        + (f" of length {len(terms)}" if isinstance(terms, tuple | list) else "")
    )
    return tuple(terms)


def explain_scale(got: float, expected: float) -> str:
    if math.isclose(got, expected * BATCH, rel_tol=1e-3):
        return f"it is {BATCH} (the batch size) times too large: take the mean over the batch, not the sum"
    if math.isclose(got, expected / PIXELS, rel_tol=1e-3):
        return "it was averaged over the 784 pixels: sum over pixels, then average over the batch"
    if math.isclose(got, -expected, rel_tol=1e-3):
        return "the sign is flipped: these are negative log-likelihoods and KLs, both >= 0"
    return "see the formula in the docstring; if a test of kl_normal or sample_gaussian fails, fix that one first"


def test_returns_three_scalars_with_nelbo_equal_to_kl_plus_rec(call_homework):
    nelbo, kl, rec = bound(call_homework, fixed_vae(), fixed_batch(), seed=0)
    for name, term in [("nelbo", nelbo), ("kl", kl), ("rec", rec)]:
        assert isinstance(term, torch.Tensor) and term.dim() == 0, (
            f"expected {name} to be a scalar tensor (shape ()), got "
            f"{tuple(term.shape) if isinstance(term, torch.Tensor) else type(term).__name__}; "
            "likely mistake: a missing .mean() over the batch"
        )
    assert torch.isclose(nelbo, kl + rec, rtol=1e-5), (
        f"expected nelbo = kl + rec, got nelbo={nelbo.item():.4f}, kl + rec={(kl + rec).item():.4f}; "
        "likely mistake: nelbo computed from other terms than the kl and rec you return"
    )


def test_kl_is_the_batch_mean_of_the_analytic_kl(call_homework):
    _, kl, _ = bound(call_homework, fixed_vae(), fixed_batch(), seed=0)
    assert math.isclose(kl.item(), GOLDEN_KL, abs_tol=KL_TOLERANCE), (
        f"expected kl = {GOLDEN_KL:.4f} on the fixed VAE, got {kl.item():.4f}; likely mistake: "
        f"{explain_scale(kl.item(), GOLDEN_KL)}"
    )


def test_rec_is_the_batch_mean_of_the_pixel_sum(call_homework):
    _, _, rec = bound(call_homework, make_certain(fixed_vae()), fixed_batch(), seed=0)
    assert math.isclose(rec.item(), GOLDEN_REC_CERTAIN, abs_tol=REC_TOLERANCE), (
        f"expected rec = {GOLDEN_REC_CERTAIN:.2f} on the fixed VAE with q(z | x) a near point mass, got "
        f"{rec.item():.4f}; likely mistake: {explain_scale(rec.item(), GOLDEN_REC_CERTAIN)}"
    )


def test_rec_uses_one_random_sample_of_z(call_homework):
    model, x = fixed_vae(), fixed_batch()
    first = bound(call_homework, model, x, seed=0)
    again = bound(call_homework, model, x, seed=0)
    other = bound(call_homework, model, x, seed=1)
    assert torch.equal(first[2], again[2]), (
        "expected the same rec after the same torch.manual_seed, got "
        f"{first[2].item():.4f} and {again[2].item():.4f}; likely mistake: randomness outside torch"
    )
    assert not torch.isclose(first[2], other[2], rtol=1e-6), (
        f"expected rec to change with the seed (z is a random sample), got {first[2].item():.4f} twice; "
        "likely mistake: decoding the mean qm instead of a sample z = ut.sample_gaussian(qm, qv)"
    )
    assert torch.equal(first[1], other[1]), (
        f"expected the same kl for every seed (it is analytic), got {first[1].item():.4f} and "
        f"{other[1].item():.4f}; likely mistake: a sampled KL instead of ut.kl_normal"
    )


@pytest.mark.parametrize("part", ["enc", "dec"])
def test_gradients_reach_the_encoder_and_the_decoder(call_homework, part):
    model = fixed_vae()
    nelbo, _, _ = bound(call_homework, model, fixed_batch(), seed=0)
    assert nelbo.requires_grad, (
        "expected nelbo to be differentiable (training calls nelbo.backward()), but it has no gradient; "
        "likely mistake: a .detach(), .item() or torch.no_grad() inside negative_elbo_bound"
    )
    nelbo.backward()
    gradients = [p.grad for p in getattr(model, part).parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in gradients) and any(
        g.abs().sum() > 0 for g in gradients
    ), (
        f"expected finite, non-zero gradients of nelbo in every parameter of model.{part}, got none or "
        "zeros; likely mistake: a .detach(), .item() or torch.no_grad() inside negative_elbo_bound"
    )
