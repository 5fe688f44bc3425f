"""The cases of the conditional bound's checks: the grader's weights, images, labels and noise, the reference's
(nelbo, kl, rec) and gradients on them, and the values of the mistakes students make, to name them.

The weights are the reference CVAE's seeded initial weights with the label's input columns of both networks scaled
up (LABEL_WEIGHT_SCALE), then trained a few dozen steps on labelled test images, then the encoder's means spread
(ENCODER_MEAN_SCALE). At initialisation the label barely moves the networks' outputs, and a bound that drops it
would differ from the right one by less than the checks' tolerance; this way changing the label moves kl and rec by
nats, the KL is several nats, and rec is in the range training reaches. The noise: torch's generator is seeded
with ``noise_seed`` before each call, so ut.sample_gaussian (or torch.randn_like(qm) written inline) draws the
noise the reference draws here.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from grader.engine.homework import Homework
from grader.engine.oracle import reference
from grader.homeworks.cvae.trusted import test_labels
from grader.homeworks.vae.diagnose import Variant
from grader.homeworks.vae.trusted import binarized_test_set

NUM_CLASSES = 10
IMAGE_PIXELS = 784
LABEL_WEIGHT_SCALE = 8.0
ENCODER_MEAN_SCALE = 2.0
TEST_OFFSET = 3_000  # the cases' images come from the binarized test set, from this image on
TERM_TOLERANCE = {"rtol": 1e-4, "atol": 1e-3}
GRAD_TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}

OneHot = Callable[[torch.Tensor], torch.Tensor]  # labels (batch,) -> what a network is given, (batch, NUM_CLASSES)


def right_one_hot(y: torch.Tensor) -> torch.Tensor:
    return F.one_hot(y, NUM_CLASSES).float()


def no_label(y: torch.Tensor) -> torch.Tensor:
    return torch.zeros(y.shape[0], NUM_CLASSES)


def shifted_label(y: torch.Tensor) -> torch.Tensor:
    return F.one_hot((y + 1) % NUM_CLASSES, NUM_CLASSES).float()


def constant_label(y: torch.Tensor) -> torch.Tensor:
    return F.one_hot(torch.zeros_like(y), NUM_CLASSES).float()


def batch_order_label(y: torch.Tensor) -> torch.Tensor:
    """The labels reversed against the images: each image conditioned on another image's label."""
    return F.one_hot(y.flip(0), NUM_CLASSES).float()


@dataclass(frozen=True)
class Terms:
    nelbo: float
    kl: float
    rec: float

    def as_array(self) -> np.ndarray:
        return np.array([self.nelbo, self.kl, self.rec])


@dataclass(frozen=True)
class BoundCase:
    z_dim: int
    weights: dict[str, np.ndarray]
    x: np.ndarray  # (batch, 784)
    y: np.ndarray  # (batch,) int64: the images' labels
    other_y: np.ndarray  # (batch,) int64: another label for every image (check 1.5)
    noise_seed: int
    right: Terms  # the reference on (x, y)
    right_other: Terms  # the reference on (x, other_y)
    grads: dict[str, np.ndarray]  # of nelbo on (x, y), per parameter
    variants: list[tuple[str, Terms]]  # (explanation, what that mistake returns on (x, y))
    variants_other: list[tuple[str, Terms]]  # the same mistakes on (x, other_y)
    grad_variants: list[tuple[str, dict[str, np.ndarray]]]

    @property
    def batch(self) -> int:
        return self.x.shape[0]

    def term_variants(self, index: int) -> list[Variant]:
        """The named mistakes' values of one term (0 nelbo, 1 kl, 2 rec) on (x, y)."""
        return [(text, np.asarray(terms.as_array()[index])) for text, terms in self.variants]


