"""Take the homework's expected files out of an upload (a folder or a .zip), safely, and say what is wrong.

Only the expected files (the homework's student files) are taken;
everything else is listed as ignored. Nothing is ever
extracted to disk here: files are read into memory with size caps. Symlinks, devices, absolute paths
and ``..`` components are refused, and a misnamed file (``model (1).py``, ``MODEL.py``) is named in the
message so that the student knows what to rename.

Intake runs in the trusted process, once per upload of a batch, so its cost is bounded before it is
spent and nothing an upload holds makes it raise. ``zipfile.ZipFile`` parses the whole central directory
when it opens an archive (a million empty entries: 8 s and 900 MiB), so the entry count and the
directory's size are read from the archive's end record first, and the directory is walked without
building anything before zipfile sees it. A folder is listed a bounded number of entries at a time.
A damaged archive or an unreadable file becomes a problem message for the student.
"""

import functools
import hashlib
import itertools
import os
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

MAX_FILE_BYTES = 1 * 2**20  # a homework file is a few KiB
MAX_ENTRIES = 2_000  # files looked at in a folder; an archive listing more is refused
MAX_DEPTH = 4  # folder levels searched below the upload's root
MAX_SHOWN_NAME = 200  # characters of an upload's file name repeated in a message
def listed(files: tuple[str, ...]) -> str:
    """'a.py', 'both a.py and b.py', 'a.py, b.py and c.py'."""
    if len(files) == 2:
        return f"both {files[0]} and {files[1]}"
    return ", ".join(files[:-1]) + (" and " if len(files) > 1 else "") + files[-1] if files else "the files"


def recreate_zip(submission: "Submission") -> str:
    return f"re-create the .zip with a standard tool (or upload {listed(submission.expected)} themselves)"


def recreate_upload(submission: "Submission") -> str:
    return f"upload {listed(submission.expected)} again"


# The zip format (PKWARE APPNOTE.TXT, section 4.3), little-endian. The central directory lists the entries; the end
# record, at the end of the file before an archive comment of up to 64 KiB, says where it is and how many entries it
# has. Archives with more than 65,535 entries or over 4 GiB put the real figures in a zip64 end record, found through
# a locator just before the end record.
ZIP_END = struct.Struct("<4s4H2LH")  # signature, disk, directory's disk, entries here, entries, size, offset, comment
ZIP_END_SIGNATURE = b"PK\x05\x06"
ZIP_MAX_COMMENT = 0xFFFF
ZIP64_LOCATOR = struct.Struct("<4sLQL")  # signature, disk, offset of the zip64 end record, disks
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
ZIP64_END = struct.Struct("<4sQ2H2L4Q")  # signature, record size, versions, disks, entries here, entries, size, offset
ZIP64_END_SIGNATURE = b"PK\x06\x06"
ZIP_CENTRAL_HEADER = struct.Struct("<4s4B4HL2L5H2L")  # one directory entry; name, extra field and comment follow
ZIP_CENTRAL_SIGNATURE = b"PK\x01\x02"
ZIP_NAME_LENGTH_FIELDS = slice(12, 15)  # name, extra field and comment lengths among the header's fields
# An entry's directory record is 46 bytes, its name and its extra fields (timestamps, zip64 sizes): about 150 bytes
# for an honest upload. 512 bytes per accepted entry bounds what zipfile reads and parses.
MAX_ZIP_DIRECTORY_BYTES = MAX_ENTRIES * 512


@dataclass
class Submission:
    expected: tuple[str, ...]  # the file names the homework takes from an upload
    files: dict[str, bytes] = field(default_factory=dict)  # expected name -> content
    problems: list[str] = field(default_factory=list)  # why a file could not be taken
    ignored: list[str] = field(default_factory=list)  # other entries of the upload

    @property
    def complete(self) -> bool:
        return all(name in self.files for name in self.expected)

    @property
    def digest(self) -> str:
        """sha256 over the expected files' names and contents: equal uploads have equal digests."""
        hasher = hashlib.sha256()
        for name in self.expected:
            hasher.update(name.encode() + b"\0" + self.files.get(name, b"<missing>") + b"\0")
        return hasher.hexdigest()


def load_submission(path: Path, expected: tuple[str, ...]) -> Submission:
    """Read the ``expected`` files of an upload; a problem never raises, it is recorded for the student."""
    submission = Submission(tuple(expected))
    if path.is_symlink():
        submission.problems.append(f"{shown(path.name)} is a symbolic link; upload the files themselves")
    elif path.is_dir():
        _read_folder(path, submission)
    elif path.is_file() and zipfile.is_zipfile(path):
        _read_zip(path, submission)
    elif path.is_file():
        submission.problems.append(f"{shown(path.name)} is neither a folder nor a .zip; upload "
                                   f"{listed(submission.expected)}")
    else:
        submission.problems.append(f"the submission {shown(str(path))} does not exist")
    _explain_missing(submission)
    return submission


