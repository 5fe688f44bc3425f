"""Every mutant loses points in the unit check that names its mistake, training-stage ones included (no mistake
of the catalogue survives the unit checks); every correct rewrite keeps all. Every hint a grading shows names one
of the submission's true mistakes or is marked as a guess, and never blames another function; every function
without a mistake keeps all its points.

Graded with the unit checks only (GradeConfig(training=False)), two gradings at a time in worker processes, and
batched: since each function is graded on its own, entries whose mistakes lie in different functions share one
grading (``packs``: a sample_gaussian entry, a kl_normal entry and a bound entry in one submission), each function's
checks judged against the entry that owns it. Entries whose point is that another function keeps its points (a
helper wrong under a right bound, mistakes in several functions) are graded alone. The first test that needs a
grading grades every selected pack.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.engine.results import GradeResult
from grader.grading.grade import grade
from grader.grading.session import GradeConfig
from grader.homeworks.vae.diagnose import CLAIM_PREFIX, GUESSES_PREFIX, MISTAKES, read_hints
from grader.instructor.catalogue import Mutant, caught_as_declared, load_catalogue, unit_checks
from tests.conftest import FLAGSHIP

UNIT_ONLY = GradeConfig(training=False, threads=1)
pytestmark = pytest.mark.timeout(3_600)  # the first test grades the whole catalogue (a backstop, not a time check)
PARALLEL_GRADINGS = 2  # the machine's cores; each grading runs one thread
CATALOGUE = load_catalogue(FLAGSHIP)
MUTANTS = [m for m in CATALOGUE if not m.equivalent]
EQUIVALENTS = [m for m in CATALOGUE if m.equivalent]
SECTION_FUNCTIONS = {function.section: function.name for function in FLAGSHIP.functions}
MINIMUM_COMBINATIONS = 40
# Issue 17's three public submissions (graded on 469d35f, 3.1 blamed a KL weight of 106.8 or -210.6, 3.2 a factor or a
# clamp, 3.5 a hard-coded batch size): the mistake each bound check that fails must now name, and nothing else.
ISSUE_CASES = {
    "multi_rec_sign_nelbo_right": {"3.3": {"bound_rec_sign_flipped"}},
    "multi_kl_log_q_only_rec_sign": {"3.2": {"bound_kl_log_q_only"}, "3.3": {"bound_rec_sign_flipped"}},
    "multi_probs_as_logits_kl_sign": {"3.2": {"bound_kl_sign_flipped"}, "3.3": {"bound_sigmoid_twice"}},
}
BOUND_SECTION = "3"
HELPERS_WRONG_BOUND_RIGHT = [m for m in MUTANTS if m.id.startswith("helper_")]  # the bound right, a helper not
FITTED_CAUSES = {"bound_nelbo_kl_weight", "bound_kl_scaled", "bound_hard_coded_batch_size", "bound_hard_coded_z_dim"}


def owned_functions(mutant: Mutant) -> frozenset[str]:
    """The functions whose checks the entry decides: those of its mistakes, or a correct rewrite's own."""
    return frozenset(MISTAKES[tag].function for tag in mutant.mistakes) or frozenset({mutant.function})


def packable(mutant: Mutant) -> bool:
    """An entry in one function whose declared unit checks are that function's own."""
    owned = owned_functions(mutant)
    sections = {section for section, name in SECTION_FUNCTIONS.items() if name in owned}
    return (len(owned) == 1 and not mutant.id.startswith("helper_")
            and all(number.split(".")[0] in sections for number in unit_checks(mutant, FLAGSHIP)))


def applies_cleanly(entries: list[Mutant]) -> bool:
    """The entries' edits, one after another, each find their original exactly once."""
    texts = {name: text for name, text in Mutant("", "", ()).source(FLAGSHIP).items()}
    for edit in (edit for mutant in entries for edit in mutant.edits):
        if texts[edit.file].count(edit.original) != 1:
            return False
        texts[edit.file] = texts[edit.file].replace(edit.original, edit.replacement)
    return True


