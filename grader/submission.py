"""Take the two expected files out of an upload (a folder or a .zip), safely, and say what is wrong.

Only ``utils.py`` and ``vae.py`` are taken; everything else is listed as ignored. Nothing is ever
extracted to disk here: files are read into memory with size caps. Symlinks, devices, absolute paths
and ``..`` components are refused, and a misnamed file (``vae (1).py``, ``VAE.py``) is named in the
message so that the student knows what to rename.
"""

import hashlib
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

EXPECTED_FILES = ("utils.py", "vae.py")
MAX_FILE_BYTES = 1 * 2**20  # a homework file is a few KiB
MAX_ENTRIES = 2_000  # files looked at in a folder or archive
MAX_DEPTH = 4  # folder levels searched below the upload's root


@dataclass
class Submission:
    files: dict[str, bytes] = field(default_factory=dict)  # expected name -> content
    problems: list[str] = field(default_factory=list)  # why a file could not be taken
    ignored: list[str] = field(default_factory=list)  # other entries of the upload

    @property
    def complete(self) -> bool:
        return all(name in self.files for name in EXPECTED_FILES)

    @property
    def digest(self) -> str:
        """sha256 over the expected files' names and contents: equal uploads have equal digests."""
        hasher = hashlib.sha256()
        for name in EXPECTED_FILES:
            hasher.update(name.encode() + b"\0" + self.files.get(name, b"<missing>") + b"\0")
        return hasher.hexdigest()


def load_submission(path: Path) -> Submission:
    """Read an upload; a problem never raises, it is recorded for the student."""
    submission = Submission()
    if path.is_symlink():
        submission.problems.append(f"{path.name} is a symbolic link; upload the files themselves")
    elif path.is_dir():
        _read_folder(path, submission)
    elif path.is_file() and zipfile.is_zipfile(path):
        _read_zip(path, submission)
    elif path.is_file():
        submission.problems.append(f"{path.name} is neither a folder nor a .zip; upload utils.py and vae.py")
    else:
        submission.problems.append(f"the submission {path} does not exist")
    _explain_missing(submission)
    return submission


def _take(submission: Submission, relative: PurePosixPath, read: Callable[[], bytes], size: int) -> None:
    name = relative.name
    if name not in EXPECTED_FILES:
        submission.ignored.append(str(relative))
        return
    if name in submission.files:
        submission.problems.append(f"more than one {name} in the upload; the first found ({name}) is graded")
        submission.ignored.append(str(relative))
        return
    if size > MAX_FILE_BYTES:
        submission.problems.append(f"{relative} is {size:,} bytes; a homework file must be under {MAX_FILE_BYTES:,}")
        return
    data = read()
    if len(data) > MAX_FILE_BYTES:
        submission.problems.append(f"{relative} is larger than {MAX_FILE_BYTES:,} bytes")
        return
    submission.files[name] = data


def _read_folder(root: Path, submission: Submission) -> None:
    seen = 0
    # Breadth first, so that a file at the top level wins over a copy in a subfolder.
    level = [root]
    for depth in range(MAX_DEPTH + 1):
        next_level: list[Path] = []
        for folder in level:
            for entry in sorted(folder.iterdir()):
                seen += 1
                if seen > MAX_ENTRIES:
                    submission.problems.append(f"the upload has more than {MAX_ENTRIES} entries; only some were read")
                    return
                relative = PurePosixPath(entry.relative_to(root).as_posix())
                mode = entry.lstat().st_mode
                if stat.S_ISLNK(mode):
                    submission.problems.append(f"{relative} is a symbolic link and was refused")
                elif stat.S_ISDIR(mode):
                    if depth < MAX_DEPTH and not entry.name.startswith(("__MACOSX", ".")):
                        next_level.append(entry)
                elif stat.S_ISREG(mode):
                    _take(submission, relative, entry.read_bytes, entry.lstat().st_size)
                else:
                    submission.problems.append(f"{relative} is not a regular file and was refused")
        level = next_level


def _read_zip(path: Path, submission: Submission) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ENTRIES:
                submission.problems.append(f"the archive has {len(entries)} entries; at most {MAX_ENTRIES} are read")
                entries = entries[:MAX_ENTRIES]
            # Shallow entries first, so that a top-level file wins over a copy in a subfolder.
            for info in sorted(entries, key=lambda i: (i.filename.count("/"), i.filename)):
                _take_zip_entry(archive, info, submission)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as error:
        submission.problems.append(f"the archive could not be read ({error}); upload the two files instead")


def _take_zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, submission: Submission) -> None:
    relative = PurePosixPath(info.filename)
    if info.is_dir() or relative.name.startswith("._") or "__MACOSX" in relative.parts:
        return
    if relative.is_absolute() or ".." in relative.parts or "\\" in info.filename:
        submission.problems.append(f"archive entry {info.filename!r} points outside the archive and was refused")
        return
    mode = info.external_attr >> 16
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # type bits are optional in zip entries
        submission.problems.append(f"archive entry {info.filename} is not a regular file (a link?) and was refused")
        return

    def read_capped() -> bytes:
        with archive.open(info) as member:
            return member.read(MAX_FILE_BYTES + 1)

    _take(submission, relative, read_capped, info.file_size)


def _looks_like(candidate: str, expected: str) -> bool:
    """``vae (1).py``, ``VAE.py``, ``vae.py.txt``, ``vae_final.py`` all look like ``vae.py``."""
    stem = expected.removesuffix(".py")
    lowered = PurePosixPath(candidate).name.lower()
    return lowered != expected and lowered.startswith(stem) and (".py" in lowered or lowered == stem)


def _explain_missing(submission: Submission) -> None:
    for name in EXPECTED_FILES:
        if name in submission.files:
            continue
        lookalikes = [entry for entry in submission.ignored if _looks_like(entry, name)]
        if lookalikes:
            found = ", ".join(lookalikes[:3])
            submission.problems.append(f"{name} is missing: found {found}; expected {name}. Rename it and resubmit.")
        elif not any(name in problem for problem in submission.problems):
            submission.problems.append(f"{name} is missing from the upload; upload both utils.py and vae.py.")
