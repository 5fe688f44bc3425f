"""The student starter ``assignment/``: generated from ``reference/``, checked for staleness.

What it holds, and nothing else: every ``reference/*.py`` with its solutions stripped (files without
markers unchanged), ``reference/tests/`` (the public tests), ``README.md`` and ``Makefile``.
"""

import shutil
from pathlib import Path

from grader.build.layout import IGNORED_NAMES, IGNORED_SUFFIXES, SHIPPED_DOCUMENTS, TESTS_FOLDER
from grader.build.solutions import strip_file


class BuildError(RuntimeError):
    """A build that cannot go on; the message says what is wrong and what to do."""


def is_ignored(relative: Path) -> bool:
    """Caches and bytecode: never shipped, never compared."""
    return any(part in IGNORED_NAMES for part in relative.parts) or relative.name.endswith(IGNORED_SUFFIXES)


def assignment_files(reference: Path) -> dict[str, bytes]:
    """The starter, file by file: {posix path relative to the assignment folder: content}, sorted by path."""
    if not reference.is_dir():
        raise BuildError(f"reference folder {reference} not found")
    files: dict[str, bytes] = {}
    for path in sorted(reference.glob("*.py")):
        files[path.name] = strip_file(path).encode("utf-8")
    for name in SHIPPED_DOCUMENTS:
        path = reference / name
        if not path.is_file():
            raise BuildError(f"{path} is missing: the starter ships it; create it in reference/")
        files[name] = path.read_bytes()
    tests = reference / TESTS_FOLDER
    if not tests.is_dir():
        raise BuildError(f"{tests} is missing: the starter ships the public tests from there")
    for path in sorted(tests.rglob("*")):
        relative = path.relative_to(reference)
        if path.is_file() and not is_ignored(relative):
            files[relative.as_posix()] = strip_file(path).encode("utf-8") if path.suffix == ".py" else path.read_bytes()
    return dict(sorted(files.items()))


def read_tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` except caches: {posix relative path: content}."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not is_ignored(path.relative_to(folder))
    }


def differences(expected: dict[str, bytes], actual: dict[str, bytes]) -> list[str]:
    """'missing: x', 'extra: y', 'changed: z' lines, sorted by path; empty when the two trees agree."""
    lines = []
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            lines.append(f"missing: {name}")
        elif name not in expected:
            lines.append(f"extra: {name}")
        elif expected[name] != actual[name]:
            lines.append(f"changed: {name}")
    return lines


def check_assignment(reference: Path, assignment: Path) -> list[str]:
    """How ``assignment`` differs from what ``reference`` generates now (empty: up to date)."""
    return differences(assignment_files(reference), read_tree(assignment))


def _replaceable(folder: Path) -> bool:
    """An empty folder or an earlier starter: safe to delete and write again."""
    if not folder.is_dir():
        return False
    if not any(folder.iterdir()):
        return True
    looks_generated = (folder / TESTS_FOLDER).is_dir() and (folder / SHIPPED_DOCUMENTS[0]).is_file()
    return looks_generated and not (folder / ".git").exists()


def write_assignment(reference: Path, assignment: Path) -> list[str]:
    """Regenerate ``assignment`` from ``reference`` (its old content is removed); returns the files written."""
    if assignment.resolve() == reference.resolve() or assignment.resolve() in reference.resolve().parents:
        raise BuildError(f"refusing to write the starter into {assignment}: it holds the reference")
    files = assignment_files(reference)  # everything is generated before anything is deleted
    if assignment.exists():
        if not _replaceable(assignment):
            raise BuildError(f"refusing to replace {assignment}: it is neither empty nor a generated starter "
                             f"(no {TESTS_FOLDER}/ and {SHIPPED_DOCUMENTS[0]}); choose an empty or new folder")
        shutil.rmtree(assignment)
    for name, content in files.items():
        path = assignment / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return list(files)
