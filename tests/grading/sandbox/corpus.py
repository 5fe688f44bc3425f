"""The adversarial corpus: hostile and broken submissions, and the table of what must happen to each.

    corpus/<case>/utils.py, vae.py   a case's files (the flagship homework's); a file the folder lacks is the
                                     reference's
    corpus/cases.toml                one table per case: what it tries, what stops it, what it may score

A stored file holds only a hostile addition: its first line names the base file (reference/utils.py: the
flagship's reference student file; assignment/vae.py: its starter's), and the submitted file is that base
file followed by the addition, so that the case earns what its honest part earns and nothing more, and
follows the reference when it changes.
``python -m tests.grading.sandbox.corpus --export DIR`` writes every folder case as complete files, ready to
upload to Gradescope by hand.

Placeholders are replaced when a test builds a submission. Left as they are (a case folder uploaded to
Gradescope by hand), each falls back to Gradescope's own path:

    __RESULTS_DIR__   the grader's results folder for this run                      (/autograder/results)
    __DECOY_DIR__     a folder made like /autograder by ``make_decoy``                (/autograder)
    __PROJECT_DIR__   this repository, whose reference/ and grader/ are the secrets  (/autograder/source)
    __PORT__          a port on 127.0.0.1 where the test listens for TCP and UDP     (8080)

Some cases are built by the test instead of stored (an archive, a symbolic link, a 200 MB file, a
syntax error that would break the linter): their ``build`` names a function in BUILDERS.
"""

import argparse
import hashlib
import re
import stat
import sys
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader.instructor.catalogue import student_sources
from tests.conftest import FLAGSHIP

ROOT = Path(__file__).resolve().parents[3]
CORPUS = Path(__file__).resolve().parent / "corpus"
TABLE = CORPUS / "cases.toml"
EXPECTED_FILES = ("utils.py", "vae.py")
ADDITION_HEADER = re.compile(r"\A# ==== hostile addition to (?P<base>reference|assignment)/(?P<name>\w+\.py) "
                             r"\(tests/grading/sandbox/corpus\): the upload is that file \+ these lines ====\n")
BIG_BYTES = 200 * 2**20
MIB = 2**20


@dataclass(frozen=True)
class Case:
    name: str
    does: str  # what the submission tries
    stopped_by: str  # what stops it (bubblewrap mode, then setuid mode)
    max_score: float  # the most it may score: what its honest part earns
    min_score: float | None = None  # what it must still earn (default: max_score)
    phase: str = "unit"  # "unit": GradeConfig(training=False); "training": a short training run too
    iterations: int = 40
    failing: dict[str, str] = field(default_factory=dict)  # check number -> words its message must contain
    output: list[str] = field(default_factory=list)  # words the summary at the top must contain
    absent: list[str] = field(default_factory=list)  # text that must appear nowhere in results.json
    budgets: dict[str, float] = field(default_factory=dict)  # Budgets fields to shorten
    build: str = "folder"
    drop: list[str] = field(default_factory=list)  # expected files left out of the upload
    root_only: bool = False  # harmful to the test machine without OS isolation: never run as another user
    needs_isolation: bool = False  # its bound holds only with OS isolation (skipped when not root)
    listen: bool = False  # the test listens on __PORT__ and fails on any connection
    settle: float = 0.0  # seconds to wait after grading before reading results.json again
    xfail: str = ""  # a known hole in a check (strict: the test flags the fix)
    needs_cgroup: bool = False  # its bound holds only with the worker's memory cgroup
    needs_scratch_cap: bool = False  # its bound holds only with capped tmpfs for scratch and /tmp
    left_on_disk: list[str] = field(default_factory=list)  # glob patterns that must match nothing after grading

    @property
    def lowest(self) -> float:
        return self.max_score if self.min_score is None else self.min_score


def load_cases(table: Path = TABLE) -> list[Case]:
    with open(table, "rb") as handle:
        entries = tomllib.load(handle)
    return [Case(name=name, **entry) for name, entry in entries.items()]


# -- building submissions -------------------------------------------------------------------------


