"""beta-vae's trusted side: what each worker operation must answer, and the grader's evaluation of a model whose
architecture is the student's own.

The grader cannot load the trained weights into a model of its own, so it evaluates them through the interface,
computing everything that scores with its own code (the reference's ``evaluate_beta``) and its own noise:

* the trained state is loaded into ``BetaVAE()`` in two processes of their own (``GradingSession.isolated``), an
  encoder's, which is given the test images and answers (m, v), and a decoder's, started after the encoder's has
  ended, which is given only latents and answers logits: a model cannot carry an image from encode to decode;
* z = m + sqrt(v) * eps with the grader's eps, the KL from (m, v) and the Bernoulli likelihood of the test images
  under the decoder's logits are computed here; so are the reconstructions (decoded at the encoder's mean) and
  the new images (decoded from z ~ N(0, I) drawn here, pixels drawn here).

What the worker reports of its runs is shown for information and never scored.
"""

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grader.digits import grids
from grader.engine.answers import (
    ANY_DTYPE,
    GRADIENT,
    TEXT,
    VALUE,
    Array,
    ListOf,
    MapOf,
    Number,
    Optional,
    Record,
    Shape,
)
from grader.engine.feedback import WrongAnswer, wrong
from grader.engine.oracle import reference
from grader.grading.session import GradingSession

MAX_ITERATIONS = 10**9
MAX_SECONDS = 10**7
COUNT = Number(0, 2**31, integer=True)
REPORTED_NUMBER = Optional(Number())
PARTS = Record({"returned": VALUE}, optional={"parts": ListOf(VALUE, max_length=4)})
NAMES = ListOf(TEXT, max_length=100_000)
LOSS_CALL = Record(
    {"beta": Number(), "returned": VALUE, "encode_calls": COUNT, "decode_calls": COUNT, "sample_calls": COUNT},
    optional={"parts": ListOf(VALUE, max_length=4), "encoded": PARTS, "decoded_z": VALUE, "decoded": PARTS,
              "sampled_m": VALUE, "sampled_v": VALUE, "grad_error": TEXT, "grad_mean": GRADIENT,
              "encoder_parameters": NAMES, "decoder_parameters": NAMES, "reached_parameters": NAMES},
)
ANSWERS: dict[str, Shape] = {
    "inspect": Record({"state_sizes": MapOf(Number(0, 2**48, integer=True), max_length=100_000),
                       "z_dim": Optional(COUNT), "encoded": PARTS, "encoded_again": PARTS},
                      optional={"decoded": PARTS, "decoded_again": PARTS}),
    "loss": Record({"calls": ListOf(LOSS_CALL, max_length=8)}),
    "step_time": Record({"steps": COUNT}),
    "train": Record({"state": MapOf(Array(ANY_DTYPE), max_length=100_000),
                     "iterations": Number(0, MAX_ITERATIONS, integer=True), "seconds": Number(0, MAX_SECONDS),
                     "diverged_at": Optional(Number(0, MAX_ITERATIONS, integer=True)),
                     "last": MapOf(REPORTED_NUMBER)}),
    "load_model": Record({"loaded": COUNT}),
    "encode": Record({"m": Array(ndim=2), "v": Array(ndim=2)}),
    "decode": Record({"logits": Array(ndim=2)}),
}

DATA_FILE_NAME = "mnist.npz"
IMAGE_PIXELS = 784
CHECK_BATCH = 50  # test images given to the unit checks' calls
LOSS_BETAS = (1.0, 0.0, 0.37)  # the KL weights loss is called with: the first call's gradients are checked too
EVALUATION_SEED = 0  # the grader's noise for z = m + sqrt(v) * eps on the test set
EVALUATION_REPEATS = 2  # single-sample bounds averaged over this many draws of eps
DECODE_CHUNK = 5_000  # latents per decode call: bounds the answer's size (5,000 x 784 float32 = 16 MB)
ENCODE_CHUNK = 5_000  # images per encode call, sent as uint8 (5,000 x 784 bytes = 4 MB)
RECONSTRUCTION_IMAGES = grids.RECONSTRUCTION_PAIRS  # 100 test images, reconstructed at the encoder's mean
CHECKED_SAMPLES = grids.GRID_IMAGES  # 200 new images judged by the sample checks
MODEL_SEED_LABEL = "model"  # check_seed label: the seed of BetaVAE() in the unit checks and the evaluation


@dataclass(frozen=True)
class ReportedRun:
    iterations: int
    seconds: float
    diverged_at: int | None


