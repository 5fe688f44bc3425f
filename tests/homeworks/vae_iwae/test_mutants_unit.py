"""Every mistake of vae-iwae's catalogue loses points in the check that names it, with the expected words; every
correct rewrite keeps all of the bound's points. Graded on the bound's checks only, with fixed inputs (conftest)."""

import pytest

from grader.instructor.catalogue import Edit, Mutant, caught_as_declared, load_catalogue, student_sources
from tests.homeworks.vae_iwae.conftest import IWAE, IWAE_BOUND_ONLY

CATALOGUE = load_catalogue(IWAE)
REFERENCE_VAE = student_sources(IWAE)["vae.py"]
# negative_elbo_bound's body in the reference, from its first line of code to its return
ELBO_RETURN = "        return nelbo, kl, rec\n"
ELBO_SOLUTION = REFERENCE_VAE[REFERENCE_VAE.index("        qm, qv = self.enc(x)  # (batch, z_dim) each\n        kl ="):
                              REFERENCE_VAE.index(ELBO_RETURN) + len(ELBO_RETURN)]
STUB = '        raise NotImplementedError("negative_elbo_bound: not implemented yet")\n'
STARTER_UTILS = (student_sources(IWAE)["utils.py"], (IWAE.assignment_dir / "utils.py").read_text())
MUTANTS = [m for m in CATALOGUE if not m.equivalent]
EQUIVALENTS = [m for m in CATALOGUE if m.equivalent]


def assert_no_grader_fault(result):
    assert not result.grader_fault, [check.hidden_detail for check in result.checks if check.hidden_detail]


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_the_mutant_is_caught_by_the_check_that_names_it(mutant, grade_bound):
    result = grade_bound(mutant)
    assert_no_grader_fault(result)
    assert caught_as_declared(mutant, result, IWAE_BOUND_ONLY, unit_only=True) == [], mutant.mistake
    failed = {check.number for check in result.checks if not check.passed}
    assert failed == set(mutant.fails), "the catalogue lists exactly the checks a mistake fails"


@pytest.mark.parametrize("mutant", EQUIVALENTS, ids=lambda m: m.id)
def test_a_correct_rewrite_keeps_every_point(mutant, grade_bound):
    result = grade_bound(mutant)
    assert_no_grader_fault(result)
    assert {check.number: check.output for check in result.checks if not check.passed} == {}
    assert result.score == result.max_score == IWAE_BOUND_ONLY.max_score


def test_the_bound_keeps_its_points_when_the_helpers_it_calls_are_not_written(grade_bound):
    """The grader's sample_gaussian, kl_normal and negative_elbo_bound stand in for the student's during the bound's
    checks: a right bound that calls the starter's stubs is graded on its own."""
    helpers_missing = Mutant(
        id="starter_helpers", function="negative_iwae_bound", equivalent=True,
        edits=(Edit("utils.py", *STARTER_UTILS),
               Edit("vae.py", ELBO_SOLUTION, STUB),
               Edit("vae.py", "        kl = (log_qz - log_pz).mean()\n        rec = -log_px_given_z.mean()\n"
                              "        return niwae, kl, rec\n",
                    "        _, kl, rec = self.negative_elbo_bound(x)\n"
                    "        kl = ut.kl_normal(qm, qv, self.z_prior_m, self.z_prior_v).mean()\n"
                    "        return niwae, kl, rec\n")))
    result = grade_bound(helpers_missing)
    assert_no_grader_fault(result)
    assert {check.number: check.output for check in result.checks if not check.passed} == {}
