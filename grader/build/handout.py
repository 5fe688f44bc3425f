"""The student handout: ``dist/handout.zip`` = ``vae-homework/`` with the starter and the MNIST file.

The zip is deterministic (sorted entries, fixed timestamps and permissions), so the same sources give the
same bytes. Before writing it the build checks that ``assignment/`` is up to date with ``reference/`` and
that no solution line reached any shipped file.
"""

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.build.assignment import BuildError, assignment_files, differences, read_tree
from grader.build.layout import HANDOUT_DATA, HANDOUT_TOP
from grader.build.solutions import normalize_code_line, provided_lines, solution_lines

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


def secret_lines(reference: Path) -> set[str]:
    """Solution code lines of reference/*.py that appear nowhere outside a solution region."""
    solutions: set[str] = set()
    provided: set[str] = set()
    for path in sorted(reference.glob("*.py")):
        text = path.read_bytes().decode("utf-8")
        solutions |= solution_lines(text, str(path))
        provided |= provided_lines(text, str(path))
    return solutions - provided


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


def handout_files(reference: Path, assignment: Path, data_file: Path) -> dict[str, bytes]:
    """{path inside the zip: content}: the up-to-date ``assignment`` folder and the data file, sorted."""
    stale = differences(assignment_files(reference), read_tree(assignment))
    if stale:
        raise BuildError(f"{assignment} is out of date with {reference} ({'; '.join(stale)}); "
                         "run `python -m grader.build assignment` first")
    if not data_file.is_file():
        raise BuildError(f"{data_file} not found: run `make data` to build the MNIST file first")
    files = {f"{HANDOUT_TOP}/{name}": content for name, content in read_tree(assignment).items()}
    files[f"{HANDOUT_TOP}/{HANDOUT_DATA}"] = data_file.read_bytes()
    leaks = find_leaks(files, secret_lines(reference))
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


def build_handout(reference: Path, assignment: Path, data_file: Path, out: Path) -> list[str]:
    """Build the handout zip at ``out``; returns the entries written."""
    files = handout_files(reference, assignment, data_file)
    write_zip(files, out)
    return list(files)
