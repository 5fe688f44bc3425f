"""Public tests of CVAE.negative_elbo_bound(x, y) -> (nelbo, kl, rec), batch means, each image given its label."""

import pytest
import torch

import utils as ut
from cvae import CVAE
from hyperparameters import NUM_CLASSES

Z_DIM = 3
BATCH = 12
LABEL_WEIGHT_SCALE = 8.0  # the label's input weights scaled up: changing the label moves the bound by nats
PIXELS = 784


def fixed_model() -> CVAE:
    torch.manual_seed(0)
    model = CVAE(z_dim=Z_DIM)
    with torch.no_grad():
        model.enc.net[0].weight[:, PIXELS:].mul_(LABEL_WEIGHT_SCALE)
        model.dec.net[0].weight[:, Z_DIM:].mul_(LABEL_WEIGHT_SCALE)
    return model


def fixed_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((BATCH, PIXELS), 0.2), generator=generator)  # (batch, 784)
    y = torch.arange(BATCH) % NUM_CLASSES  # (batch,) every digit, 0 and 1 twice
    return x, y


def bound(call_homework, model: CVAE, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(seed)
    return call_homework(model.negative_elbo_bound, x, y)


def test_three_scalars_with_nelbo_the_sum(call_homework):
    model = fixed_model()
    nelbo, kl, rec = bound(call_homework, model, *fixed_batch())
    for term in (nelbo, kl, rec):
        assert isinstance(term, torch.Tensor) and term.dim() == 0, "each term is a 0-dimensional tensor (.mean())"
    assert nelbo.item() == pytest.approx(kl.item() + rec.item(), rel=1e-5)
    assert kl.item() > 0 and rec.item() > 0


def test_kl_is_the_closed_form_given_the_label(call_homework):
    model = fixed_model()
    x, y = fixed_batch()
    _, kl, _ = bound(call_homework, model, x, y)
    with torch.no_grad():
        qm, qv = model.enc(x, torch.nn.functional.one_hot(y, NUM_CLASSES).float())
        expected = ut.kl_normal(qm, qv, model.z_prior_m, model.z_prior_v).mean()
    assert kl.item() == pytest.approx(expected.item(), rel=1e-4), "kl: ut.kl_normal of q(z | x, y) against the prior"


def test_the_bound_depends_on_the_label(call_homework):
    model = fixed_model()
    x, y = fixed_batch()
    own = torch.stack(bound(call_homework, model, x, y)).detach()
    other = torch.stack(bound(call_homework, model, x, (y + 3) % NUM_CLASSES)).detach()
    assert not torch.allclose(own, other, atol=1e-3), "the encoder and the decoder must both be given y's one-hot"


def test_a_batch_without_the_last_digit(call_homework):
    model = fixed_model()
    x, _ = fixed_batch()
    y = torch.zeros(BATCH, dtype=torch.long)  # only 0s: F.one_hot(y) without NUM_CLASSES would be 1 wide
    nelbo, _, _ = bound(call_homework, model, x, y)
    assert torch.isfinite(nelbo)


def test_gradients_reach_both_networks(call_homework):
    model = fixed_model()
    nelbo, _, _ = bound(call_homework, model, *fixed_batch())
    nelbo.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"no gradient reaches {name}"