@dataclass(frozen=True)
class Evaluated:
    """The grader's evaluation of one trained model, from encode's and decode's answers and its own computations."""

    metrics: dict[str, float]
    originals: np.ndarray  # (100, 784) the first binarized test images
    reconstructions: np.ndarray  # (100, 784) pixel probabilities decoded at the encoder's mean
    new_images: np.ndarray  # (200, 784) pixel probabilities decoded from z ~ N(0, I)
    new_samples: np.ndarray  # (200, 784) in {0, 1}: pixels drawn by the grader from new_images


def settings(grading: GradingSession) -> dict:
    return dict(grading.homework.settings)


def data_file(grading: GradingSession) -> Path:
    return next(path for path in grading.homework.data_paths if path.name == DATA_FILE_NAME)


@functools.cache
def binarized_test_set(path: Path) -> torch.Tensor:
    """The fixed binarized test set: (10000, 784) float32 in {0, 1}."""
    with np.load(path, allow_pickle=False) as arrays:
        return torch.from_numpy(arrays["x_test_binarized"]).float()


def formulas(grading: GradingSession) -> object:
    """The reference's evaluate_beta module: the KL, the Bernoulli likelihood and the pixel error, written once."""
    return reference(grading.homework).evaluate_beta


# -- unit-check inputs and calls (untrusted answers) ------------------------------------------------------------


def check_images(grading: GradingSession) -> np.ndarray:
    """CHECK_BATCH binarized test images chosen by the check seed: (CHECK_BATCH, 784) float32."""
    images = binarized_test_set(data_file(grading))
    generator = torch.Generator().manual_seed(grading.check_seed("check images"))
    chosen = torch.randperm(images.shape[0], generator=generator)[:CHECK_BATCH]
    return images[chosen].numpy().copy()


def model_seed(grading: GradingSession) -> int:
    return grading.check_seed(MODEL_SEED_LABEL) % 2**31


def inspected(grading: GradingSession) -> dict:
    def call() -> dict:
        generator = torch.Generator().manual_seed(grading.check_seed("z probe"))
        z_probe = torch.randn(CHECK_BATCH, int(settings(grading)["max_z_dim"]), generator=generator)
        return grading.unit("inspect", seed=model_seed(grading), x=check_images(grading), z_probe=z_probe.numpy())

    return grading.memo("inspect", call)


def noise_seed(grading: GradingSession) -> int:
    return grading.check_seed("loss noise") % 2**31


def loss_calls(grading: GradingSession) -> list[dict]:
    def call() -> list[dict]:
        answer = grading.unit("loss", seed=model_seed(grading), x=check_images(grading),
                              noise_seed=noise_seed(grading), betas=list(LOSS_BETAS))
        if len(answer["calls"]) != len(LOSS_BETAS):
            raise WrongAnswer(f"The grader asked for {len(LOSS_BETAS)} calls of loss and got "
                              f"{len(answer['calls'])} answers.")
        return answer["calls"]

    return grading.memo("loss", call)


def known_noise(grading: GradingSession, shape: tuple[int, ...]) -> np.ndarray:
    """The noise the worker's sample_gaussian drew for a mean of ``shape`` (the same generator and seed)."""
    generator = torch.Generator().manual_seed(noise_seed(grading))
    return torch.randn(shape, generator=generator, dtype=torch.float32).numpy()


# -- the time of a training iteration ---------------------------------------------------------------------------

STEP_TIME_STEPS = 30  # training iterations per timed call
STEP_TIME_REPEATS = 3  # the fastest of this many calls (the first warms up caches and the allocator)


def reference_step_seconds(grading: GradingSession, x: np.ndarray) -> float:
    """The fastest of STEP_TIME_REPEATS runs of STEP_TIME_STEPS iterations of the reference model, timed here."""
    beta_vae = reference(grading.homework).beta_vae
    batch = torch.from_numpy(x)
    fastest = math.inf
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = beta_vae.BetaVAE().train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
        for _ in range(STEP_TIME_REPEATS):
            started = time.perf_counter()
            for _ in range(STEP_TIME_STEPS):
                optimizer.zero_grad(set_to_none=True)
                model.loss(batch, 1.0)[0].backward()
                optimizer.step()
            fastest = min(fastest, time.perf_counter() - started)
    return fastest / STEP_TIME_STEPS


