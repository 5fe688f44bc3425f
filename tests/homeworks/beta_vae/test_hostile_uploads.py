"""Uploads that break the interface on purpose or by accident: each is the student's outcome, never a fault of the
grader, and loses the points of the checks it breaks."""

import pytest

from grader.instructor.catalogue import Edit, Mutant
from tests.homeworks.beta_vae.conftest import grade_unit_all

ZEROS = "torch.zeros(())"
EVERY_UNIT_CHECK = {"1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.2", "2.3", "2.4", "2.5"}
UPLOADS = {  # id: (edits, the checks that must fail, (a check, a phrase of its message))
    "constant_terms": ((("        return rec + beta * kl, kl, rec",
                         f"        return {ZEROS}, {ZEROS}, {ZEROS}"),), {"1.5", "2.1", "2.2", "2.3", "2.5"},
                       ("2.1", "the relation alone earns nothing")),
    "encode_returns_a_dict": ((("        return m, v\n", "        return {'m': m, 'v': v}\n"),),
                              EVERY_UNIT_CHECK - {"1.1"}, ("1.2", "pair (m, v)")),
    "exit_while_building": ((("        self.z_dim = Z_DIM\n", "        raise SystemExit(0)\n"),),
                            EVERY_UNIT_CHECK, ("1.1", "exit")),
    "huge_logits": ((("        return self.decoder(z)  # (batch, 784)", "        return torch.zeros(20000, 20000)"),),
                    EVERY_UNIT_CHECK, ("1.1", "")),  # killed
    "state_dict_replaced": ((("    def encode(self", "    def state_dict(self, *args, **kwargs):\n"
                              "        return {'weights': 'a string'}\n\n    def encode(self"),),
                            {"1.1", "1.2", "1.3", "1.4"}, ("1.1", "numel")),
}


def upload(name: str) -> Mutant:
    edits, _, _ = UPLOADS[name]
    return Mutant(name, "loss", tuple(Edit("beta_vae.py", old, new) for old, new in edits))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_unit_all(map(upload, UPLOADS), tmp_path_factory.mktemp("uploads"))


@pytest.mark.parametrize("name", UPLOADS)
def test_a_broken_upload_is_the_students_outcome(name, graded):
    result = graded[name]
    assert not result.grader_fault
    failed = {check.number: check for check in result.checks if not check.passed}
    _, expected, (number, phrase) = UPLOADS[name]
    assert set(failed) == expected
    assert phrase.lower() in failed[number].output.lower()
