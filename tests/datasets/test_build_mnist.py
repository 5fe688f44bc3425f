import gzip
import pickle

import numpy as np
import pytest

from tests.conftest import ROOT, load_module

build_mnist = load_module(ROOT / "datasets" / "build_mnist.py")


@pytest.fixture(scope="module")
def arrays():
    with np.load(build_mnist.DEFAULT_OUT, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def test_committed_npz_has_the_documented_arrays(arrays):
    expected = {"x_train": ((60000, 784), np.uint8), "y_train": ((60000,), np.uint8),
                "x_test": ((10000, 784), np.uint8), "y_test": ((10000,), np.uint8),
                "x_test_binarized": ((10000, 784), np.uint8)}
    assert {name: (a.shape, a.dtype) for name, a in arrays.items()} == expected
    assert set(np.unique(arrays["x_test_binarized"])) == {0, 1}
    assert arrays["y_train"].max() == 9 and np.bincount(arrays["y_test"]).min() > 800


def test_committed_npz_is_the_official_mnist_byte_for_byte(arrays):
    mnist = build_mnist.Mnist(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])
    build_mnist.verify(mnist)  # raises unless all four IDX MD5s match the official ones


def test_verification_catches_a_single_changed_pixel(arrays):
    x_test = arrays["x_test"].copy()
    x_test[0, 300] ^= 1
    mnist = build_mnist.Mnist(arrays["x_train"], arrays["y_train"], x_test, arrays["y_test"])
    with pytest.raises(build_mnist.DatasetError, match="t10k-images-idx3-ubyte"):
        build_mnist.verify(mnist)


def test_stored_binarization_is_reproducible_from_the_seed(arrays):
    np.testing.assert_array_equal(build_mnist.binarize_test_set(arrays["x_test"]), arrays["x_test_binarized"])
    mean_intensity = arrays["x_test"].mean() / 255
    assert abs(arrays["x_test_binarized"].mean() - mean_intensity) < 1e-3


def test_pickle_and_idx_sources_round_trip(tmp_path, arrays):
    small = build_mnist.Mnist(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])
    for name, data in build_mnist.idx_bytes(small).items():
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1))
    from_idx = build_mnist.read_idx_folder(tmp_path)
    np.testing.assert_array_equal(from_idx.x_test, arrays["x_test"])
    splits = ((arrays["x_train"][:50000] / 256.0).astype(np.float32), arrays["y_train"][:50000].astype(np.int64))
    valid = ((arrays["x_train"][50000:] / 256.0).astype(np.float32), arrays["y_train"][50000:].astype(np.int64))
    test = ((arrays["x_test"] / 256.0).astype(np.float32), arrays["y_test"].astype(np.int64))
    payload = gzip.compress(pickle.dumps((splits, valid, test), protocol=4), compresslevel=1)
    from_pickle = build_mnist.read_pickle(payload)
    np.testing.assert_array_equal(from_pickle.x_train, arrays["x_train"])
    np.testing.assert_array_equal(from_pickle.y_test, arrays["y_test"])


class Boom:
    def __reduce__(self):
        return (print, ("side effect",))


def test_restricted_unpickler_refuses_anything_but_numpy():
    payload = gzip.compress(pickle.dumps(Boom(), protocol=2))
    with pytest.raises(build_mnist.DatasetError, match=r"refusing to unpickle .*print"):
        build_mnist.read_pickle(payload)


def test_pixels_not_of_the_form_k_over_256_are_refused():
    bad = np.full((2, 784), 0.3, np.float32)
    with pytest.raises(build_mnist.DatasetError, match="k/256"):
        build_mnist._floats_to_uint8(bad)
