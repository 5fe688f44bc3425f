"""A homework's source assembled from its layers in ``reference/``, and the starter made from it.

The layers are ``reference/<id>/``, its bases' folders, then ``reference/common/``; the first layer that holds
a path provides it. What a homework ships:

* every top-level ``*.py`` module but those its declaration omits (``omit``), ``README.md`` (from the
  homework's own layers: the common layer has none) and ``Makefile`` (its ``@STUDENT_FILES@`` replaced by
  the files students upload);
* ``tests/``: from the common layer, ``conftest.py`` and ``test_<function>.py`` of the homework's own
  functions only; from the homework's own layers, every file.

In the starter, the solution regions of the homework's functions are replaced by TODOs; every other
region (a function another homework assigns) keeps its solution, without its markers.
"""

from pathlib import Path, PurePosixPath

from grader.engine.homework import COMMON_LAYER, Homework
from grader.instructor.build.layout import (
    IGNORED_NAMES,
    IGNORED_SUFFIXES,
    SHIPPED_DOCUMENTS,
    STUDENT_FILES_PLACEHOLDER,
    TESTS_FOLDER,
)
from grader.instructor.build.solutions import find_regions, provided_lines, solution_lines, strip_solutions


class BuildError(RuntimeError):
    """A build that cannot go on; the message says what is wrong and what to do."""


def is_ignored(relative: PurePosixPath) -> bool:
    """Caches and bytecode: never shipped, never compared."""
    return any(part in IGNORED_NAMES for part in relative.parts) or relative.name.endswith(IGNORED_SUFFIXES)


def _ships(relative: PurePosixPath, common: bool, functions: set[str]) -> bool:
    if len(relative.parts) == 1:
        return relative.suffix == ".py" or relative.name in SHIPPED_DOCUMENTS
    if relative.parts[0] != TESTS_FOLDER:
        return False
    if not common or relative.name == "conftest.py" or len(relative.parts) > 2:
        return True
    return not relative.name.startswith("test_") or relative.stem.removeprefix("test_") in functions


def layered_sources(homework: Homework) -> dict[str, Path]:
    """{posix path in the homework: the file that provides it}, sorted by path."""
    layers = homework.reference_layers
    if not layers:
        raise BuildError(f"homework {homework.id}: no reference/{homework.id}/ or reference/{COMMON_LAYER}/ folder")
    functions = {function.name for function in homework.functions}
    chosen: dict[str, Path] = {}
    for layer in layers:
        common = layer.name == COMMON_LAYER
        for path in sorted(layer.rglob("*")):
            relative = PurePosixPath(path.relative_to(layer).as_posix())
            if relative.as_posix() in homework.omitted:
                continue
            if path.is_file() and not is_ignored(relative) and _ships(relative, common, functions):
                chosen.setdefault(relative.as_posix(), path)
    for name in (*SHIPPED_DOCUMENTS, *homework.student_files):
        if name not in chosen:
            raise BuildError(f"homework {homework.id}: {name} is in none of its layers "
                             f"({', '.join(str(layer) for layer in layers)}); create it")
    return dict(sorted(chosen.items()))


def reference_files(homework: Homework) -> dict[str, bytes]:
    """The homework's full source (solutions and markers as written): what the grader's oracle imports."""
    return {name: path.read_bytes() for name, path in layered_sources(homework).items()}


def _check_regions(homework: Homework, sources: dict[str, Path]) -> None:
    """Every function students write has a region in its file; no region of theirs hides in a provided file."""
    own: dict[str, set[str]] = {}  # function name -> the student files that declare it (a name may be in two)
    for function in homework.functions:
        own.setdefault(function.name, set()).add(function.file)
    for name, path in sources.items():
        if not name.endswith(".py"):
            continue
        for region in find_regions(path.read_text(encoding="utf-8"), str(path)):
            if region.function in own and name not in own[region.function]:
                written_in = ", ".join(sorted(own[region.function]))
                raise BuildError(f"{path}:{region.begin_line}: a solution region of {region.function}, which "
                                 f"students write in {written_in}, would ship in the provided {name}")
    for function in homework.functions:
        text = sources[function.file].read_text(encoding="utf-8")
        if not any(region.function == function.name for region in find_regions(text, function.file)):
            raise BuildError(f"homework {homework.id}: {function.file} ({sources[function.file]}) has no solution "
                             f"region in {function.name}: the starter would ship its solution")


def functions_in(homework: Homework, file: str) -> set[str]:
    """The functions students write in ``file`` (empty for a provided file): the regions its starter strips."""
    return {function.name for function in homework.functions if function.file == file}


def starter_files(homework: Homework) -> dict[str, bytes]:
    """The starter, file by file: {posix path relative to assignment/<id>/: content}, sorted by path."""
    sources = layered_sources(homework)
    _check_regions(homework, sources)
    files: dict[str, bytes] = {}
    for name, path in sources.items():
        if name.endswith(".py"):
            text = path.read_bytes().decode("utf-8")
            files[name] = strip_solutions(text, str(path), functions_in(homework, name))
            files[name] = files[name].encode("utf-8")  # type: ignore[assignment]
        elif name == "Makefile":
            text = path.read_text(encoding="utf-8")
            if STUDENT_FILES_PLACEHOLDER not in text:
                raise BuildError(f"{path} has no {STUDENT_FILES_PLACEHOLDER} to fill in with the student files")
            files[name] = text.replace(STUDENT_FILES_PLACEHOLDER, " ".join(homework.student_files)).encode("utf-8")
        else:
            files[name] = path.read_bytes()
    return files


def secret_lines(homework: Homework) -> set[str]:
    """Solution code lines of the homework's own functions that appear nowhere in what it ships."""
    solutions: set[str] = set()
    provided: set[str] = set()
    for name, path in layered_sources(homework).items():
        if not name.endswith(".py"):
            continue
        text = path.read_bytes().decode("utf-8")
        stripped = functions_in(homework, name)
        solutions |= solution_lines(text, str(path), stripped)
        provided |= provided_lines(text, str(path), stripped)
    return solutions - provided