def packs(entries: list[Mutant]) -> list[tuple[Mutant, ...]]:
    """The gradings: packable entries of different functions together (as many gradings as the function with the most
    entries has), the others alone."""
    columns: dict[str, list[Mutant]] = {}
    alone: list[tuple[Mutant, ...]] = []
    for mutant in entries:
        if packable(mutant):
            columns.setdefault(next(iter(owned_functions(mutant))), []).append(mutant)
        else:
            alone.append((mutant,))
    ordered = sorted(columns.values(), key=len, reverse=True)
    together: list[tuple[Mutant, ...]] = []
    for row in range(len(ordered[0]) if ordered else 0):
        pack: list[Mutant] = []
        for column in ordered:
            if row < len(column):
                if applies_cleanly([*pack, column[row]]):
                    pack.append(column[row])
                else:
                    alone.append((column[row],))
        together.append(tuple(pack))
    return together + alone


def combined(pack: tuple[Mutant, ...]) -> Mutant:
    """One submission with every entry's edits and the union of their true mistakes."""
    if len(pack) == 1:
        return pack[0]
    return Mutant("+".join(mutant.id for mutant in pack), pack[0].function,
                  tuple(edit for mutant in pack for edit in mutant.edits),
                  mistakes=tuple(tag for mutant in pack for tag in mutant.mistakes))


@dataclass(frozen=True)
class Graded:
    result: GradeResult
    submission: Mutant  # what was graded: the entry, or its pack combined


def _grade(mutant: Mutant, scratch: Path) -> GradeResult:
    folder = mutant.write(FLAGSHIP, scratch / mutant.id / "submission")
    return grade(FLAGSHIP, folder, scratch / mutant.id / "out", UNIT_ONLY)


@pytest.fixture(scope="module")
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Graded]:
    """Every catalogue entry the session's selected tests need, graded once in its pack, PARALLEL_GRADINGS at a
    time."""
    wanted = {item.callspec.params["mutant"].id for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec") and "mutant" in item.callspec.params}
    submissions = {pack: combined(pack) for pack in packs([mutant for mutant in CATALOGUE if mutant.id in wanted])}
    scratch = tmp_path_factory.mktemp("catalogue")
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no torch threads inherited from this one
    with ProcessPoolExecutor(PARALLEL_GRADINGS, mp_context=context) as pool:
        results = pool.map(_grade, submissions.values(), [scratch] * len(submissions))
        return {mutant.id: Graded(result, submissions[pack])
                for pack, result in zip(submissions, results, strict=True) for mutant in pack}


def assert_no_grader_fault(result: GradeResult) -> None:
    assert not result.grader_fault, [check.hidden_detail for check in result.checks if check.hidden_detail]


def points_lost_outside_its_functions(mutant: Mutant, result: GradeResult) -> dict[str, str]:
    """Checks of a function with no mistake that lost points: each function is graded on its own."""
    wrong = {MISTAKES[tag].function for tag in mutant.mistakes}
    sections = {section for section, name in SECTION_FUNCTIONS.items() if name not in wrong}
    return {check.number: check.output for check in result.checks
            if check.number.split(".")[0] in sections and check.score < check.max_score}


def hint_problems(mutant: Mutant, result: GradeResult) -> list[str]:
    """Hints that are not a true mistake of the submission (guesses aside), or that blame another function; checks
    that lose points without naming their function."""
    found = []
    for check in result.checks:
        function = SECTION_FUNCTIONS.get(check.number.split(".")[0])
        if function is None or check.score >= check.max_score:
            continue
        if not check.name.startswith(f"{function}:"):
            found.append(f"{check.number} does not name its function {function}: {check.name}")
        hints = read_hints(check.output)
        found += [f"{check.number} claims what no known mistake is: {line}" for line in hints.unnamed]
        if hints.claimed - set(mutant.mistakes):
            found.append(f"{check.number} claims {sorted(hints.claimed - set(mutant.mistakes))}, not among the true "
                         f"mistakes {list(mutant.mistakes)}:\n{check.output}")
        elsewhere = sorted(tag for tag in hints.claimed if MISTAKES[tag].function != function)
        if elsewhere:
            found.append(f"{check.number} ({function}) blames another function's mistakes {elsewhere}")
    return found


def test_every_mutant_declares_a_unit_check_that_catches_it():
    assert [m.id for m in MUTANTS if not unit_checks(m, FLAGSHIP)] == []


def test_every_mutant_names_its_true_mistakes_and_enough_combine_several():
    assert [m.id for m in MUTANTS if not m.mistakes or set(m.mistakes) - set(MISTAKES)] == []
    combinations = [m for m in MUTANTS if len(m.mistakes) >= 2]
    assert len(combinations) >= MINIMUM_COMBINATIONS
    assert sum(len({MISTAKES[tag].function for tag in m.mistakes}) >= 2 for m in combinations) >= 8  # across functions


def test_no_mistake_text_contains_another():
    """A message names a mistake by its text: no text may hide inside another's."""
    texts = [mistake.text for mistake in MISTAKES.values()]
    assert [a for a in texts for b in texts if a != b and a in b] == []


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_the_mutant_is_caught_by_the_check_that_names_it(mutant, graded):
    result, submission = graded[mutant.id].result, graded[mutant.id].submission
    assert_no_grader_fault(result)
    assert caught_as_declared(mutant, result, FLAGSHIP, unit_only=True) == [], mutant.mistake
    assert points_lost_outside_its_functions(submission, result) == {}
    assert hint_problems(submission, result) == []


@pytest.mark.parametrize("mutant", EQUIVALENTS, ids=lambda m: m.id)
def test_a_correct_rewrite_keeps_every_point(mutant, graded):
    result, submission = graded[mutant.id].result, graded[mutant.id].submission
    assert_no_grader_fault(result)
    own = {section for section, name in SECTION_FUNCTIONS.items() if name == mutant.function}
    lost = {check.number: check.output for check in result.checks
            if check.number.split(".")[0] in own and not check.passed}
    assert lost == {}
    assert points_lost_outside_its_functions(submission, result) == {}
    assert hint_problems(submission, result) == []


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.id in ISSUE_CASES], ids=lambda m: m.id)
def test_the_issue_cases_name_only_their_true_mistakes(mutant, graded):
    """No KL weight, factor or hard-coded size is blamed: every claim is a true mistake, each term's check names its
    own, and the checks that fail because of them (3.1, 3.4, 3.5) refer to them or claim nothing new."""
    failed = {check.number: check for check in graded[mutant.id].result.checks
              if check.number.startswith("3.") and check.score < check.max_score}
    claims = {number: read_hints(check.output).claimed for number, check in failed.items()}
    assert {number: claims.get(number, set()) >= expected for number, expected in ISSUE_CASES[mutant.id].items()} == {
        number: True for number in ISSUE_CASES[mutant.id]}, {n: c.output for n, c in failed.items()}
    assert {number: sorted(found - set(mutant.mistakes)) for number, found in claims.items()
            if found - set(mutant.mistakes)} == {}
    assert {number: sorted(found & FITTED_CAUSES) for number, found in claims.items() if found & FITTED_CAUSES} == {}
    hints = {number: [line for line in check.output.splitlines() if line.startswith((CLAIM_PREFIX, GUESSES_PREFIX))]
             for number, check in failed.items()}
    assert {number: lines for number, lines in hints.items()
            if any(word in line for line in lines for word in ("hard-coded", "weight"))} == {}


