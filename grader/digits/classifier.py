"""A small MNIST digit classifier that the grader uses to judge a student's VAE samples.

The architecture lives here; ``grader/train_classifier.py`` trains it and writes its weights to
``grader/assets/digit_classifier.npz`` (plain float32 arrays, loaded with ``allow_pickle=False``) and
its record to ``grader/assets/digit_classifier.json``. It was trained on dynamically binarized,
slightly blurred, jittered and pixel-flipped digits so that it reads binary VAE samples as well as
grey digits.
"""

import functools
import io
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

ARCHITECTURE = "lenet-8-16-64"  # recorded in the json; change it whenever the layers below change
IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE  # 784
NUM_CLASSES = 10
ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_WEIGHTS = ASSETS / "digit_classifier.npz"
DEFAULT_RECORD = ASSETS / "digit_classifier.json"
PREDICT_CHUNK = 1_000  # images per forward pass in predict()
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class DigitClassifier(nn.Module):
    """(batch, 784) pixel values in [0, 1] -> (batch, 10) logits.

    conv 5x5 (1 -> 8) -> ReLU -> max-pool 2 -> conv 5x5 (8 -> 16) -> ReLU -> max-pool 2
    -> linear (256 -> 64) -> ReLU -> linear (64 -> 10).
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=5),  # (batch, 8, 24, 24)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (batch, 8, 12, 12)
            nn.Conv2d(8, 16, kernel_size=5),  # (batch, 16, 8, 8)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (batch, 16, 4, 4)
        )
        self.head = nn.Sequential(
            nn.Flatten(),  # (batch, 256)
            nn.Linear(16 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, NUM_CLASSES),  # (batch, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)  # (batch, 1, 28, 28)
        return self.head(self.features(images))  # (batch, 10)


def save_weights(model: DigitClassifier, path: Path) -> None:
    """Write the state dict as float32 arrays into an npz (no pickles), byte-for-byte reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, tensor in model.state_dict().items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, tensor.detach().cpu().float().numpy(), allow_pickle=False)
            # a fixed timestamp: the same weights always give the same bytes, hence the same sha256
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_ZIP_TIME), buffer.getvalue(),
                             compress_type=zipfile.ZIP_DEFLATED)


def load_classifier(path: Path = DEFAULT_WEIGHTS) -> DigitClassifier:
    """A DigitClassifier in eval mode with the weights of ``path``; says what is wrong if they do not fit."""
    model = DigitClassifier()
    expected = model.state_dict()
    try:
        with np.load(path, allow_pickle=False) as arrays:
            found = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError) as error:
        message = f"cannot read classifier weights {path}: {error}; rerun `python -m grader.train_classifier`"
        raise ValueError(message) from error
    if set(found) != set(expected):
        raise ValueError(
            f"classifier weights {path} hold arrays {sorted(found)}, expected {sorted(expected)} "
            f"(architecture {ARCHITECTURE}); rerun `python -m grader.train_classifier`"
        )
    state = {}
    for name, reference in expected.items():
        array = found[name]
        if tuple(array.shape) != tuple(reference.shape) or array.dtype != np.float32:
            raise ValueError(
                f"classifier weight {name} in {path} is {array.dtype}{tuple(array.shape)}, expected "
                f"float32{tuple(reference.shape)}; rerun `python -m grader.train_classifier`"
            )
        state[name] = torch.from_numpy(array.copy())
    model.load_state_dict(state)
    model.eval()
    return model


@functools.lru_cache(maxsize=4)
def _cached_classifier(path: Path) -> DigitClassifier:
    return load_classifier(path)


@torch.no_grad()
def predict(images: np.ndarray | torch.Tensor, model: DigitClassifier | None = None) -> np.ndarray:
    """Class probabilities of images: (n, 784) or (n, 28, 28) values in [0, 1] -> (n, 10) float32.

    Uses the committed weights (loaded once) unless ``model`` is given.
    """
    classifier = model if model is not None else _cached_classifier(DEFAULT_WEIGHTS)
    classifier.eval()
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, IMAGE_PIXELS)  # (n, 784)
    if x.shape[0] == 0:
        return np.zeros((0, NUM_CLASSES), dtype=np.float32)
    chunks = [torch.softmax(classifier(x[start : start + PREDICT_CHUNK]), dim=1)
              for start in range(0, x.shape[0], PREDICT_CHUNK)]
    return torch.cat(chunks).numpy()  # (n, 10)
