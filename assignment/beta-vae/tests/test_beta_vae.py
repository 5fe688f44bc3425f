"""Public tests of your BetaVAE through its interface: what the grader's unit checks ask, on your own model.

They run in seconds; ``make test``. The grader also trains your model and evaluates it itself (see README.md).
"""

import math

import pytest
import torch
from torch.nn import functional as F

import beta_vae
import utils
from beta_vae import BetaVAE
from hyperparameters import IMAGE_SIZE, MAX_Z_DIM, PARAMETER_BUDGET

BATCH = 8
BETAS = (1.0, 0.0, 0.37)
TOLERANCE = 1e-4


def binary_batch(seed: int = 0) -> torch.Tensor:
    """(BATCH, 784) binary images with about 20 % ones (the share of ink in MNIST)."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(BATCH, IMAGE_SIZE, generator=generator) < 0.2).float()


@pytest.fixture
def model(call_homework) -> BetaVAE:
    torch.manual_seed(0)
    return call_homework(BetaVAE)


def encoded(call_homework, model: BetaVAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    returned = call_homework(model.encode, x)
    assert isinstance(returned, tuple) and len(returned) == 2, "encode must return a pair (m, v)"
    return returned


def test_builds_within_the_budget(model):
    numbers = sum(tensor.numel() for tensor in model.state_dict().values())
    assert 0 < numbers <= PARAMETER_BUDGET, f"{numbers:,} numbers in the state_dict; the budget is {PARAMETER_BUDGET:,}"


def test_encode_and_decode_shapes(call_homework, model):
    m, v = encoded(call_homework, model, binary_batch())
    assert m.dim() == 2 and m.shape[0] == BATCH and 1 <= m.shape[1] <= MAX_Z_DIM, f"m has shape {tuple(m.shape)}"
    assert v.shape == m.shape, f"v has shape {tuple(v.shape)}, m {tuple(m.shape)}"
    assert m.dtype == v.dtype == torch.float32
    logits = call_homework(model.decode, torch.randn(BATCH, m.shape[1]))
    assert logits.shape == (BATCH, IMAGE_SIZE) and logits.dtype == torch.float32


def test_variance_is_positive(call_homework, model):
    _, v = encoded(call_homework, model, binary_batch())
    assert bool((v > 0).all()), f"smallest v {v.min().item():.3g}: v is the variance (softplus + floor, or exp)"


def test_deterministic_in_eval_mode(call_homework, model):
    model.eval()
    x, z = binary_batch(), torch.randn(BATCH, encoded(call_homework, model, binary_batch())[0].shape[1])
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model.encode(x), model.encode(x), strict=True)), \
            "encode differs between two calls in eval mode: dropout that ignores model.eval()?"
        assert torch.equal(model.decode(z), model.decode(z)), "decode differs between two calls in eval mode"


class Recorded:
    """What encode, sample_gaussian and decode returned during one loss call."""

    def __init__(self, model: BetaVAE, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, list] = {"encode": [], "sample_gaussian": [], "decode": []}
        encode, decode, sample = model.encode, model.decode, utils.sample_gaussian
        monkeypatch.setattr(model, "encode", lambda x: self.keep("encode", encode(x)))
        monkeypatch.setattr(model, "decode", lambda z: self.keep("decode", (z, decode(z))))
        recording = lambda m, v: self.keep("sample_gaussian", sample(m, v))  # noqa: E731
        monkeypatch.setattr(utils, "sample_gaussian", recording)
        for name, value in list(vars(beta_vae).items()):  # from utils import sample_gaussian [as ...]
            if value is sample:
                monkeypatch.setattr(beta_vae, name, recording)

    def keep(self, name: str, value: object) -> object:
        self.calls[name].append(value)
        return value[1] if name == "decode" else value


@pytest.mark.parametrize("beta", BETAS)
def test_loss_terms_and_total(call_homework, model, monkeypatch, beta):
    x = binary_batch()
    recorded = Recorded(model, monkeypatch)
    total, kl, rec = call_homework(model.loss, x, beta)
    for name, term in (("total", total), ("kl", kl), ("rec", rec)):
        assert term.dim() == 0 and math.isfinite(term.item()), f"{name} must be a finite scalar (a batch mean)"
    assert total.item() == pytest.approx(rec.item() + beta * kl.item(), rel=TOLERANCE, abs=TOLERANCE), \
        "total must be rec + beta * kl"
    assert all(recorded.calls[name] for name in recorded.calls), \
        f"loss must call self.encode, utils.sample_gaussian and self.decode: calls {recorded.calls.keys()}"
    m, v = recorded.calls["encode"][0]
    z, logits = recorded.calls["decode"][0]
    expected_kl = 0.5 * (v + m.pow(2) - 1 - torch.log(v)).sum(-1).mean()
    expected_rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1).mean()
    assert kl.item() == pytest.approx(expected_kl.item(), rel=TOLERANCE), "kl: sum over z, mean over the batch"
    assert rec.item() == pytest.approx(expected_rec.item(), rel=TOLERANCE), \
        "rec: cross-entropy of x under decode's logits, summed over the 784 pixels, mean over the batch"
    assert z is recorded.calls["sample_gaussian"][0], "decode must get the z that utils.sample_gaussian(m, v) drew"


def test_gradient_reaches_the_encoder_through_z(call_homework, model, monkeypatch):
    x = binary_batch()
    recorded = Recorded(model, monkeypatch)
    total, _, _ = call_homework(model.loss, x, 0.0)  # beta = 0: only rec, so the encoder learns through z alone
    m, _ = recorded.calls["encode"][0]
    m.retain_grad()
    total.backward()
    assert m.grad is not None and bool(m.grad.abs().sum() > 0), \
        "with beta = 0 the encoder gets no gradient: z must be m + sqrt(v) * eps, not detached"
