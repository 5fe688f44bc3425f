"""The digit classifier (committed weights, training) and the checks of the grids a student's VAE produced."""

import hashlib
import importlib.util
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from grader.digits import classifier, grids
from grader.instructor.train_classifier import ClassifierTrainConfig, augment, train_classifier

ROOT = Path(__file__).resolve().parents[2]
MNIST = ROOT / "datasets" / "mnist.npz"
REFERENCE_SAMPLES = Path(__file__).resolve().parent / "data" / "reference_samples.png"  # ref VAE, 20k iterations
ACCURACY_MARGIN = 0.005  # the committed weights must reproduce their recorded accuracy within this
MAX_WEIGHTS_BYTES = 1_000_000


@pytest.fixture(scope="module")
def mnist() -> dict[str, np.ndarray]:
    with np.load(MNIST, allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


@pytest.fixture(scope="module")
def binarized(mnist) -> np.ndarray:
    return mnist["x_test_binarized"].astype(np.float32)  # (10000, 784) in {0, 1}


@pytest.fixture(scope="module")
def save_image():
    """torchvision.utils.save_image, imported the way the worker imports it (reference/vision.py)."""
    vision = ROOT / "reference" / "common" / "vision.py"
    spec = importlib.util.spec_from_file_location("reference_vision_for_grid_tests", vision)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.torchvision_utils().save_image


@pytest.fixture
def write_grid(save_image, tmp_path):
    """(n, 784) images in [0, 1] -> a PNG written exactly as reference/run_vae.py:save_image_grid does."""
    counter = iter(range(1_000))

    def write(images, **options) -> Path:
        path = tmp_path / f"grid{next(counter)}.png"
        tensor = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
        save_image(tensor, path, nrow=options.pop("nrow", grids.GRID_COLUMNS), **options)
        return path

    return write


def by_name(checks: list[grids.GridCheck]) -> dict[str, grids.GridCheck]:
    return {check.name: check for check in checks}


# ------------------------------------------------------------------------------------ the classifier


def test_committed_weights_match_their_record():
    record = json.loads(classifier.DEFAULT_RECORD.read_text())
    data = classifier.DEFAULT_WEIGHTS.read_bytes()
    assert len(data) < MAX_WEIGHTS_BYTES
    assert hashlib.sha256(data).hexdigest() == record["sha256"], "weights changed without rerunning train_classifier"
    assert record["architecture"] == classifier.ARCHITECTURE
    assert record["test_accuracy_binarized"] >= 0.98


def test_committed_weights_reach_their_recorded_accuracy(binarized, mnist):
    record = json.loads(classifier.DEFAULT_RECORD.read_text())
    n = record["first_test_digits"]
    probabilities = classifier.predict(binarized[:n])
    assert probabilities.shape == (n, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    accuracy = float((probabilities.argmax(axis=1) == mnist["y_test"][:n]).mean())
    assert accuracy >= record["test_accuracy_binarized_first"] - ACCURACY_MARGIN


def test_predict_takes_square_images_and_tensors(binarized):
    flat = classifier.predict(binarized[:5])
    np.testing.assert_allclose(classifier.predict(binarized[:5].reshape(5, 28, 28)), flat, rtol=1e-6)
    np.testing.assert_allclose(classifier.predict(torch.from_numpy(binarized[:5])), flat, rtol=1e-6)
    assert classifier.predict(np.zeros((0, 784))).shape == (0, 10)


def test_load_classifier_refuses_wrong_or_pickled_weights(tmp_path):
    good = {name: t.numpy() for name, t in classifier.DigitClassifier().state_dict().items()}
    missing = dict(good)
    missing.pop("head.3.bias")
    np.savez(tmp_path / "missing.npz", **missing)
    with pytest.raises(ValueError, match="expected"):
        classifier.load_classifier(tmp_path / "missing.npz")
    wrong_shape = {**good, "head.3.bias": np.zeros(11, dtype=np.float32)}
    np.savez(tmp_path / "shape.npz", **wrong_shape)
    with pytest.raises(ValueError, match=r"head\.3\.bias"):
        classifier.load_classifier(tmp_path / "shape.npz")
    pickled = {**good, "head.3.bias": np.array([object()] * 10, dtype=object)}
    np.savez(tmp_path / "pickled.npz", **pickled)
    with pytest.raises(ValueError, match="cannot read"):
        classifier.load_classifier(tmp_path / "pickled.npz")


def test_augmented_batches_are_mostly_binary_images_in_range(mnist):
    generator = torch.Generator().manual_seed(0)
    x = augment(torch.from_numpy(mnist["x_train"][:256]), ClassifierTrainConfig(), generator)
    assert x.shape == (256, 784) and x.min() >= 0 and x.max() <= 1
    binary_rows = ((x == 0) | (x == 1)).all(dim=1).float().mean().item()
    assert 0.6 < binary_rows < 0.95  # binarized_fraction 0.8 of the images
    assert 0.05 < x.mean().item() < 0.3


def test_training_is_deterministic_for_a_seed(mnist):
    x, y = torch.from_numpy(mnist["x_train"]), torch.from_numpy(mnist["y_train"])
    config = replace(ClassifierTrainConfig(), epochs=1, max_train_images=256)
    first, second = train_classifier(x, y, config), train_classifier(x, y, config)
    other = train_classifier(x, y, replace(config, seed=1))
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name
    assert not all(torch.equal(v, other.state_dict()[k]) for k, v in first.state_dict().items())


def test_saved_weights_reload_identically(tmp_path):
    model = classifier.DigitClassifier()
    classifier.save_weights(model, tmp_path / "a.npz")
    classifier.save_weights(model, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()  # same weights, same sha256
    reloaded = classifier.load_classifier(tmp_path / "a.npz")
    for name, value in model.state_dict().items():
        assert torch.equal(value, reloaded.state_dict()[name])


# ------------------------------------------------------------------------------------ decoding


def test_a_grid_decodes_back_to_its_images_in_order(write_grid, binarized):
    images = binarized[:200]
    decoded = grids.decode_grid(write_grid(images))
    assert decoded.shape == (200, 784) and decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, images)
    grey = np.linspace(0, 1, 200 * 784, dtype=np.float32).reshape(200, 784)
    np.testing.assert_allclose(grids.decode_grid(write_grid(grey)), grey, atol=0.5 / 255 + 1e-6)


def test_the_grid_size_is_the_documented_one(write_grid, binarized):
    path = write_grid(binarized[:200])
    with Image.open(path) as image:
        assert image.size == (grids.GRID_WIDTH, grids.GRID_HEIGHT) == (602, 302)
        assert image.mode == "RGB"


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG") if mode else Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("case, message", [
    ("missing", "not found"),
    ("not_png", "not a PNG"),
    ("truncated", "could not be decoded"),
    ("too_big", "at most"),
    ("wrong_size", "expected 602x302"),
    ("huge_header", "expected 602x302"),
    ("rgba", "mode RGBA"),
    ("colour", "colour"),
    ("padding", "padding"),
])
def test_bad_files_fail_the_decode_check_with_a_reason(case, message, write_grid, binarized, tmp_path):
    path = tmp_path / "samples.png"
    grey = np.zeros((302, 602), dtype=np.uint8)
    if case == "not_png":
        path.write_bytes(b"GIF89a" + bytes(100))
    elif case == "truncated":
        path.write_bytes(write_grid(binarized[:200]).read_bytes()[:2_000])
    elif case == "too_big":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(grids.MAX_PNG_BYTES))
    elif case == "wrong_size":
        path = write_grid(binarized[:199], nrow=10)
    elif case == "huge_header":  # a 602x302 header check comes before any pixel is decoded
        path.write_bytes(png_bytes(np.zeros((4_000, 4_000), dtype=np.uint8)))
    elif case == "rgba":
        path.write_bytes(png_bytes(np.zeros((302, 602, 4), dtype=np.uint8)))
    elif case == "colour":
        colour = np.zeros((302, 602, 3), dtype=np.uint8)
        colour[10, 10] = (255, 0, 0)
        path.write_bytes(png_bytes(colour))
    elif case == "padding":
        grey[0, :] = 255
        path.write_bytes(png_bytes(grey))
    checks = grids.check_samples_grid(path)
    assert [c.name for c in checks] == ["decodes", "not blank or noise", "looks like digits"]
    assert not any(c.passed for c in checks)
    assert message in checks[0].message, checks[0].message
    assert checks[1].message.startswith("not checked")


