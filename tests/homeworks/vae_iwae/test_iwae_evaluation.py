"""The IWAE evaluation the grader and run_vae.py share (reference/vae-iwae/evaluate_iwae.py), and what the trusted
side reports of it."""

import itertools
import math

import pytest
import torch

from grader.engine.oracle import reference
from grader.homeworks.vae.trusted import binarized_test_set
from grader.homeworks.vae_iwae.trusted import ORDER_METRIC, IWAEEvaluation
from tests.homeworks.vae_iwae.conftest import IWAE

IMAGES = 12
SAMPLES = (1, 10)
UNIT_VARIANCE_BIAS = math.log(math.e - 1)


def binarized_images() -> torch.Tensor:
    return binarized_test_set(IWAE.data_paths[0])


def model(z_dim: int = 10) -> torch.nn.Module:
    torch.manual_seed(3)
    return reference(IWAE).vae.VAE(z_dim=z_dim)


def test_each_bound_is_the_mean_over_images_with_its_standard_error_and_the_state_is_kept():
    evaluator, trained = reference(IWAE).evaluate_iwae, model()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    estimates = evaluator.evaluate_iwae(trained, binarized_images(), SAMPLES, IMAGES)
    assert torch.equal(torch.rand(1), before), "the caller's random state is left as it was"
    again = evaluator.evaluate_iwae(trained, binarized_images(), SAMPLES, IMAGES)
    for iw in SAMPLES:
        per_image = estimates[iw].per_image
        assert per_image.shape == (IMAGES,) and torch.equal(per_image, again[iw].per_image)
        assert estimates[iw].mean == pytest.approx(float(per_image.mean()))
        assert estimates[iw].standard_error == pytest.approx(float(per_image.std()) / math.sqrt(IMAGES))
    assert estimates[10].mean < estimates[1].mean, "ten samples give a tighter bound than one"
    metrics = evaluator.iwae_metrics(estimates)
    assert set(metrics) == {"iwae_1", "iwae_1_se", "iwae_10", "iwae_10_se"}


def test_when_q_is_the_posterior_the_bounds_do_not_tighten_and_the_ordering_fails():
    exact = model()
    with torch.no_grad():  # q(z | x) = p(z) and a decoder that ignores z: every weight is p(x)
        exact.enc.net[-1].weight.zero_()
        exact.enc.net[-1].bias[:10] = 0.0
        exact.enc.net[-1].bias[10:] = UNIT_VARIANCE_BIAS
        exact.dec.net[-1].weight.zero_()
    estimates = reference(IWAE).evaluate_iwae.evaluate_iwae(exact, binarized_images(), SAMPLES, IMAGES)
    difference = estimates[1].per_image - estimates[10].per_image
    assert difference.abs().max() < 1e-3
    found = IWAEEvaluation(SAMPLES, IMAGES, {iw: e.mean for iw, e in estimates.items()},
                           {iw: e.standard_error for iw, e in estimates.items()},
                           {(1, 10): (float(difference.mean()), float(difference.std()) / math.sqrt(IMAGES))}, 0.0)
    assert found.order_margin() < 3.0


def test_the_evaluation_reports_every_declared_iwae_metric():
    evaluator = reference(IWAE).evaluate_iwae
    samples = tuple(evaluator.IW_SAMPLES)
    found = IWAEEvaluation(samples, 5, dict.fromkeys(samples, 1.0), dict.fromkeys(samples, 0.1),
                           {pair: (1.0, 0.1) for pair in itertools.pairwise(samples)}, 0.0)
    declared = {metric.name for metric in IWAE.metrics} - {"nelbo", "kl", "rec"}
    assert set(found.metrics()) == declared and found.metrics()[ORDER_METRIC] == pytest.approx(10.0)
    assert [entry.metric for entry in IWAE.leaderboard] == ["iwae_1000"] and 1_000 in samples
