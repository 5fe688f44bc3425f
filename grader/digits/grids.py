"""Checks of digit images on the trusted side, and the grids that show them.

The grader draws its grids itself from the returned weights (``encode_grid``), in the layout of
``reference/common/run_vae.py:save_image_grid``, i.e. ``torchvision.utils.save_image(images, nrow=20)`` with
the default padding of 2 black pixels:

* ``samples.png``: 200 samples of ``sample_x`` in 10 rows of 20 (602 x 302 pixels);
* ``reconstructions.png``: the same layout, 100 test digits in the top 5 rows and their reconstructions
  in the bottom 5 rows, in the same column order (image k of the top half is reconstructed as image
  100 + k); ``reconstruction_grid_images`` builds that order.

A grid PNG that did not come from the grader (a student's file in a batch report) is decoded defensively: a
cap on the file size, the exact expected dimensions read from the header before any pixel is decoded, PIL's
decompression-bomb limit turned into an error, an allowed mode, grey content (R = G = B) and black padding.

Every check returns a ``GridCheck``: passed, a message saying what was expected, what was found and
the likely cause, and the figures measured. The thresholds below were measured on grids from the
reference VAE (20,000 and 2,000 iterations, seed 0), on real MNIST test digits and on noise and blanks;
the figures are in the comments.
"""

import io
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from grader.digits.classifier import IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES, predict

# ---- layout (torchvision.utils.save_image(..., nrow=20), padding 2, pad value 0) ----
GRID_ROWS, GRID_COLUMNS = 10, 20
GRID_IMAGES = GRID_ROWS * GRID_COLUMNS  # 200
PADDING = 2
CELL = IMAGE_SIDE + PADDING  # 30: one image and the padding before it
GRID_WIDTH = GRID_COLUMNS * CELL + PADDING  # 602
GRID_HEIGHT = GRID_ROWS * CELL + PADDING  # 302
RECONSTRUCTION_PAIRS = GRID_IMAGES // 2  # 100 originals on top, their 100 reconstructions below

# ---- defensive decoding ----
MAX_PNG_BYTES = 2_000_000  # a 602x302 RGB PNG is at most ~0.55 MB even uncompressed; honest ones are 10-120 KB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALLOWED_MODES = ("RGB", "L")  # save_image writes RGB; a grey (L) file holds the same information
GREY_TOLERANCE = 1  # max difference (of 255) between the R, G and B of a pixel
PADDING_TOLERANCE = 1  # max value (of 255) of a padding pixel

# ---- blank / noise ----
# Ink of an image = its mean pixel value. Measured (mean; 1st-99th percentile of the 200 images):
#   binarized MNIST test digits 0.119 (0.041-0.207); over all 10,000: min 0.027, max 0.333, none outside 0.02-0.35
#   reference VAE samples (4 seeds of sample_x): 20k iterations 0.123-0.136 (0.042-0.264), 100% in range;
#   2k iterations 0.117-0.132 (0.032-0.255), 99-100% in range
#   Bernoulli(0.5) noise 0.501, sigmoid(0) grey 0.502, all ones 1.0, blank 0.0: 0% in range
INK_MIN, INK_MAX = 0.02, 0.35
INK_PLAUSIBLE_FRACTION_MIN = 0.9  # share of the images whose ink is in [INK_MIN, INK_MAX]
# Coherence (see ink_coherence): MNIST 0.70; reference VAE samples 20k 0.63-0.66, 2k 0.60-0.62, 300 iterations
# 0.48, 200 iterations 0.44. Independent noise scores its own ink, so noise with ink in range scores <= 0.35
# (Bernoulli(0.13) 0.13); Bernoulli(0.5) and sigmoid(0) score 0.50 but fail on ink.
COHERENCE_MIN = 0.45

