"""Public tests of CVAE.sample_x(y) -> (n, 784) binary images, row i drawn for label y[i]."""

import torch

from cvae import CVAE
from hyperparameters import NUM_CLASSES

PIXELS = 784
LABEL_WEIGHT_SCALE = 8.0
PER_LABEL = 400


def fixed_model() -> CVAE:
    torch.manual_seed(0)
    model = CVAE(z_dim=3)
    with torch.no_grad():
        model.dec.net[0].weight[:, 3:].mul_(LABEL_WEIGHT_SCALE)
    return model


def test_binary_images_one_per_label(call_homework):
    model = fixed_model()
    y = torch.tensor([7, 0, 3, 3, 9])
    with torch.no_grad():
        x = call_homework(model.sample_x, y)
    assert x.shape == (5, PIXELS) and x.dtype == torch.float32
    assert bool(((x == 0) | (x == 1)).all()), "every pixel is drawn: 0 or 1 (torch.bernoulli of the probabilities)"


def test_one_label_only(call_homework):
    with torch.no_grad():
        x = call_homework(fixed_model().sample_x, torch.full((4,), 2))
    assert x.shape == (4, PIXELS), "F.one_hot(y, NUM_CLASSES): without NUM_CLASSES the width is max(y) + 1"


def test_the_samples_follow_their_label(call_homework):
    """The mean image of each label's samples is near the decoder's mean probabilities for that label."""
    model = fixed_model()
    y = torch.arange(NUM_CLASSES).repeat(PER_LABEL)  # (10 * PER_LABEL,) labels interleaved: 0, 1, ..., 9, 0, ...
    torch.manual_seed(1)
    with torch.no_grad():
        x = call_homework(model.sample_x, y)
        z = torch.randn(PER_LABEL * 10, model.z_dim)
        expected = torch.stack([
            torch.sigmoid(model.dec(z, torch.nn.functional.one_hot(torch.full((z.shape[0],), label),
                                                                   NUM_CLASSES).float())).mean(0)
            for label in range(NUM_CLASSES)])  # (10, 784)
    means = torch.stack([x[y == label].mean(0) for label in range(NUM_CLASSES)])  # (10, 784)
    own = (means - expected).abs().mean()
    shifted = (means - expected.roll(1, dims=0)).abs().mean()
    assert own < 0.03, "row i must be drawn for label y[i], with z from the prior (self.sample_z)"
    assert own < shifted, "the samples look more like another label's than their own"