def step_times(grading: GradingSession) -> tuple[float, float]:
    """(the student's, the reference's) seconds per training iteration on a batch of 100 images; the student's
    timed here around each call (its worker's start excluded), the fastest of STEP_TIME_REPEATS calls each."""

    def measure() -> tuple[float, float]:
        images = binarized_test_set(data_file(grading))
        x = images[:100].numpy().copy()  # (100, 784): a training batch's size
        student = math.inf
        for _ in range(STEP_TIME_REPEATS):
            started = time.perf_counter()
            grading.unit("step_time", seed=model_seed(grading), x=x, steps=STEP_TIME_STEPS)
            student = min(student, time.perf_counter() - started - grading.unit_worker.last_start_seconds)
        return student / STEP_TIME_STEPS, reference_step_seconds(grading, x)

    return grading.memo("step time", measure)


# -- the trained models -----------------------------------------------------------------------------------------


def reported(grading: GradingSession, run: str = "main") -> ReportedRun:
    answer = grading.training(run).answer
    return ReportedRun(answer["iterations"], float(answer["seconds"]), answer["diverged_at"])


def trained_state(grading: GradingSession, run: str = "main") -> dict[str, np.ndarray]:
    """The state the training answered, within the parameter budget and finite (else WrongAnswer, said plainly)."""
    state = grading.training(run).answer["state"]
    budget = int(settings(grading)["parameter_budget"])
    numbers = sum(int(array.size) for array in state.values())
    if numbers > budget:
        raise wrong("The trained model's state_dict is over the parameter budget.", f"at most {budget:,} numbers",
                    f"{numbers:,}", "a model that grows during training, or buffers holding data; keep everything "
                    "the model needs in parameters of a fixed size.")
    floating = [array for array in state.values() if array.dtype.kind == "f"]
    if not all(bool(np.isfinite(array).all()) for array in floating):
        raise wrong("The trained weights contain NaN or infinity: the training diverged.", "finite weights",
                    "NaN or infinite weights", "a log of zero or of a negative variance in the loss, or logits "
                    "turned into probabilities before the cross-entropy; check the unit checks above.")
    return state


def run_in_role(grading: GradingSession, run: str, role: str, op: str, inputs: list[np.ndarray],
                name: str) -> list[dict]:
    """Load the trained state in the process of ``role`` and call ``op`` on each input, then end that process."""
    process = f"{run}-{role}"
    try:
        grading.isolated(process, "load_model", seed=model_seed(grading), state=trained_state(grading, run))
        return [grading.isolated(process, op, **{name: array}) for array in inputs]
    finally:
        grading.end_role(process)