def shown(name: str) -> str:
    """A file name from an upload as text that is safe to print and to encode.

    A folder's names that are not UTF-8 arrive as lone surrogates (os's surrogateescape): each becomes U+FFFD.
    Control characters are written as escapes, and a long name is cut.
    """
    text = name[:MAX_SHOWN_NAME]
    if not (text.isprintable() and text.isascii()):  # the common case skips the walk through the characters
        text = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c if c.isprintable() else repr(c)[1:-1]
                       for c in text)
    return text + ("..." if len(name) > MAX_SHOWN_NAME else "")


def _error_text(error: BaseException) -> str:
    return shown(f"{type(error).__name__}: {error}")


def _take(submission: Submission, relative: PurePosixPath, read: Callable[[], bytes], size: int) -> None:
    name, where = relative.name, shown(str(relative))
    if name not in submission.expected:
        submission.ignored.append(where)
        return
    if name in submission.files:
        submission.problems.append(f"more than one {name} in the upload; the first found ({name}) is graded")
        submission.ignored.append(where)
        return
    if size > MAX_FILE_BYTES:
        submission.problems.append(f"{where} is {size:,} bytes; a homework file must be under {MAX_FILE_BYTES:,}")
        return
    try:
        data = read()
    # Reading a file of a folder raises OSError (permission denied, vanished); reading a zip entry raises whatever
    # zipfile or a decompressor raises on damaged data (see _read_zip). Either way it is the upload's problem.
    except Exception as error:
        problem = f"{where} could not be read ({_error_text(error)})"
        submission.problems.append(f"{problem}; {recreate_upload(submission)}")
        return
    if len(data) > MAX_FILE_BYTES:
        submission.problems.append(f"{where} is larger than {MAX_FILE_BYTES:,} bytes")
        return
    submission.files[name] = data


