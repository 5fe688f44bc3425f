"""Public tests of VAE.negative_iwae_bound(x, iw) -> (niwae, kl, rec), batch means with iw samples per image."""

import math

import pytest
import torch

from vae import VAE

Z_DIM = 2
BATCH = 6
PIXELS = 784
WEIGHT_SCALE = 0.2
WEIGHT_FREQUENCY = 0.37  # radians per weight along the flattened parameter
UNIT_VARIANCE_BIAS = math.log(math.e - 1)  # softplus of this is 1: the encoder's variance is the prior's
LARGE_LOGIT_SCALE = 100.0  # logits in the hundreds: log-weights far below -745, where exp() is 0 in float64
SEEDS = range(5)


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


def exact_model() -> VAE:
    """q(z | x) = p(z) = N(0, I) and a decoder that ignores z: every importance weight is p(x), exactly."""
    model = fixed_vae()
    with torch.no_grad():
        encoder_out, decoder_out = model.enc.net[-1], model.dec.net[-1]
        encoder_out.weight.zero_()
        encoder_out.bias[:Z_DIM] = 0.0
        encoder_out.bias[Z_DIM:] = UNIT_VARIANCE_BIAS
        decoder_out.weight.zero_()  # the logits are the bias, whatever z
    return model


def bound(call_homework, model: VAE, x: torch.Tensor, iw: int, seed: int) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(seed)
    terms = call_homework(model.negative_iwae_bound, x, iw)
    assert isinstance(terms, tuple | list) and len(terms) == 3, (
        f"expected a tuple (niwae, kl, rec), got {type(terms).__name__}"
        + (f" of length {len(terms)}" if isinstance(terms, tuple | list) else "")
    )
    return tuple(terms)


def test_returns_three_scalars(call_homework):
    for name, term in zip(("niwae", "kl", "rec"), bound(call_homework, fixed_vae(), fixed_batch(), 5, 0), strict=True):
        assert isinstance(term, torch.Tensor) and term.dim() == 0, (
            f"expected {name} to be a scalar tensor (shape ()), got "
            f"{tuple(term.shape) if isinstance(term, torch.Tensor) else type(term).__name__}; "
            "likely mistake: a missing .mean() over the batch"
        )


@pytest.mark.parametrize("iw", [1, 7])
def test_every_weight_equal_to_p_x_gives_minus_log_p_x(call_homework, iw):
    model, x = exact_model(), fixed_batch()
    logits = model.dec.net[-1].bias.detach()  # (784,): the decoder's logits for every z
    minus_log_px = torch.nn.functional.binary_cross_entropy_with_logits(logits.expand_as(x), x, reduction="none")
    expected = minus_log_px.sum(-1).mean().item()  # -log p(x), summed over pixels, averaged over the batch
    niwae, kl, rec = (term.item() for term in bound(call_homework, model, x, iw, seed=0))
    assert math.isclose(niwae, expected, rel_tol=1e-4), (
        f"with q(z | x) = p(z) and a decoder that ignores z, every weight is p(x), so niwae = -log p(x) = "
        f"{expected:.4f} for any iw; got {niwae:.4f} with iw = {iw}. Likely mistake: "
        + ("the sum of the weights instead of their mean (subtract log(iw), or use ut.log_mean_exp)"
           if math.isclose(niwae, expected - math.log(iw), rel_tol=1e-4) else
           "a sum or mean over the wrong dimension, or a missing term in the log-weights")
    )
    assert math.isclose(rec, expected, rel_tol=1e-4) and abs(kl) < 1e-3, (
        f"expected rec = {expected:.4f} and kl = 0 here (q = p), got rec {rec:.4f} and kl {kl:.4f}"
    )


def test_more_samples_give_a_tighter_bound(call_homework):
    model, x = fixed_vae(), fixed_batch()
    one = sum(bound(call_homework, model, x, 1, seed)[0].item() for seed in SEEDS) / len(SEEDS)
    many = sum(bound(call_homework, model, x, 200, seed)[0].item() for seed in SEEDS) / len(SEEDS)
    assert many < one, (
        f"expected the bound with 200 samples to be tighter (a smaller niwae) than with 1, got {many:.4f} against "
        f"{one:.4f}; likely mistake: the log-weights averaged (mean of log w) instead of log-mean-exp"
    )


def test_finite_for_log_weights_far_below_zero(call_homework):
    model = fixed_vae()
    with torch.no_grad():
        model.dec.net[-1].weight.mul_(LARGE_LOGIT_SCALE)
        model.dec.net[-1].bias.mul_(LARGE_LOGIT_SCALE)
    niwae, _, _ = bound(call_homework, model, fixed_batch(), 50, seed=0)
    assert torch.isfinite(niwae), (
        f"expected a finite niwae when the log-weights are in the thousands below zero, got {niwae.item()}; likely "
        "mistake: log(mean(exp(log_w))) computed directly; use ut.log_mean_exp (it subtracts the largest first)"
    )


@pytest.mark.parametrize("part", ["enc", "dec"])
def test_gradients_reach_the_encoder_and_the_decoder(call_homework, part):
    model = fixed_vae()
    niwae, _, _ = bound(call_homework, model, fixed_batch(), 5, seed=0)
    assert niwae.requires_grad, (
        "expected niwae to be differentiable, but it has no gradient; likely mistake: a .detach(), .item() or "
        "torch.no_grad() inside negative_iwae_bound"
    )
    niwae.backward()
    gradients = [p.grad for p in getattr(model, part).parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in gradients) and any(
        g.abs().sum() > 0 for g in gradients
    ), (
        f"expected finite, non-zero gradients of niwae in every parameter of model.{part}, got none or zeros; "
        "likely mistake: a .detach(), .item() or torch.no_grad() inside negative_iwae_bound"
    )
