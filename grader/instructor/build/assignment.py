"""A homework's starter ``assignment/<id>/``: generated from its layers in ``reference/``, checked for staleness.

What it holds, and nothing else: see ``assemble.py`` (the modules with the homework's solutions stripped, the
public tests of its functions, its README.md and its Makefile).
"""

import shutil
from pathlib import Path, PurePosixPath

from grader.engine.homework import Homework
from grader.instructor.build.assemble import BuildError, is_ignored, starter_files
from grader.instructor.build.layout import SHIPPED_DOCUMENTS, TESTS_FOLDER

__all__ = ["BuildError", "check_assignment", "differences", "read_tree", "write_assignment"]


def read_tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` except caches: {posix relative path: content}."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not is_ignored(PurePosixPath(path.relative_to(folder).as_posix()))
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


def check_assignment(homework: Homework, assignment: Path | None = None) -> list[str]:
    """How ``assignment`` (default ``assignment/<id>/``) differs from what the layers generate now (empty: fresh)."""
    return differences(starter_files(homework), read_tree(assignment or homework.assignment_dir))


def _replaceable(folder: Path) -> bool:
    """An empty folder or an earlier starter: safe to delete and write again."""
    if not folder.is_dir():
        return False
    if not any(folder.iterdir()):
        return True
    looks_generated = (folder / TESTS_FOLDER).is_dir() and (folder / SHIPPED_DOCUMENTS[0]).is_file()
    return looks_generated and not (folder / ".git").exists()


def write_assignment(homework: Homework, assignment: Path | None = None) -> list[str]:
    """Regenerate the starter (its old content is removed); returns the files written."""
    assignment = assignment or homework.assignment_dir
    for layer in homework.reference_layers:
        if assignment.resolve() == layer.resolve() or assignment.resolve() in layer.resolve().parents:
            raise BuildError(f"refusing to write the starter into {assignment}: it holds the reference")
    files = starter_files(homework)  # everything is generated before anything is deleted
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
