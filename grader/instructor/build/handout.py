"""A homework's student handout: ``dist/handout-<id>.zip`` = ``<id>-homework/`` with its starter and its data.

The zip is deterministic (sorted entries, fixed timestamps and permissions), so the same sources give the
same bytes. Before writing it the build checks that ``assignment/<id>/`` is up to date with the layers in
``reference/`` and that no solution line of the homework's own functions reached any shipped file.
"""

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.engine.homework import Homework
from grader.instructor.build.assemble import BuildError, secret_lines, starter_files
from grader.instructor.build.assignment import differences, read_tree
from grader.instructor.build.layout import HANDOUT_DATA_FOLDER, handout_top
from grader.instructor.build.solutions import normalize_code_line

ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold
FILE_MODE = 0o100644  # regular file, rw-r--r--
EXECUTABLE_MODE = 0o100755  # regular file, rwxr-xr-x
UNIX_SYSTEM = 3  # ZipInfo.create_system for Unix, so that the mode bits are honoured
COMPRESS_LEVEL = 9
ALREADY_COMPRESSED = (".npz", ".zip", ".png")  # stored as they are: deflating them again gains nothing


@dataclass(frozen=True)
class Leak:
    file: str
    line_number: int
    line: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line_number}: {self.line.strip()}"


def find_leaks(files: dict[str, bytes], secrets: set[str]) -> list[Leak]:
    """Every line of a shipped text file whose code is a solution line."""
    leaks = []
    for name, content in files.items():
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary data (the MNIST arrays) holds no source code
        for number, line in enumerate(text.splitlines(), 1):
            if normalize_code_line(line) in secrets:
                leaks.append(Leak(name, number, line))
    return leaks


def handout_files(homework: Homework) -> dict[str, bytes]:
    """{path inside the zip: content}: the up-to-date starter and the homework's data files, sorted."""
    assignment = homework.assignment_dir
    stale = differences(starter_files(homework), read_tree(assignment))
    if stale:
        raise BuildError(f"{assignment} is out of date with its sources ({'; '.join(stale)}); "
                         f"run `make assignment` first")
    top = handout_top(homework.id)
    files = {f"{top}/{name}": content for name, content in read_tree(assignment).items()}
    for data in homework.data_paths:
        if not data.is_file():
            raise BuildError(f"{data} not found: run `make data` to build the data files first")
        files[f"{top}/{HANDOUT_DATA_FOLDER}/{data.name}"] = data.read_bytes()
    leaks = find_leaks(files, secret_lines(homework))
    if leaks:
        listing = "\n  ".join(str(leak) for leak in leaks)
        raise BuildError(f"solution code would ship to students; fix the markers in reference/:\n  {listing}")
    return dict(sorted(files.items()))


def write_zip(files: dict[str, bytes], out: Path, executables: frozenset[str] = frozenset()) -> None:
    """Write ``files`` as a deterministic zip: sorted entries, fixed timestamps, modes and compression.

    Entries named in ``executables`` get mode 755 (scripts such as run_autograder), the others 644.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.create_system = UNIX_SYSTEM
            info.external_attr = (EXECUTABLE_MODE if name in executables else FILE_MODE) << 16
            stored = name.endswith(ALREADY_COMPRESSED)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name], compresslevel=None if stored else COMPRESS_LEVEL)
    os.replace(partial, out)


def build_handout(homework: Homework, out: Path) -> list[str]:
    """Build the handout zip at ``out``; returns the entries written."""
    files = handout_files(homework)
    write_zip(files, out)
    return list(files)
