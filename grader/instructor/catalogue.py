"""A homework's mutant catalogue (``mutants.toml`` in its folder): loading, validation, and turning a mutant into
a submission folder.

A mutant is one realistic mistake, or several made together (or, as ``[[equivalent]]``, a correct rewrite), made as
edits of the homework's reference student files: one edit (``file``, ``original``, ``replacement``) or several
(``[[mutant.edits]]``), each original occurring exactly once in the file it edits. ``mistakes`` names the
submission's true mistakes with the tags its homework's feedback uses, so that a test can hold every hint the
grading shows to them.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader.engine.homework import Homework
from grader.engine.results import GradeResult
from grader.instructor.build.assemble import layered_sources

STAGES = ("unit", "training")


@dataclass(frozen=True)
class Edit:
    file: str
    original: str
    replacement: str


@dataclass(frozen=True)
class Mutant:
    id: str
    function: str
    edits: tuple[Edit, ...]
    mistake: str = ""
    stage: str = "unit"
    fails: tuple[str, ...] = ()  # check numbers; the first names the mistake
    keywords: tuple[str, ...] = ()
    equivalent: bool = False  # a correct rewrite: must keep every point
    mistakes: tuple[str, ...] = ()  # the true mistakes, as tags of the homework's feedback

    @property
    def file(self) -> str:
        return self.edits[0].file

    def source(self, homework: Homework) -> dict[str, str]:
        """The homework's student files with this mutant's edits applied."""
        texts = student_sources(homework)
        for edit in self.edits:
            texts[edit.file] = texts[edit.file].replace(edit.original, edit.replacement)
        return texts

    def write(self, homework: Homework, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.source(homework).items():
            (folder / name).write_text(text)
        return folder


def student_sources(homework: Homework) -> dict[str, str]:
    """The reference's student files (with their solutions): what a perfect submission uploads."""
    sources = layered_sources(homework)
    return {name: sources[name].read_text(encoding="utf-8") for name in homework.student_files}


def write_reference_submission(homework: Homework, folder: Path) -> Path:
    """The reference's student files in ``folder``, as a student would upload them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in student_sources(homework).items():
        (folder / name).write_text(text)
    return folder


def _mutant(entry: dict, equivalent: bool) -> Mutant:
    if "edits" in entry:
        edits = tuple(Edit(e["file"], e["original"], e["replacement"]) for e in entry["edits"])
    else:
        edits = (Edit(entry["file"], entry["original"], entry["replacement"]),)
    return Mutant(
        id=entry["id"], function=entry["function"], edits=edits, mistake=entry.get("mistake", ""),
        stage=entry.get("stage", "unit"), fails=tuple(entry.get("fails", ())),
        keywords=tuple(entry.get("keywords", ())), equivalent=equivalent, mistakes=tuple(entry.get("mistakes", ())),
    )


def load_catalogue(homework: Homework, path: Path | None = None) -> list[Mutant]:
    document = tomllib.loads((path or homework.mutants_file).read_text())
    return ([_mutant(entry, False) for entry in document.get("mutant", [])]
            + [_mutant(entry, True) for entry in document.get("equivalent", [])])


def problems(mutant: Mutant, homework: Homework) -> list[str]:
    """What is wrong with a catalogue entry (empty when it is well formed)."""
    found = []
    functions = [function.name for function in homework.functions]
    if mutant.function not in functions:
        found.append(f"function {mutant.function!r} is not one of {functions}")
    texts = student_sources(homework)
    for edit in mutant.edits:
        if edit.file not in texts:
            found.append(f"file {edit.file!r} is not one of {list(texts)}")
            continue
        count = texts[edit.file].count(edit.original)
        if count != 1:
            found.append(f"the original snippet occurs {count} times in {edit.file}, not once: {edit.original[:60]!r}")
        if edit.original == edit.replacement:
            found.append("an edit's replacement does not change anything")
    if mutant.stage not in STAGES:
        found.append(f"stage {mutant.stage!r} is not one of {STAGES}")
    if not mutant.equivalent and (not mutant.fails or not mutant.keywords or not mutant.mistake):
        found.append("a mutant needs the checks it fails, the message keywords and the mistake")
    if mutant.equivalent and mutant.mistakes:
        found.append("a correct rewrite has no mistakes")
    return found


def unit_sections(homework: Homework) -> set[str]:
    return {function.section for function in homework.functions}


def unit_checks(mutant: Mutant, homework: Homework) -> tuple[str, ...]:
    """The declared failing checks that the unit phase runs (the sections of the homework's functions)."""
    sections = unit_sections(homework)
    return tuple(number for number in mutant.fails if number.split(".")[0] in sections)


def caught_as_declared(mutant: Mutant, result: GradeResult, homework: Homework, unit_only: bool = False) -> list[str]:
    """Why the grade does not show the mutant as the catalogue says (empty when it does).

    ``unit_only``: the grading ran the unit checks only, so only the declared unit checks count.
    """
    checks = {check.number: check for check in result.checks}
    found = []
    if result.score >= result.max_score:
        found.append(f"full score {result.score:g}/{result.max_score:g}")
    for number in unit_checks(mutant, homework) if unit_only else mutant.fails:
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
