"""vae-gaussian's part B graded end to end: the starter gets nothing for the new functions; after a short training of
the reference, part B's evaluation (nats and bits per dimension), grids and side-by-side figure; weights that are
not finite fail part B by name while part A is graded on its own."""

import io
import math

import pytest
from PIL import Image

from grader.engine.homework import load_homework
from grader.grading.session import GradeConfig
from grader.instructor.catalogue import write_reference_submission
from tests.homeworks.test_every_homework import embedded_pngs, graded

GAUSSIAN = load_homework("vae-gaussian")
SHORT_TRAINING = 300  # part B's bound: about +708 nats untrained, -1,022 after 300 iterations


def test_the_untouched_starter_gets_nothing_for_part_bs_functions(tmp_path):
    submission = tmp_path / "starter"
    submission.mkdir()
    for name in GAUSSIAN.student_files:
        (submission / name).write_bytes((GAUSSIAN.assignment_dir / name).read_bytes())
    document, tests = graded(GAUSSIAN, submission, tmp_path / "out", GradeConfig(training=False, threads=1))
    assert document["extra_data"]["grader_fault"] is False and document["score"] == 0
    for number in ("6.1", "6.2", "6.3", "7.1", "7.2"):
        assert "Not implemented yet" in tests[number]["output"], tests[number]["output"]


@pytest.mark.slow
def test_a_short_training_grades_part_b_from_the_returned_weights(tmp_path):
    submission = write_reference_submission(GAUSSIAN, tmp_path / "submission")
    out = tmp_path / "out"
    document, tests = graded(GAUSSIAN, submission, out, GradeConfig(iterations=SHORT_TRAINING, threads=2))
    assert document["extra_data"]["grader_fault"] is False
    assert set(tests) == set(GAUSSIAN.points)
    assert set(document["extra_data"]["trainings"]) == {"main", "gaussian"}
    metrics = document["extra_data"]["metrics"]
    nelbo, bpd = metrics["gaussian_nelbo"], metrics["gaussian_bpd"]
    assert -1300 < nelbo < -700  # trained 300 iterations: far below the start's +708, far above a full run's -1,455
    assert bpd == pytest.approx((nelbo + 784 * math.log(256)) / (784 * math.log(2)))
    assert abs(nelbo - metrics["gaussian_kl"] - metrics["gaussian_rec"]) < 1e-3
    unit = [number for number in tests if number.split(".")[0] in ("1", "2", "3", "6", "7")]
    assert all(tests[number]["score"] == tests[number]["max_score"] for number in unit)  # the reference's functions
    assert tests["8.1"]["score"] == tests["8.1"]["max_score"]  # trained and learned
    assert tests["8.2"]["score"] == 0 and "outside the reference band" in tests["8.2"]["output"]  # not a full run
    for name in ("gaussian_means", "gaussian_samples", "comparison"):
        assert (out / f"{name}.png").stat().st_size > 1_000
    with Image.open(io.BytesIO((out / "comparison.png").read_bytes())) as figure:
        assert figure.size[0] > 2.5 * figure.size[1]  # part A's samples, part B's means and samples
    shown = embedded_pngs(tests["9.3"])
    assert (out / "comparison.png").read_bytes() in shown and (out / "gaussian_samples.png").read_bytes() in shown


@pytest.mark.slow
def test_weights_that_are_not_finite_fail_part_b_by_name(tmp_path):
    submission = write_reference_submission(GAUSSIAN, tmp_path / "submission")
    source = (submission / "gaussian_vae.py").read_text()
    poisoned = source.replace("        return nelbo, kl, rec\n",
                              "        self.dec.net[0].bias.data.fill_(float('nan'))  # after this batch\n"
                              "        return nelbo, kl, rec\n", 1)
    assert poisoned != source
    (submission / "gaussian_vae.py").write_text(poisoned)
    document, tests = graded(GAUSSIAN, submission, tmp_path / "out", GradeConfig(iterations=20, threads=2))
    assert document["extra_data"]["grader_fault"] is False
    assert tests["8.1"]["score"] == 0 and "NaN or infinity" in tests["8.1"]["output"]
    assert all(tests[number]["score"] == 0 for number in ("8.2", "9.1", "9.2", "9.3"))
    assert tests["4.1"]["score"] == tests["4.1"]["max_score"]  # part A is graded on its own