def test_a_grey_l_mode_png_is_accepted(binarized, tmp_path):
    grid = np.zeros((302, 602), dtype=np.uint8)
    path = tmp_path / "grey.png"
    path.write_bytes(png_bytes(grid))
    assert grids.decode_grid(path).shape == (200, 784)
    with pytest.raises(grids.GridDecodeError, match="not a PNG"):
        grids.decode_grid_bytes(b"\xff\xd8\xff\xe0 a jpeg")


# ------------------------------------------------------------------------------------ samples.png


def test_real_mnist_digits_pass_every_sample_check(write_grid, binarized):
    for start in (0, 200, 4_000):
        checks = by_name(grids.check_samples_grid(write_grid(binarized[start : start + 200])))
        assert all(c.passed for c in checks.values()), [c.message for c in checks.values()]
        assert checks["looks like digits"].figures["classes_found"] == 10


def test_reference_vae_samples_pass_with_a_margin():
    checks = by_name(grids.check_samples_grid(REFERENCE_SAMPLES))
    assert all(c.passed for c in checks.values()), [c.message for c in checks.values()]
    content, digits = checks["not blank or noise"].figures, checks["looks like digits"].figures
    assert digits["classes_found"] >= grids.MIN_CLASSES + 1
    assert digits["confident_fraction"] >= grids.MIN_CONFIDENT_FRACTION + 0.2
    assert content["coherence"] >= grids.COHERENCE_MIN + 0.1
    assert content["plausible_ink_fraction"] >= grids.INK_PLAUSIBLE_FRACTION_MIN


