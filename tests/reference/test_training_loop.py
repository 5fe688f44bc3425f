"""The tuned training loop keeps its meaning: the same batches, the same bits, the same Adam, reproducible runs.

reference/common/data.py draws its bits with ``torch.rand(...).lt_(p)`` and gathers with ``index_select``;
reference/common/train.py uses Adam with ``fused=True``. These tests compare them with the straightforward code.
"""

from pathlib import Path
from types import ModuleType

import pytest
import torch

from grader.engine.homework import COMMON_LAYER, REFERENCE_DIR
from grader.engine.oracle import reference as homework_reference
from tests.conftest import FLAGSHIP

N_IMAGES, PIXELS, BATCH = 250, 784, 100  # 2 full batches per epoch, 50 images dropped


def reference():
    return homework_reference(FLAGSHIP)


def train_module() -> ModuleType:
    module = reference().train  # imported in the flagship's private namespace, its origin checked
    assert Path(module.__file__).resolve().parent == REFERENCE_DIR / COMMON_LAYER
    return module


def images(seed: int = 0) -> torch.Tensor:
    """(N_IMAGES, 784) uint8 with every intensity 0..255 present."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (N_IMAGES, PIXELS), dtype=torch.uint8, generator=generator)
    x[0, :256] = torch.arange(256, dtype=torch.uint8)
    return x


def straightforward_batches(x_train: torch.Tensor, batch_size: int, generator: torch.Generator):
    n_images = x_train.shape[0]
    while True:
        order = torch.randperm(n_images, generator=generator)
        for start in range(0, n_images - batch_size + 1, batch_size):
            yield torch.bernoulli(x_train[order[start : start + batch_size]].float() / 255.0, generator=generator)


def test_train_batches_are_the_straightforward_batches_across_epochs():
    data = reference().data
    x = images()
    tuned = data.train_batches(x, BATCH, torch.Generator().manual_seed(7))
    plain = straightforward_batches(x, BATCH, torch.Generator().manual_seed(7))
    for _ in range(7):  # three and a half epochs: reshuffles included
        batch = next(tuned)
        assert batch.dtype == torch.float32 and batch.shape == (BATCH, PIXELS)
        assert torch.equal(batch, next(plain))


def test_train_batches_depend_on_the_seed():
    data = reference().data
    x = images()
    first = next(data.train_batches(x, BATCH, torch.Generator().manual_seed(1)))
    second = next(data.train_batches(x, BATCH, torch.Generator().manual_seed(2)))
    assert not torch.equal(first, second)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binarize_draws_the_bits_of_torch_bernoulli_and_leaves_the_generator_alike(seed):
    data = reference().data
    x = images(seed)
    mine, theirs = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    bits = data.binarize(x, mine)
    assert torch.equal(bits, torch.bernoulli(x.float() / 255.0, generator=theirs))
    assert set(bits.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(torch.rand(5, generator=mine), torch.rand(5, generator=theirs))


def test_binarize_without_a_generator_uses_the_global_one():
    data = reference().data
    x = images()
    torch.manual_seed(11)
    bits = data.binarize(x)
    torch.manual_seed(11)
    assert torch.equal(bits, torch.bernoulli(x.float() / 255.0))


def test_binarize_keeps_black_black_and_white_white():
    data = reference().data
    x = torch.tensor([[0] * 392 + [255] * 392], dtype=torch.uint8).repeat(50, 1)  # (50, 784)
    bits = data.binarize(x, torch.Generator().manual_seed(0))
    assert bits[:, :392].sum() == 0 and bits[:, 392:].min() == 1


def weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def trained(seed: int, iterations: int = 20) -> torch.nn.Module:
    train = train_module()
    torch.manual_seed(123)  # the model's initial weights
    model = reference().vae.VAE()
    log = train.train(model, images(), train.TrainConfig(iter_max=iterations, seed=seed, progress=False))
    assert log.iterations == iterations and log.diverged_at is None
    return model


def test_two_runs_with_a_seed_give_identical_weights():
    first, second = trained(seed=3), trained(seed=3)
    assert torch.equal(weights(first), weights(second))
    assert not torch.equal(weights(first), weights(trained(seed=4)))


def test_train_is_the_straightforward_adam_loop_up_to_rounding():
    train = train_module()
    iterations = 20
    tuned = trained(seed=5, iterations=iterations)

    torch.manual_seed(123)
    model = reference().vae.VAE()
    train.seed_everything(5)
    batches = straightforward_batches(images(), BATCH, torch.Generator().manual_seed(5))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=False)  # the textbook per-tensor loop
    model.train()
    for _ in range(iterations):
        optimizer.zero_grad()
        nelbo, _, _ = model.negative_elbo_bound(next(batches))
        nelbo.backward()
        optimizer.step()
    difference = (weights(tuned) - weights(model)).abs().max().item()
    assert difference < 1e-5  # fused and per-tensor Adam differ in float rounding only
    moved = (weights(tuned) - weights(trained(seed=5, iterations=1))).abs().max().item()
    assert moved > 1e-3  # ...which is far below what training changes


def test_dequantize_puts_each_intensity_in_its_own_bin_of_width_one_256th():
    data = reference().data
    x = images()
    pixels = data.dequantize(x, torch.Generator().manual_seed(0))  # (N_IMAGES, 784)
    assert pixels.dtype == torch.float32 and pixels.shape == x.shape
    assert torch.equal(torch.floor(pixels * 256).to(torch.uint8), x)  # k / 256 <= pixel < (k + 1) / 256
    offsets = pixels * 256 - x.float()  # the uniform draws, (N_IMAGES, 784)
    assert 0.48 < offsets.mean().item() < 0.52 and 0.28 < offsets.std().item() < 0.30  # U[0, 1): 0.5, 0.289
    again = data.dequantize(x, torch.Generator().manual_seed(0))
    assert torch.equal(pixels, again) and not torch.equal(pixels, data.dequantize(x, torch.Generator().manual_seed(1)))


def test_train_batches_prepare_the_same_images_in_the_same_order():
    data = reference().data
    x = torch.arange(N_IMAGES, dtype=torch.uint8).unsqueeze(1).repeat(1, PIXELS)  # image i: intensity i everywhere
    binarized = data.train_batches(x, BATCH, torch.Generator().manual_seed(3))
    dequantized = data.train_batches(x, BATCH, torch.Generator().manual_seed(3), data.dequantize)
    for _ in range(7):  # three and a half epochs: the reshuffles stay in step (both draw one uniform per pixel)
        intensities = torch.floor(next(dequantized) * 256)[:, 0]  # (BATCH,) which image each row is
        bits = next(binarized)  # (BATCH, 784)
        assert (bits.mean(dim=1) - intensities / 255).abs().max() < 0.1  # row b: image b's bits (sd 0.018)