# ---- looks like digits ----
# confident fraction = share of images with classifier confidence >= CONFIDENCE_THRESHOLD. Measured:
#   MNIST test digits: 10 classes, 0.95-0.98 confident; reference VAE 20k (two runs x 4 sample seeds):
#   10 classes (>= 3 per class), 0.60-0.66 confident, mean confidence 0.86-0.89;
#   2k iterations (4 sample seeds): 10 classes (>= 5 per class), 0.47-0.56 confident; 300 iterations 10, 0.32;
#   200 iterations 8, 0.19; decoding z = 0 for every image (samples that ignore z): 1-2 classes;
#   200 different digits of one class: 1 class (at most 3 with >= 1 confident image, 2 with >= 2);
#   a single repeated digit: 1 class; Bernoulli(0.5): 1 class, 0.04; Bernoulli(0.13), sigmoid(0), blank, ones: 0.
CONFIDENCE_THRESHOLD = 0.9
MIN_CONFIDENT_PER_CLASS = 2  # a class counts when at least this many images are confidently of it
MIN_CLASSES = 8
MIN_CONFIDENT_FRACTION = 0.25

# ---- reconstructions ----
# overlap = mean soft Dice of each pair; class agreement = share of pairs the classifier labels alike. Measured
# on the first 100 binarized test digits:
#   reference VAE 20k (two runs): overlap 0.73-0.75, agreement 0.93-0.95 (sigmoid or Bernoulli outputs);
#   2k: 0.69 / 0.91-0.92; 200 iterations 0.49 / 0.56;
#   another draw of the same digits (re-binarized grey) 0.84 / 1.0; mismatched pairs (shuffled, prior samples)
#   0.32 / 0.06-0.10; another digit of the same class 0.40 / 1.0; noise or sigmoid(0) 0.19 / 0.01; blank 0 / 0.14.
RECONSTRUCTION_OVERLAP_MIN = 0.5
RECONSTRUCTION_CLASS_AGREEMENT_MIN = 0.7
ORIGINALS_TOLERANCE = 1.5 / 255  # the top half must equal the expected test digits up to 8-bit rounding


class GridDecodeError(ValueError):
    """The file is not the expected grid PNG; the message says what was expected and what was found."""