def encoded(grading: GradingSession, run: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, v) of the trained model for images x (n, 784), from a process that sees nothing else."""
    images = [x[start : start + ENCODE_CHUNK].astype(np.uint8) for start in range(0, x.shape[0], ENCODE_CHUNK)]
    answers = run_in_role(grading, run, "encoder", "encode", images, "x")
    max_z_dim = int(settings(grading)["max_z_dim"])
    widths = {answer[name].shape[1] for answer in answers for name in ("m", "v")}
    rows = [(answer["m"].shape[0], answer["v"].shape[0]) for answer in answers]
    if len(widths) != 1 or rows != [(len(chunk), len(chunk)) for chunk in images] or not 1 <= min(widths) <= max_z_dim:
        raise wrong("The trained model's encode returned (m, v) of the wrong shapes on the test images.",
                    f"two arrays of shape (images, z_dim) with one z_dim, 1 <= z_dim <= {max_z_dim}",
                    ", ".join(f"{tuple(a['m'].shape)} and {tuple(a['v'].shape)}" for a in answers[:3]),
                    "see check 1.2.")
    m, v = (np.concatenate([answer[name] for answer in answers]) for name in ("m", "v"))
    if not (np.isfinite(m).all() and np.isfinite(v).all() and (v > 0).all()):
        raise wrong("The trained model's encode returned a non-finite mean or a variance that is not positive on "
                    "the test images.", "finite m and v > 0", f"min v {float(np.nanmin(v)):.3g}",
                    "a variance without a floor (softplus(h) can round to 0: add a small constant), or training "
                    "that diverged.")
    return m.astype(np.float32), v.astype(np.float32)


def decoded(grading: GradingSession, run: str, latents: list[np.ndarray]) -> list[np.ndarray]:
    """Logits of the trained model for each array of latents, from a process that is given nothing but latents."""
    answers = run_in_role(grading, run, "decoder", "decode", latents, "z")
    logits = [answer["logits"] for answer in answers]
    for z, found in zip(latents, logits, strict=True):
        if found.shape != (z.shape[0], IMAGE_PIXELS) or not np.isfinite(found).all():
            raise wrong("The trained model's decode returned logits of the wrong shape or not finite.",
                        f"finite logits of shape ({z.shape[0]}, {IMAGE_PIXELS})", f"shape {tuple(found.shape)}",
                        "see checks 1.2 and 1.3.")
    return [found.astype(np.float32) for found in logits]


def evaluated(grading: GradingSession) -> Evaluated:
    """The main model (beta = 1) evaluated by the grader: test NELBO, KL and Rec, reconstructions, new images."""

    def evaluate() -> Evaluated:
        evaluate_beta = formulas(grading)
        x = binarized_test_set(data_file(grading))  # (10000, 784)
        m, v = encoded(grading, "main", x.numpy())  # (10000, z_dim) each
        generator = torch.Generator().manual_seed(EVALUATION_SEED)
        epsilon = torch.randn((EVALUATION_REPEATS, *m.shape), generator=generator)  # (repeats, 10000, z_dim)
        z = torch.from_numpy(m) + torch.from_numpy(v).sqrt() * epsilon  # (repeats, 10000, z_dim)
        flat = z.reshape(-1, m.shape[1]).numpy()  # (repeats * 10000, z_dim)
        generator = torch.Generator().manual_seed(grading.check_seed("new images"))
        prior = torch.randn(CHECKED_SAMPLES, m.shape[1], generator=generator)  # (200, z_dim)
        latents = [flat[start : start + DECODE_CHUNK] for start in range(0, flat.shape[0], DECODE_CHUNK)]
        latents += [m[:RECONSTRUCTION_IMAGES], prior.numpy()]
        logits = decoded(grading, "main", latents)
        # row r of the latents is test image r % 10,000 (repeats stacked): each chunk's images, gathered
        rows = [torch.arange(start, start + chunk.shape[0]) % x.shape[0] for start, chunk
                in zip(range(0, flat.shape[0], DECODE_CHUNK), logits[:-2], strict=True)]
        rec = torch.cat([evaluate_beta.bernoulli_nll(x[chunk_rows], torch.from_numpy(chunk))
                         for chunk_rows, chunk in zip(rows, logits[:-2], strict=True)])  # (repeats * 10000,)
        kl = evaluate_beta.kl_to_standard_normal(torch.from_numpy(m), torch.from_numpy(v))  # (10000,)
        metrics = {"nelbo": float(kl.double().mean() + rec.double().mean()), "kl": float(kl.double().mean()),
                   "rec": float(rec.double().mean())}
        new_images = torch.sigmoid(torch.from_numpy(logits[-1]))  # (200, 784)
        pixels = torch.Generator().manual_seed(grading.check_seed("new image pixels"))
        grading.record_metrics(metrics)
        reconstructions = torch.sigmoid(torch.from_numpy(logits[-2]))  # (100, 784)
        return Evaluated(metrics, x[:RECONSTRUCTION_IMAGES].numpy(), reconstructions.numpy(), new_images.numpy(),
                         torch.bernoulli(new_images, generator=pixels).numpy())

    return grading.memo("evaluated", evaluate)


def beta_zero_reconstructions(grading: GradingSession) -> tuple[np.ndarray, np.ndarray, float]:
    """The beta = 0 model's reconstructions of the first 100 test images (decoded at the encoder's mean): the
    originals, the pixel probabilities, and the pixel error (the share of pixels on the wrong side of 1/2)."""

    def evaluate() -> tuple[np.ndarray, np.ndarray, float]:
        x = binarized_test_set(data_file(grading))[:RECONSTRUCTION_IMAGES]  # (100, 784)
        m, _ = encoded(grading, "beta_zero", x.numpy())
        logits = torch.from_numpy(decoded(grading, "beta_zero", [m])[0])  # (100, 784)
        error = float(formulas(grading).pixel_error(x, logits).mean())
        grading.record_metrics({"beta_zero_pixel_error": error})
        return x.numpy(), torch.sigmoid(logits).numpy(), error

    return grading.memo("beta zero", evaluate)


def evaluation(grading: GradingSession) -> dict[str, float]:
    """Every metric the grader computes of the trained models (what make calibrate records)."""
    metrics = dict(evaluated(grading).metrics)
    metrics["beta_zero_pixel_error"] = beta_zero_reconstructions(grading)[2]
    return metrics


def figure_png(grading: GradingSession) -> bytes:
    """The seed's deliverable, drawn here: 16 test images, their reconstructions, 16 new images (3 rows of 16)."""

    def draw() -> bytes:
        drawn = evaluated(grading)
        columns = int(settings(grading)["figure_columns"])
        rows = np.concatenate([drawn.originals[:columns], drawn.reconstructions[:columns],
                               drawn.new_images[:columns]])  # (3 * columns, 784)
        png = grids.encode_grid(rows, columns)
        grading.add_artifact("figure", png)
        return png

    return grading.memo("figure", draw)