def substitute(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def stored_text(path: Path) -> str:
    """A corpus file as submitted: its base file followed by the addition (a file without the header as it is)."""
    text = path.read_text()
    header = ADDITION_HEADER.match(text)
    if header is None:
        return text
    return base_text(header["base"], header["name"]) + "\n" + text


def base_text(base: str, name: str) -> str:
    """The flagship's reference student file (base "reference") or its starter's (base "assignment")."""
    if base == "reference":
        return student_sources(FLAGSHIP)[name]
    return (FLAGSHIP.assignment_dir / name).read_text()


def case_files(case: Case, values: dict[str, str]) -> dict[str, bytes]:
    """The case's two files (a missing one from reference/), placeholders replaced."""
    files = {}
    for name in EXPECTED_FILES:
        stored = CORPUS / case.name / name
        text = stored_text(stored) if stored.exists() else base_text("reference", name)
        files[name] = substitute(text, values).encode()
    return {name: data for name, data in files.items() if name not in case.drop}


def build_folder(case: Case, target: Path, values: dict[str, str]) -> Path:
    target.mkdir(parents=True)
    for name, data in case_files(case, values).items():
        (target / name).write_bytes(data)
    return target


def build_syntax_error(case: Case, target: Path, values: dict[str, str]) -> Path:
    folder = build_folder(case, target, values)
    with open(folder / "vae.py", "a") as handle:
        handle.write("\n\ndef broken(:  # a syntax error\n    pass\n")
    return folder


def build_symlink_shadow(case: Case, target: Path, values: dict[str, str]) -> Path:
    folder = build_folder(case, target, values)
    (folder / "utils.py").unlink()
    (folder / "utils.py").symlink_to("/etc/shadow")
    return folder


def build_huge_file(case: Case, target: Path, values: dict[str, str]) -> Path:
    folder = build_folder(case, target, values)
    with open(folder / "utils.py", "r+b") as handle:
        handle.truncate(BIG_BYTES)  # sparse: 200 MB on paper, nothing on disk
    return folder


def build_zip_traversal(case: Case, target: Path, values: dict[str, str]) -> Path:
    target.mkdir(parents=True)
    archive = target / "submission.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for name, data in case_files(case, values).items():
            bundle.writestr(name, data)
        bundle.writestr("../../escaped_by_zip.py", "# FORGED: written outside the archive\n")
        bundle.writestr("/tmp/absolute_by_zip.py", "# FORGED: an absolute path\n")
        bundle.writestr("hw/../../utils.py", "# FORGED: a utils.py from outside\n")
    return archive


def build_zip_symlink(case: Case, target: Path, values: dict[str, str]) -> Path:
    target.mkdir(parents=True)
    archive = target / "submission.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        link = zipfile.ZipInfo("utils.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(link, "/etc/shadow")
        bundle.writestr("vae.py", case_files(case, values)["vae.py"])
    return archive


def build_zip_bomb(case: Case, target: Path, values: dict[str, str]) -> Path:
    target.mkdir(parents=True)
    archive = target / "submission.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        with bundle.open("utils.py", "w", force_zip64=True) as member:
            zeros = b"\0" * MIB
            for _ in range(BIG_BYTES // MIB):
                member.write(zeros)
        bundle.writestr("vae.py", case_files(case, values)["vae.py"])
    return archive


BUILDERS: dict[str, Callable[[Case, Path, dict[str, str]], Path]] = {
    "folder": build_folder,
    "syntax_error": build_syntax_error,
    "symlink_shadow": build_symlink_shadow,
    "huge_file": build_huge_file,
    "zip_traversal": build_zip_traversal,
    "zip_symlink": build_zip_symlink,
    "zip_bomb": build_zip_bomb,
}


def build(case: Case, target: Path, values: dict[str, str]) -> Path:
    return BUILDERS[case.build](case, target, values)


# -- the decoy grader folder --------------------------------------------------------------------


def make_decoy(folder: Path) -> Path:
    """A folder laid out like /autograder, owned and moded like it: what hostile code aims at."""
    files = {
        "run_autograder": ("#!/usr/bin/env bash\nexec python -m grader grade /autograder/submission\n", 0o755),
        "sentinel.txt": ("if this line changes, the submission wrote outside its sandbox\n", 0o644),
        "source/setup.sh": ("#!/usr/bin/env bash\n", 0o755),
        "source/grader/grading/grade.py": ((ROOT / "grader" / "grading" / "grade.py").read_text(), 0o644),
        "source/grader/engine/results.py": ((ROOT / "grader" / "engine" / "results.py").read_text(), 0o644),
        "source/reference/vae/utils.py": (base_text("reference", "utils.py"), 0o644),
    }
    for relative, (text, mode) in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    (folder / "results").mkdir()
    for directory in (folder, *[p for p in folder.rglob("*") if p.is_dir()]):
        directory.chmod(0o755)
    return folder


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry below ``folder``: (mode, owner, sha256 of a file's bytes)."""
    entries = {}
    for path in sorted([folder, *folder.rglob("*")]):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else ""
        entries[str(path.relative_to(folder))] = (info.st_mode, info.st_uid, digest)
    return entries


# -- for uploading by hand ----------------------------------------------------------------------


def export(target: Path) -> list[Path]:
    """Every case stored as a folder, written out complete with Gradescope's own paths for the placeholders."""
    values = {"__RESULTS_DIR__": "/autograder/results", "__DECOY_DIR__": "/autograder",
              "__PROJECT_DIR__": "/autograder/source", "__PORT__": "8080"}
    written = []
    for case in load_cases():
        if case.build == "folder" and (CORPUS / case.name).is_dir():
            written.append(build_folder(case, target / case.name, values))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the corpus's folder cases out as complete submissions.")
    parser.add_argument("--export", type=Path, required=True, help="a folder to create, one submission per case")
    args = parser.parse_args(argv)
    if args.export.exists():
        parser.error(f"{args.export} exists; name a new folder")
    for folder in export(args.export):
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