@dataclass(frozen=True)
class GridCheck:
    name: str
    passed: bool
    message: str
    figures: dict[str, float | int | list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ decoding


def decode_grid_bytes(data: bytes, what: str = "the grid") -> np.ndarray:
    """PNG bytes of a 10x20 grid -> (200, 784) float32 pixel values in [0, 1], row by row.

    Raises GridDecodeError when the bytes are not exactly such a grid.
    """
    if len(data) > MAX_PNG_BYTES:
        raise GridDecodeError(f"{what} is {len(data):,} bytes; expected a PNG of at most {MAX_PNG_BYTES:,} bytes")
    if not data.startswith(PNG_SIGNATURE):
        raise GridDecodeError(f"{what} is not a PNG file (its first bytes are {data[:8]!r})")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
                size, mode = image.size, image.mode
                if size != (GRID_WIDTH, GRID_HEIGHT):
                    raise GridDecodeError(
                        f"{what} is {size[0]}x{size[1]} pixels; expected {GRID_WIDTH}x{GRID_HEIGHT} "
                        f"({GRID_ROWS} rows x {GRID_COLUMNS} columns of {IMAGE_SIDE}x{IMAGE_SIDE} images, "
                        f"padding {PADDING}); the number or the shape of the saved images is wrong"
                    )
                if mode not in ALLOWED_MODES:
                    raise GridDecodeError(f"{what} has PIL mode {mode}; expected one of {', '.join(ALLOWED_MODES)}")
                image.load()
                pixels = np.asarray(image, dtype=np.uint8)
        except GridDecodeError:
            raise
        except Exception as error:  # untrusted bytes: any failure of the decoder means "not a valid grid"
            raise GridDecodeError(f"{what} could not be decoded as a PNG: {error}") from error
    if pixels.ndim == 3:  # (height, width, 3)
        spread = int((pixels.max(axis=2).astype(np.int16) - pixels.min(axis=2)).max())
        if spread > GREY_TOLERANCE:
            raise GridDecodeError(
                f"{what} has colour (R, G, B differ by up to {spread}); expected a grey grid as save_image "
                "writes for one-channel images"
            )
        pixels = pixels[:, :, 0]
    return _cut_cells(pixels, what)


def _cut_cells(pixels: np.ndarray, what: str) -> np.ndarray:
    """(302, 602) uint8 -> (200, 784) float32 in [0, 1], checking that the padding is black."""
    inside_rows = np.arange(GRID_HEIGHT) % CELL >= PADDING  # (302,)
    inside_columns = np.arange(GRID_WIDTH) % CELL >= PADDING  # (602,)
    padding = ~(inside_rows[:, None] & inside_columns[None, :])  # (302, 602)
    brightest = int(pixels[padding].max())
    if brightest > PADDING_TOLERANCE:
        raise GridDecodeError(
            f"{what} has non-black padding (up to {brightest}/255) between the images; expected "
            f"{GRID_ROWS}x{GRID_COLUMNS} images with {PADDING} black pixels around each, as "
            f"save_image(..., nrow={GRID_COLUMNS}) writes"
        )
    cells = pixels[PADDING:, PADDING:].reshape(GRID_ROWS, CELL, GRID_COLUMNS, CELL)[:, :IMAGE_SIDE, :, :IMAGE_SIDE]
    images = cells.transpose(0, 2, 1, 3).reshape(GRID_IMAGES, IMAGE_PIXELS)  # (200, 784), row by row
    return images.astype(np.float32) / 255.0


def encode_grid(images: np.ndarray, columns: int = GRID_COLUMNS) -> bytes:
    """(n, 784) values in [0, 1] -> the PNG bytes of a grid of ``columns`` images per row, laid out as
    torchvision's save_image lays them out (grey, 2 black pixels of padding, values rounded as it rounds them).
    A 10 x 20 grid is what ``decode_grid_bytes`` reads back."""
    x = np.clip(np.asarray(images, dtype=np.float64).reshape(-1, IMAGE_SIDE, IMAGE_SIDE), 0.0, 1.0)
    count = x.shape[0]
    rows = -(-count // columns)
    padded = np.zeros((rows * columns, IMAGE_SIDE, IMAGE_SIDE))
    padded[:count] = x
    cells = np.floor(padded * 255 + 0.5).astype(np.uint8).reshape(rows, columns, IMAGE_SIDE, IMAGE_SIDE)
    pixels = np.zeros((rows * CELL + PADDING, columns * CELL + PADDING), np.uint8)  # black padding
    body = pixels[PADDING:, PADDING:].reshape(rows, CELL, columns, CELL)
    body[:, :IMAGE_SIDE, :, :IMAGE_SIDE] = cells.transpose(0, 2, 1, 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def decode_grid(path: Path) -> np.ndarray:
    """Read and decode a grid PNG file: (200, 784) float32 in [0, 1]. Raises GridDecodeError."""
    path = Path(path)
    if not path.is_file():
        raise GridDecodeError(f"{path.name} was not found")
    size = path.stat().st_size
    if size > MAX_PNG_BYTES:
        raise GridDecodeError(f"{path.name} is {size:,} bytes; expected a PNG of at most {MAX_PNG_BYTES:,} bytes")
    with path.open("rb") as handle:
        data = handle.read(MAX_PNG_BYTES + 1)
    return decode_grid_bytes(data, path.name)


# ------------------------------------------------------------------------------------------------ figures


def ink_fractions(images: np.ndarray) -> np.ndarray:
    """Mean pixel value of each image: (n, 784) -> (n,). Binary MNIST digits ink about 13% of their pixels."""
    return np.asarray(images, dtype=np.float64).reshape(-1, IMAGE_PIXELS).mean(axis=1)


def ink_coherence(images: np.ndarray) -> float:
    """How often the right and lower neighbours of an inked pixel are inked, pooled over all images.

    Strokes give high values; independent noise gives its own ink level (Bernoulli(p) pixels -> p, a
    uniform grey level g -> g). 0 for blank images.
    """
    x = np.asarray(images, dtype=np.float64).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)  # (n, 28, 28)
    joint = (x[:, :, :-1] * x[:, :, 1:]).sum() + (x[:, :-1, :] * x[:, 1:, :]).sum()
    alone = x[:, :, :-1].sum() + x[:, :-1, :].sum()
    return float(joint / alone) if alone > 0 else 0.0


def overlaps(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Soft Dice overlap of image pairs, 2 sum(a b) / (sum a + sum b): (n, 784) twice -> (n,) in [0, 1]."""
    a = np.asarray(first, dtype=np.float64).reshape(-1, IMAGE_PIXELS)
    b = np.asarray(second, dtype=np.float64).reshape(-1, IMAGE_PIXELS)
    total = a.sum(axis=1) + b.sum(axis=1)
    return np.where(total > 0, 2 * (a * b).sum(axis=1) / np.maximum(total, 1e-12), 0.0)


def reconstruction_grid_images(originals: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """The order of reconstructions.png: 100 originals, then their 100 reconstructions -> (200, 784)."""
    top = np.asarray(originals, dtype=np.float32).reshape(-1, IMAGE_PIXELS)
    bottom = np.asarray(reconstructions, dtype=np.float32).reshape(-1, IMAGE_PIXELS)
    if top.shape != (RECONSTRUCTION_PAIRS, IMAGE_PIXELS) or bottom.shape != top.shape:
        raise ValueError(f"expected {RECONSTRUCTION_PAIRS} originals and {RECONSTRUCTION_PAIRS} reconstructions of "
                         f"{IMAGE_PIXELS} pixels, got {top.shape} and {bottom.shape}")
    return np.concatenate([top, bottom])  # (200, 784)


# ------------------------------------------------------------------------------------------------ checks


GridSource = Path | bytes | None  # a PNG file, its bytes as received from the worker, or None: not produced


def check_grid_file(
    source: GridSource, what: str = "samples.png", name: str = "decodes"
) -> tuple[GridCheck, np.ndarray | None]:
    """The grid exists and is a 602x302 grey PNG with black padding; returns the check and the (200, 784) images."""
    if isinstance(source, str | Path):
        what = Path(source).name
    try:
        if source is None:
            raise GridDecodeError(f"{what} was not produced")
        images = decode_grid_bytes(source, what) if isinstance(source, bytes) else decode_grid(Path(source))
    except GridDecodeError as error:
        missing = source is None or (not isinstance(source, bytes) and not Path(source).is_file())
        cause = ("training or saving did not finish (crash, timeout or an exception in sample_x)" if missing
                 else "the saved images do not have the expected number or shape")
        return GridCheck(name, False, f"{error}. Likely cause: {cause}.", {}), None
    figures = {"width": GRID_WIDTH, "height": GRID_HEIGHT, "images": int(images.shape[0])}
    return GridCheck(name, True, f"{what}: {GRID_ROWS}x{GRID_COLUMNS} grid of {IMAGE_SIDE}x{IMAGE_SIDE} "
                     "images decoded", figures), images


def check_not_blank_or_noise(images: np.ndarray, name: str = "not blank or noise") -> GridCheck:
    """Most images ink a digit-like share of their pixels, in strokes rather than scattered noise."""
    ink = ink_fractions(images)  # (n,)
    plausible = float(((ink >= INK_MIN) & (ink <= INK_MAX)).mean())
    coherence = ink_coherence(images)
    mean_ink = float(ink.mean())
    figures = {"mean_ink": round(mean_ink, 4), "plausible_ink_fraction": round(plausible, 4),
               "coherence": round(coherence, 4), "blank_images": int((ink < INK_MIN).sum()),
               "overinked_images": int((ink > INK_MAX).sum())}
    expected = (f"expected at least {INK_PLAUSIBLE_FRACTION_MIN:.0%} of the images to ink between {INK_MIN:.0%} and "
                f"{INK_MAX:.0%} of their pixels, in strokes (ink coherence >= {COHERENCE_MIN:.2f})")
    found = (f"found mean ink {mean_ink:.3f}, {plausible:.0%} of images in range, coherence {coherence:.2f}")
    passed = plausible >= INK_PLAUSIBLE_FRACTION_MIN and coherence >= COHERENCE_MIN
    if passed:
        return GridCheck(name, True, f"images look like strokes: {found}", figures)
    if mean_ink < INK_MIN:
        cause = ("the images are (almost) blank: the decoder's logits are very negative, e.g. training diverged, "
                 "the reconstruction term has the wrong sign or NaN weights were saved")
    elif mean_ink > INK_MAX or coherence < COHERENCE_MIN:
        cause = ("the images look like noise or a flat grey: an untrained or broken decoder (sigmoid(0) = 0.5 "
                 "everywhere), a wrong sample_gaussian, or a KL/reconstruction term that did not train the model")
    else:
        cause = "many images are blank or over-inked: the model is only partly trained"
    return GridCheck(name, False, f"{expected}; {found}. Likely cause: {cause}.", figures)


def check_looks_like_digits(
    images: np.ndarray, name: str = "looks like digits", probabilities: np.ndarray | None = None,
    min_classes: int = MIN_CLASSES,
) -> GridCheck:
    """The digit classifier finds at least ``min_classes`` of the 10 classes, each confidently, in the images."""
    probs = predict(images) if probabilities is None else np.asarray(probabilities)  # (n, 10)
    confidence = probs.max(axis=1)  # (n,)
    labels = probs.argmax(axis=1)  # (n,)
    confident = confidence >= CONFIDENCE_THRESHOLD
    counts = np.bincount(labels[confident], minlength=NUM_CLASSES)  # (10,)
    found_classes = [int(c) for c in np.flatnonzero(counts >= MIN_CONFIDENT_PER_CLASS)]
    confident_fraction = float(confident.mean())
    figures = {"classes_found": len(found_classes), "class_counts": [int(c) for c in counts],
               "mean_confidence": round(float(confidence.mean()), 4),
               "confident_fraction": round(confident_fraction, 4)}
    found = (f"found {len(found_classes)} classes ({', '.join(map(str, found_classes)) or 'none'}) with "
             f"{confident_fraction:.0%} of the images classified confidently (mean confidence "
             f"{confidence.mean():.2f})")
    passed = len(found_classes) >= min_classes and confident_fraction >= MIN_CONFIDENT_FRACTION
    if passed:
        return GridCheck(name, True, f"the samples look like digits: {found}", figures)
    expected = (f"expected at least {min_classes} of the 10 digit classes, each in at least "
                f"{MIN_CONFIDENT_PER_CLASS} images with classifier confidence >= {CONFIDENCE_THRESHOLD}, and at least "
                f"{MIN_CONFIDENT_FRACTION:.0%} of the images confident")
    if confident_fraction < MIN_CONFIDENT_FRACTION:
        cause = "the images are not recognizable digits: the model is untrained, diverged or only partly trained"
    else:
        cause = ("the samples lack variety (few classes): the samples may ignore z (e.g. a wrong sample_gaussian "
                 "or a collapsed posterior) or the model is only partly trained")
    return GridCheck(name, False, f"{expected}; {found}. Likely cause: {cause}.", figures)


def check_reconstructions(
    images: np.ndarray, originals: np.ndarray | None = None, name: str = "reconstructions"
) -> GridCheck:
    """The bottom half of the grid reconstructs the top half, pair by pair (overlap and classifier agreement).

    ``originals``, when given, are the (100, 784) test digits the grader chose: the top half must be them.
    """
    x = np.asarray(images, dtype=np.float32).reshape(-1, IMAGE_PIXELS)
    top, bottom = x[:RECONSTRUCTION_PAIRS], x[RECONSTRUCTION_PAIRS:]  # (100, 784) each
    if originals is not None:
        expected_top = np.asarray(originals, dtype=np.float32).reshape(-1, IMAGE_PIXELS)
        if expected_top.shape != top.shape:
            raise ValueError(f"originals must be {RECONSTRUCTION_PAIRS} images of {IMAGE_PIXELS} pixels, "
                             f"got {expected_top.shape}")
        difference = float(np.abs(top - expected_top).max())
        if difference > ORIGINALS_TOLERANCE:
            message = (f"expected the top {RECONSTRUCTION_PAIRS // GRID_COLUMNS} rows to be the {RECONSTRUCTION_PAIRS} "
                       f"test digits given to the worker; they differ by up to {difference:.3f}. Likely cause: the "
                       "grid was not made by the grader's worker or the images were reordered.")
            return GridCheck(name, False, message, {"originals_difference": round(difference, 4)})
    pair_overlap = overlaps(top, bottom)  # (100,)
    shifted_overlap = overlaps(top, np.roll(bottom, 1, axis=0))  # mismatched pairs: the chance level
    top_labels = predict(top).argmax(axis=1)
    bottom_labels = predict(bottom).argmax(axis=1)
    agreement = float((top_labels == bottom_labels).mean())
    overlap = float(pair_overlap.mean())
    figures = {"overlap": round(overlap, 4), "mismatched_overlap": round(float(shifted_overlap.mean()), 4),
               "class_agreement": round(agreement, 4), "reconstruction_ink": round(float(bottom.mean()), 4)}
    found = (f"found mean overlap {overlap:.2f} (mismatched pairs: {shifted_overlap.mean():.2f}) and the classifier "
             f"agreeing on {agreement:.0%} of pairs")
    passed = overlap >= RECONSTRUCTION_OVERLAP_MIN and agreement >= RECONSTRUCTION_CLASS_AGREEMENT_MIN
    if passed:
        return GridCheck(name, True, f"the reconstructions resemble their originals: {found}", figures)
    expected = (f"expected each reconstruction to resemble the digit above it: mean overlap >= "
                f"{RECONSTRUCTION_OVERLAP_MIN} and the classifier agreeing on >= "
                f"{RECONSTRUCTION_CLASS_AGREEMENT_MIN:.0%} of pairs")
    if float(bottom.mean()) < INK_MIN:
        cause = "the reconstructions are blank: the decoder outputs very negative logits (diverged or wrong sign)"
    else:
        cause = ("the reconstructions ignore their input: the encoder is not trained (e.g. the KL term dominates, "
                 "posterior collapse) or z is not drawn from q(z | x)")
    return GridCheck(name, False, f"{expected}; {found}. Likely cause: {cause}.", figures)


def _skipped(name: str, reason: GridCheck) -> GridCheck:
    return GridCheck(name, False, f"not checked: {reason.message}", {})


def check_samples_grid(source: GridSource) -> list[GridCheck]:
    """All checks of samples.png (a path, the PNG bytes or None): decodes, not blank or noise, looks like digits."""
    decoded, images = check_grid_file(source, "samples.png")
    later: list[tuple[str, Callable[[np.ndarray], GridCheck]]] = [
        ("not blank or noise", check_not_blank_or_noise), ("looks like digits", check_looks_like_digits)]
    if images is None:
        return [decoded] + [_skipped(name, decoded) for name, _ in later]
    return [decoded] + [check(images, name) for name, check in later]


def check_reconstruction_grid(source: GridSource, originals: np.ndarray | None = None) -> list[GridCheck]:
    """All checks of reconstructions.png (a path, the PNG bytes or None): decodes, then the bottom half
    reconstructs the top half (``originals``: the (100, 784) test digits the worker was given, if known)."""
    decoded, images = check_grid_file(source, "reconstructions.png")
    if images is None:
        return [decoded, _skipped("reconstructions", decoded)]
    return [decoded, check_reconstructions(images, originals)]