def case_weights(homework: Homework, z_dim: int, seed: int) -> dict[str, torch.Tensor]:
    """The reference CVAE's initial weights for ``seed``, the label's input columns of both networks scaled up."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = reference(homework).cvae.CVAE(z_dim=z_dim)
    with torch.no_grad():
        model.enc.net[0].weight[:, IMAGE_PIXELS:].mul_(LABEL_WEIGHT_SCALE)
        model.dec.net[0].weight[:, z_dim:].mul_(LABEL_WEIGHT_SCALE)
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def images_and_labels(homework: Homework, seed: int, batch: int, without: int | None = None) -> tuple[torch.Tensor,
                                                                                                      torch.Tensor]:
    """``batch`` test images and their labels from a seeded offset; with ``without``, none of that label."""
    path = homework.data_paths[0]
    x, y = binarized_test_set(path), test_labels(path)
    start = TEST_OFFSET + seed % 3_000
    index = torch.arange(start, x.shape[0])
    if without is not None:
        index = index[y[index] != without]
    index = index[:batch]
    return x[index].clone(), y[index].clone()


def bound_with(ut: object, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, noise_seed: int,
               encoder_label: OneHot = right_one_hot, decoder_label: OneHot = right_one_hot,
               transform: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
               kl_reversed: bool = False, z_sampled: bool = True, sigmoid_logits: bool = False,
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(nelbo, kl, rec) of the reference formula with the case's noise, the networks given the labels as the two
    label functions say; ``transform(kl_per_image, rec_per_image)`` applies a reduction mistake, the flags the
    other mistakes."""
    qm, qv = model.enc(x, encoder_label(y))  # (batch, z_dim) each
    prior = (model.z_prior_m, model.z_prior_v)
    kl = ut.kl_normal(*prior, qm, qv) if kl_reversed else ut.kl_normal(qm, qv, *prior)  # (batch,)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(noise_seed)
        z = qm + torch.sqrt(qv) * torch.randn_like(qm) if z_sampled else qm  # (batch, z_dim)
    logits = model.dec(z, decoder_label(y))  # (batch, 784)
    rec = -ut.log_bernoulli_with_logits(x, torch.sigmoid(logits) if sigmoid_logits else logits)  # (batch,)
    if transform is not None:
        kl, rec = transform(kl, rec)
    kl, rec = kl.mean(), rec.mean()
    return kl + rec, kl, rec


def terms(values: tuple[torch.Tensor, ...]) -> Terms:
    nelbo, kl, rec = (float(value.detach()) for value in values)
    return Terms(nelbo, kl, rec)


def grads_of(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, np.ndarray]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: (p.grad if p.grad is not None else torch.zeros_like(p)).numpy().copy()
            for name, p in model.named_parameters()}


MISTAKES: list[tuple[str, dict[str, object]]] = [
    ("the encoder is not given the label: q(z | x, y) needs y's one-hot beside x, self.enc(x, y_one_hot)",
     {"encoder_label": no_label}),
    ("the decoder is not given the label: p(x | z, y) needs y's one-hot beside z, self.dec(z, y_one_hot)",
     {"decoder_label": no_label}),
    ("neither network is given the label (zeros instead of the one-hot vector): the bound ignores y",
     {"encoder_label": no_label, "decoder_label": no_label}),
    ("the one-hot vector is off by one (label y marked at position y + 1): F.one_hot(y, NUM_CLASSES) marks "
     "position y", {"encoder_label": shifted_label, "decoder_label": shifted_label}),
    ("every image is given the label 0: build the one-hot vector from y itself",
     {"encoder_label": constant_label, "decoder_label": constant_label}),
    ("the labels are out of line with the images (each image got another image's label): row b of the one-hot "
     "vector must be y[b], in the batch's order", {"encoder_label": batch_order_label,
                                                    "decoder_label": batch_order_label}),
    ("kl was summed over the batch instead of averaged (use .mean())",
     {"transform": lambda kl, rec: (kl * kl.shape[0], rec)}),
    ("rec was summed over the batch instead of averaged (use .mean())",
     {"transform": lambda kl, rec: (kl, rec * rec.shape[0])}),
    ("rec was averaged over the 784 pixels: log_bernoulli_with_logits already sums them; then take the batch mean",
     {"transform": lambda kl, rec: (kl, rec / IMAGE_PIXELS)}),
    ("the sign of rec is flipped: rec = -log p(x | z, y), a positive number",
     {"transform": lambda kl, rec: (kl, -rec)}),
    ("the sign of kl is flipped: the KL divergence is positive", {"transform": lambda kl, rec: (-kl, rec)}),
    ("KL(p || q) instead of KL(q || p): kl_normal takes q's mean and variance first, then the prior's",
     {"kl_reversed": True}),
    ("z was not sampled (z = qm): draw it with ut.sample_gaussian(qm, qv)", {"z_sampled": False}),
    ("the decoder's output went through a sigmoid before ut.log_bernoulli_with_logits, which takes logits",
     {"sigmoid_logits": True}),
]