@pytest.mark.parametrize("mutant", HELPERS_WRONG_BOUND_RIGHT, ids=lambda m: m.id)
def test_a_right_bound_keeps_its_points_whatever_its_helpers(mutant, graded):
    """The starter's kl_normal (or sample_gaussian, or both, or a wrong or deleted one) under a right bound: the
    bound's checks keep every point, and the helper's own checks lose theirs."""
    assert graded[mutant.id].submission is mutant  # graded alone
    result = graded[mutant.id].result
    bound = [check for check in result.checks if check.number.split(".")[0] == BOUND_SECTION]
    assert sum(check.score for check in bound) == sum(check.max_score for check in bound) == FLAGSHIP.section_points()[
        BOUND_SECTION]
    helpers = {MISTAKES[tag].function for tag in mutant.mistakes}
    assert all(any(check.score < check.max_score for check in result.checks
                   if SECTION_FUNCTIONS.get(check.number.split(".")[0]) == name) for name in helpers)


def test_packs_put_each_entry_once_with_at_most_one_per_function():
    gradings = packs(CATALOGUE)
    assert sorted(mutant.id for pack in gradings for mutant in pack) == sorted(mutant.id for mutant in CATALOGUE)
    assert all(sum(len(owned_functions(m)) for m in pack) == len({f for m in pack for f in owned_functions(m)})
               for pack in gradings)
    assert all(len(pack) == 1 for pack in gradings if any(not packable(mutant) for mutant in pack))
    assert len(gradings) < len(CATALOGUE)