def noise_grids() -> dict[str, tuple[np.ndarray, str]]:
    rng = np.random.default_rng(0)
    return {
        "bernoulli(0.5)": ((rng.random((200, 784)) < 0.5).astype(np.float32), "noise"),
        "sigmoid(0)": (np.full((200, 784), 0.5, dtype=np.float32), "noise"),
        "sparse noise": ((rng.random((200, 784)) < 0.13).astype(np.float32), "noise"),
        "blank": (np.zeros((200, 784), dtype=np.float32), "blank"),
        "all ones": (np.ones((200, 784), dtype=np.float32), "noise"),
    }


@pytest.mark.parametrize("case", sorted(noise_grids()))
def test_noise_and_blank_grids_fail_content_and_digit_checks(case, write_grid):
    images, cause = noise_grids()[case]
    checks = by_name(grids.check_samples_grid(write_grid(images)))
    assert checks["decodes"].passed
    content = checks["not blank or noise"]
    assert not content.passed
    assert cause in content.message and "expected" in content.message and "found" in content.message
    assert not checks["looks like digits"].passed


def test_a_single_repeated_digit_fails_for_lack_of_classes(write_grid, binarized):
    checks = by_name(grids.check_samples_grid(write_grid(np.repeat(binarized[:1], 200, axis=0))))
    assert checks["not blank or noise"].passed  # it is a digit ...
    digits = checks["looks like digits"]
    assert not digits.passed and digits.figures["classes_found"] <= 1  # ... but only one
    assert "classes" in digits.message and "variety" in digits.message


def test_seven_classes_are_not_enough(write_grid, binarized, mnist):
    labels = mnist["y_test"]
    seven = np.concatenate([binarized[labels == c][:28] for c in range(7)] + [binarized[labels == 0][28:32]])
    digits = by_name(grids.check_samples_grid(write_grid(seven)))["looks like digits"]
    assert digits.figures["classes_found"] == 7 and not digits.passed