LABEL_MISTAKES = frozenset(text for text, options in MISTAKES if {"encoder_label", "decoder_label"} & set(options))


@functools.cache
def bound_case(homework: Homework, z_dim: int, batch: int, seed: int, without: int | None = None) -> BoundCase:
    """The reference's bound, terms, gradients and named wrong variants on the grader's weights, batch and noise."""
    ref = reference(homework)
    model = ref.cvae.CVAE(z_dim=z_dim)
    model.load_state_dict(pretrained_weights(homework, z_dim, seed))
    with torch.no_grad():
        last = model.enc.net[-1]  # Linear(300, 2 * z_dim): the means first, then the variances
        last.weight[:z_dim].mul_(ENCODER_MEAN_SCALE)
        last.bias[:z_dim].mul_(ENCODER_MEAN_SCALE)
    x, y = images_and_labels(homework, seed, batch, without)
    generator = torch.Generator().manual_seed(seed)
    other_y = (y + torch.randint(1, NUM_CLASSES, y.shape, generator=generator)) % NUM_CLASSES  # every label changed
    if without is not None:
        other_y = torch.where(other_y == without, (other_y + 1) % NUM_CLASSES, other_y)
        other_y = torch.where(other_y == y, (other_y + 1) % NUM_CLASSES, other_y)
    noise_seed = seed % 2**31

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(noise_seed)
        nelbo, kl, rec = model.negative_elbo_bound(x, y)
    grads = grads_of(model, nelbo)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(noise_seed)
        right_other = terms(model.negative_elbo_bound(x, other_y))

    def z_detached_loss() -> torch.Tensor:
        y_one_hot = right_one_hot(y)
        qm, qv = model.enc(x, y_one_hot)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(noise_seed)
            z = (qm + torch.sqrt(qv) * torch.randn_like(qm)).detach()
        kl_value = ref.utils.kl_normal(qm, qv, model.z_prior_m, model.z_prior_v).mean()
        return kl_value - ref.utils.log_bernoulli_with_logits(x, model.dec(z, y_one_hot)).mean()

    grad_variants = [("the value is right but the gradient does not reach the encoder through z: z must not be "
                      "detached (no .detach(), .data or torch.no_grad())", grads_of(model, z_detached_loss()))]
    with torch.no_grad():
        variants = [(text, terms(bound_with(ref.utils, model, x, y, noise_seed, **options)))
                    for text, options in MISTAKES]
        variants_other = [(text, terms(bound_with(ref.utils, model, x, other_y, noise_seed, **options)))
                          for text, options in MISTAKES]
    return BoundCase(
        z_dim=z_dim, weights={name: t.numpy().copy() for name, t in model.state_dict().items()},
        x=x.numpy(), y=y.numpy(), other_y=other_y.numpy(), noise_seed=noise_seed, right=terms((nelbo, kl, rec)),
        right_other=right_other, grads=grads, variants=variants, variants_other=variants_other,
        grad_variants=grad_variants)


PRETRAINING_STEPS = 60  # Adam steps of the reference's bound on test images: a decoder that draws blurry digits
PRETRAINING_RATE = 3e-3
PRETRAINING_BATCH = 100


@functools.cache
def pretrained_weights(homework: Homework, z_dim: int, seed: int) -> dict[str, torch.Tensor]:
    """The case weights after PRETRAINING_STEPS steps on labelled test images (seeded): the decoder's pixel
    probabilities depend on z and on the label, as a trained model's do."""
    model = reference(homework).cvae.CVAE(z_dim=z_dim)
    model.load_state_dict(case_weights(homework, z_dim, seed))
    x, y = images_and_labels(homework, seed, 2_000)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=PRETRAINING_RATE)
        for _ in range(PRETRAINING_STEPS):
            index = torch.randint(0, x.shape[0], (PRETRAINING_BATCH,))
            optimizer.zero_grad(set_to_none=True)
            model.negative_elbo_bound(x[index], y[index])[0].backward()
            optimizer.step()
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
