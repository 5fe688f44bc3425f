"""Public tests of GaussianVAE.negative_elbo_bound(x): three scalars, nelbo = kl + rec, gradients, and rec computed
with the decoder's variance as a variance."""

import torch

import utils as ut
from gaussian_vae import GaussianVAE

BATCH = 8


def model_and_batch() -> tuple[GaussianVAE, torch.Tensor]:
    torch.manual_seed(0)
    return GaussianVAE(z_dim=4), torch.rand(BATCH, 784)  # (batch, 784) pixels in [0, 1)


def test_returns_three_scalars_with_nelbo_equal_to_kl_plus_rec(call_homework):
    model, x = model_and_batch()
    nelbo, kl, rec = call_homework(model.negative_elbo_bound, x)
    for name, term in (("nelbo", nelbo), ("kl", kl), ("rec", rec)):
        assert isinstance(term, torch.Tensor) and term.dim() == 0, f"{name} must be a scalar tensor"
    assert torch.allclose(nelbo, kl + rec, atol=1e-4), "nelbo must be kl + rec"
    assert kl.item() >= 0, "a KL divergence is never negative"


def test_rec_is_the_gaussian_log_density_with_the_decoders_variance(call_homework):
    model, x = model_and_batch()
    torch.manual_seed(1)
    _, _, rec = call_homework(model.negative_elbo_bound, x)
    torch.manual_seed(1)
    qm, qv = model.enc(x)
    z = ut.sample_gaussian(qm, qv)  # the same draw, from the same seed
    mean, variance = model.dec(z)
    expected = -torch.distributions.Normal(mean, variance.sqrt()).log_prob(x).sum(-1).mean()
    assert torch.allclose(rec, expected, rtol=1e-4), (
        f"rec: expected {expected.item():.3f}, got {rec.item():.3f}; rec = -log N(x; mean, variance) summed over the "
        "784 pixels and averaged over the batch, with (mean, variance) = self.dec(z) and z from ut.sample_gaussian")


def test_gradients_reach_both_networks(call_homework):
    model, x = model_and_batch()
    nelbo, _, _ = call_homework(model.negative_elbo_bound, x)
    nelbo.backward()
    for name, network in (("encoder", model.enc), ("decoder", model.dec)):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in network.parameters()), (
            f"no gradient reaches the {name}: is z drawn with ut.sample_gaussian (not detached)?")