def test_half_noise_fails(write_grid, binarized):
    rng = np.random.default_rng(1)
    images = np.concatenate([binarized[:100], (rng.random((100, 784)) < 0.5).astype(np.float32)])
    assert not by_name(grids.check_samples_grid(write_grid(images)))["not blank or noise"].passed


def test_check_results_serialize(write_grid, binarized):
    for check in grids.check_samples_grid(write_grid(binarized[:200])):
        document = json.loads(json.dumps(check.to_dict()))
        assert set(document) == {"name", "passed", "message", "figures"}


# ------------------------------------------------------------------------------------ reconstructions.png


@pytest.fixture(scope="module")
def originals(binarized) -> np.ndarray:
    return binarized[:100]


def test_a_close_copy_passes_as_reconstruction(write_grid, originals, mnist):
    rng = np.random.default_rng(0)
    grey = mnist["x_test"][:100].astype(np.float32) / 255
    rebinarized = (rng.random(grey.shape) < grey).astype(np.float32)  # another draw of the same digits
    for bottom in (grey, rebinarized):
        path = write_grid(grids.reconstruction_grid_images(originals, bottom))
        checks = by_name(grids.check_reconstruction_grid(path, originals))
        assert all(c.passed for c in checks.values()), [c.message for c in checks.values()]


@pytest.mark.parametrize("case, cause", [("shuffled", "ignore their input"), ("blank", "blank"),
                                         ("noise", "ignore their input"), ("grey", "ignore their input"),
                                         ("same class", "ignore their input")])
def test_reconstructions_that_do_not_match_fail(case, cause, write_grid, originals, binarized, mnist):
    rng = np.random.default_rng(0)
    labels = mnist["y_test"]
    # another test digit of the same class for each original: the classifier agrees, the overlap does not
    same_class = np.stack([binarized[100:][labels[100:] == label][0] for label in labels[:100]])
    bottom = {"shuffled": binarized[100:200], "same class": same_class, "blank": np.zeros((100, 784), dtype=np.float32),
              "noise": (rng.random((100, 784)) < 0.5).astype(np.float32),
              "grey": np.full((100, 784), 0.5, dtype=np.float32)}[case]
    path = write_grid(grids.reconstruction_grid_images(originals, bottom))
    result = by_name(grids.check_reconstruction_grid(path))["reconstructions"]
    assert not result.passed and cause in result.message, result.message
    assert "expected" in result.message and "found" in result.message


def test_the_top_half_must_be_the_given_originals(write_grid, originals, binarized):
    path = write_grid(grids.reconstruction_grid_images(binarized[100:200], binarized[100:200]))
    result = by_name(grids.check_reconstruction_grid(path, originals))["reconstructions"]
    assert not result.passed and "test digits" in result.message


def test_a_missing_reconstruction_grid_is_reported(tmp_path, originals):
    checks = grids.check_reconstruction_grid(tmp_path / "reconstructions.png", originals)
    assert [c.passed for c in checks] == [False, False] and "not found" in checks[0].message
    checks = grids.check_reconstruction_grid(None, originals)
    assert [c.passed for c in checks] == [False, False] and "not produced" in checks[0].message


def test_checks_take_the_png_bytes_as_received(write_grid, binarized):
    data = write_grid(binarized[:200]).read_bytes()
    assert all(c.passed for c in grids.check_samples_grid(data))
    checks = grids.check_samples_grid(data[:100])
    assert not checks[0].passed and "samples.png could not be decoded" in checks[0].message
    checks = grids.check_samples_grid(None)
    assert not any(c.passed for c in checks) and "samples.png was not produced" in checks[0].message


def test_reconstruction_grid_images_checks_its_shapes(originals):
    assert grids.reconstruction_grid_images(originals, originals).shape == (200, 784)
    with pytest.raises(ValueError, match="100 originals"):
        grids.reconstruction_grid_images(originals[:99], originals[:99])
