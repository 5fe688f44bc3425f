"""The mutant catalogue (mutants.toml): loading, validation, and turning a mutant into a submission folder."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader.results import GradeResult

CATALOGUE = Path(__file__).resolve().parent / "mutants.toml"
REFERENCE = Path(__file__).resolve().parents[2] / "reference"
STUDENT_FILES = ("utils.py", "vae.py")
FUNCTIONS = ("sample_gaussian", "kl_normal", "negative_elbo_bound")
STAGES = ("unit", "training")
UNIT_SECTIONS = ("1", "2", "3")


@dataclass(frozen=True)
class Mutant:
    id: str
    function: str
    file: str
    original: str
    replacement: str
    mistake: str = ""
    stage: str = "unit"
    fails: tuple[str, ...] = ()  # check numbers; the first names the mistake
    keywords: tuple[str, ...] = ()
    equivalent: bool = False  # a correct rewrite: must keep every point

    def source(self, reference: Path = REFERENCE) -> dict[str, str]:
        """The two student files with this mutant applied."""
        texts = {name: (reference / name).read_text() for name in STUDENT_FILES}
        texts[self.file] = texts[self.file].replace(self.original, self.replacement)
        return texts

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.source().items():
            (folder / name).write_text(text)
        return folder


def _mutant(entry: dict, equivalent: bool) -> Mutant:
    return Mutant(
        id=entry["id"], function=entry["function"], file=entry["file"], original=entry["original"],
        replacement=entry["replacement"], mistake=entry.get("mistake", ""), stage=entry.get("stage", "unit"),
        fails=tuple(entry.get("fails", ())), keywords=tuple(entry.get("keywords", ())), equivalent=equivalent,
    )


def load_catalogue(path: Path = CATALOGUE) -> list[Mutant]:
    document = tomllib.loads(path.read_text())
    return ([_mutant(entry, False) for entry in document.get("mutant", [])]
            + [_mutant(entry, True) for entry in document.get("equivalent", [])])


def problems(mutant: Mutant, reference: Path = REFERENCE) -> list[str]:
    """What is wrong with a catalogue entry (empty when it is well formed)."""
    found = []
    if mutant.function not in FUNCTIONS:
        found.append(f"function {mutant.function!r} is not one of {FUNCTIONS}")
    if mutant.file not in STUDENT_FILES:
        found.append(f"file {mutant.file!r} is not one of {STUDENT_FILES}")
        return found
    count = (reference / mutant.file).read_text().count(mutant.original)
    if count != 1:
        found.append(f"the original snippet occurs {count} times in reference/{mutant.file}, not once")
    if mutant.original == mutant.replacement:
        found.append("the replacement does not change anything")
    if mutant.stage not in STAGES:
        found.append(f"stage {mutant.stage!r} is not one of {STAGES}")
    if not mutant.equivalent and (not mutant.fails or not mutant.keywords or not mutant.mistake):
        found.append("a mutant needs the checks it fails, the message keywords and the mistake")
    return found


def unit_checks(mutant: Mutant) -> tuple[str, ...]:
    """The declared failing checks that the unit phase runs (sections 1 to 3)."""
    return tuple(number for number in mutant.fails if number.split(".")[0] in UNIT_SECTIONS)


def caught_as_declared(mutant: Mutant, result: GradeResult, unit_only: bool = False) -> list[str]:
    """Why the grade does not show the mutant as the catalogue says (empty when it does).

    ``unit_only``: the grading ran the unit checks only, so only the declared unit checks (1.x to 3.x) count.
    """
    checks = {check.number: check for check in result.checks}
    found = []
    if result.score >= result.max_score:
        found.append(f"full score {result.score:g}/{result.max_score:g}")
    for number in unit_checks(mutant) if unit_only else mutant.fails:
        check = checks.get(number)
        if check is None:
            found.append(f"check {number} did not run")
        elif check.passed or check.score >= check.max_score:
            found.append(f"check {number} ({check.name}) passed")
    first = checks.get(mutant.fails[0]) if mutant.fails else None
    if first is not None and not first.passed:
        message = first.output.lower()
        missing = [word for word in mutant.keywords if word.lower() not in message]
        if missing:
            found.append(f"check {first.number}'s message lacks {missing}:\n{first.output}")
    return found