def _read_capped(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(MAX_FILE_BYTES + 1)


def _list_folder(folder: Path, room: int) -> tuple[list[os.DirEntry[str]], bool]:
    """At most ``room`` entries of ``folder`` sorted by name, and whether it has more: never a million-entry list."""
    with os.scandir(folder) as scan:
        entries = list(itertools.islice(scan, room + 1))
    return sorted(entries[:room], key=lambda entry: entry.name), len(entries) > room


def _read_folder(root: Path, submission: Submission) -> None:
    seen = 0
    # Breadth first, so that a file at the top level wins over a copy in a subfolder.
    level = [root]
    for depth in range(MAX_DEPTH + 1):
        next_level: list[Path] = []
        for folder in level:
            try:
                entries, more = _list_folder(folder, MAX_ENTRIES - seen)
            except OSError as error:
                which = "the upload" if folder == root else f"the folder {shown(folder.relative_to(root).as_posix())}"
                problem = f"{which} could not be listed ({_error_text(error)})"
                submission.problems.append(f"{problem}; {recreate_upload(submission)}")
                continue
            for entry in entries:
                relative = PurePosixPath(Path(entry.path).relative_to(root).as_posix())
                try:
                    status = entry.stat(follow_symlinks=False)
                except OSError as error:
                    submission.problems.append(f"{shown(str(relative))} could not be read ({_error_text(error)}); "
                                               f"{recreate_upload(submission)}")
                    continue
                if stat.S_ISLNK(status.st_mode):
                    submission.problems.append(f"{shown(str(relative))} is a symbolic link and was refused")
                elif stat.S_ISDIR(status.st_mode):
                    if depth < MAX_DEPTH and not entry.name.startswith(("__MACOSX", ".")):
                        next_level.append(Path(entry.path))
                elif stat.S_ISREG(status.st_mode):
                    _take(submission, relative, functools.partial(_read_capped, Path(entry.path)), status.st_size)
                else:
                    submission.problems.append(f"{shown(str(relative))} is not a regular file and was refused")
            seen += len(entries)
            if more:
                submission.problems.append(f"the upload has more than {MAX_ENTRIES:,} entries; only some were read")
                return
        level = next_level


def zip_directory_problem(file: BinaryIO, submission: "Submission") -> str:
    """Why the archive's central directory is not read (too many entries, too large), or "" when it may be.

    Reads the end record (and the zip64 end record) where ``zipfile`` finds them, then walks the directory that
    zipfile would parse, counting its entries without building anything; at most MAX_ZIP_DIRECTORY_BYTES are read.
    """
    file.seek(0, os.SEEK_END)
    file_size = file.tell()
    tail_start = max(file_size - ZIP_END.size - ZIP_MAX_COMMENT, 0)
    file.seek(tail_start)
    tail = file.read()
    end_at = len(tail) - ZIP_END.size  # as zipfile: an end record without a comment ends the file, else search back
    if end_at < 0 or tail[end_at:end_at + len(ZIP_END_SIGNATURE)] != ZIP_END_SIGNATURE or tail[-2:] != b"\0\0":
        end_at = tail.rfind(ZIP_END_SIGNATURE)
    if end_at < 0 or end_at + ZIP_END.size > len(tail):
        return "the archive's end record is missing (is the file truncated?)"
    _, _, _, entries_here, entries, directory_size, _, _ = ZIP_END.unpack_from(tail, end_at)
    end_offset = tail_start + end_at
    directory_end = end_offset
    zip64_end_offset = end_offset - ZIP64_LOCATOR.size - ZIP64_END.size
    if zip64_end_offset >= 0:
        file.seek(zip64_end_offset)
        records = file.read(ZIP64_END.size + ZIP64_LOCATOR.size)
        locator = ZIP64_LOCATOR.unpack_from(records, ZIP64_END.size)
        zip64 = ZIP64_END.unpack_from(records)
        if locator[0] == ZIP64_LOCATOR_SIGNATURE and zip64[0] == ZIP64_END_SIGNATURE:  # as zipfile: then it is used
            entries_here, entries, directory_size = zip64[6], zip64[7], zip64[8]
            directory_end = zip64_end_offset
    declared = max(entries_here, entries)
    if declared > MAX_ENTRIES:
        return (f"the archive lists {declared:,} entries, more than the {MAX_ENTRIES:,} accepted; zip only "
                f"{listed(submission.expected)} (without data, virtual environments or .git)")
    if directory_size > MAX_ZIP_DIRECTORY_BYTES:
        return (f"the archive's list of entries takes {directory_size:,} bytes, more than the "
                f"{MAX_ZIP_DIRECTORY_BYTES:,} accepted; {recreate_zip(submission)}")
    counted = _count_directory_entries(file, directory_end - directory_size, directory_size)
    if counted > MAX_ENTRIES:
        return (f"the archive holds more than {MAX_ENTRIES:,} entries (its end record says {declared:,}); "
                f"{recreate_zip(submission)}")
    return ""


def _count_directory_entries(file: BinaryIO, start: int, size: int) -> int:
    """Directory entries in ``size`` bytes from ``start``, as zipfile walks them, stopping past MAX_ENTRIES.

    A walk that meets something other than an entry stops there: zipfile then reports the damage itself.
    """
    if start < 0:
        return 0
    file.seek(start)
    directory = file.read(size)
    count = offset = 0
    while offset + ZIP_CENTRAL_HEADER.size <= len(directory) and count <= MAX_ENTRIES:
        header = ZIP_CENTRAL_HEADER.unpack_from(directory, offset)
        if header[0] != ZIP_CENTRAL_SIGNATURE:
            break
        count += 1
        offset += ZIP_CENTRAL_HEADER.size + sum(header[ZIP_NAME_LENGTH_FIELDS])
    return count


def _read_zip(path: Path, submission: Submission) -> None:
    try:
        with path.open("rb") as file:
            problem = zip_directory_problem(file, submission)
            if problem:
                submission.problems.append(problem)
                return
            try:
                archive = zipfile.ZipFile(file)
            # Opening parses the directory: fuzzing it showed BadZipFile, NotImplementedError, ValueError and
            # UnicodeDecodeError (a name flagged UTF-8 that is not); an extra field can raise struct.error. Reading an
            # entry adds zlib.error, LZMAError, OSError and EOFError from bz2, RuntimeError. Whichever it is, only the
            # upload's bytes were being parsed, so it is the upload's problem, never an exception.
            except Exception as error:
                problem = f"the archive could not be read ({_error_text(error)})"
                submission.problems.append(f"{problem}; {recreate_zip(submission)}")
                return
            with archive:
                # Shallow entries first, so that a top-level file wins over a copy in a subfolder.
                for info in sorted(archive.infolist(), key=lambda i: (i.filename.count("/"), i.filename)):
                    _take_zip_entry(archive, info, submission)
    except OSError as error:
        submission.problems.append(f"the archive could not be read ({_error_text(error)}); {recreate_zip(submission)}")


def _take_zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, submission: Submission) -> None:
    relative = PurePosixPath(info.filename)
    if info.is_dir() or relative.name.startswith("._") or "__MACOSX" in relative.parts:
        return
    if relative.is_absolute() or ".." in relative.parts or "\\" in info.filename:
        submission.problems.append(f"archive entry {shown(info.filename)!r} points outside the archive and was "
                                   "refused")
        return
    mode = info.external_attr >> 16
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # type bits are optional in zip entries
        submission.problems.append(f"archive entry {shown(info.filename)} is not a regular file (a link?) and was "
                                   "refused")
        return

    def read_capped() -> bytes:
        with archive.open(info) as member:
            return member.read(MAX_FILE_BYTES + 1)

    _take(submission, relative, read_capped, info.file_size)


def _looks_like(candidate: str, expected: str) -> bool:
    """``model (1).py``, ``MODEL.py``, ``model.py.txt``, ``model_final.py`` all look like ``model.py``."""
    stem = expected.removesuffix(".py")
    lowered = PurePosixPath(candidate).name.lower()
    return lowered != expected and lowered.startswith(stem) and (".py" in lowered or lowered == stem)


def _explain_missing(submission: Submission) -> None:
    for name in submission.expected:
        if name in submission.files:
            continue
        lookalikes = [entry for entry in submission.ignored if _looks_like(entry, name)]
        if lookalikes:
            found = ", ".join(lookalikes[:3])
            submission.problems.append(f"{name} is missing: found {found}; expected {name}. Rename it and resubmit.")
        elif not any(name in problem for problem in submission.problems):
            submission.problems.append(f"{name} is missing from the upload; upload {listed(submission.expected)}.")
