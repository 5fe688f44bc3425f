import bz2
import lzma
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.grading import submission
from grader.grading.submission import MAX_ENTRIES, MAX_FILE_BYTES, MAX_ZIP_DIRECTORY_BYTES, load_submission
from tests.conftest import FLAGSHIP

FILES = FLAGSHIP.student_files  # what the flagship homework takes from an upload

UTILS, VAE = b"# utils\n", b"# vae\n"


def write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return folder


def test_a_folder_with_both_files_is_complete_and_extras_are_ignored(tmp_path):
    submission = load_submission(write(tmp_path, {"utils.py": UTILS, "vae.py": VAE, "notes.txt": b"x"}), FILES)
    assert submission.complete and submission.problems == []
    assert submission.files == {"utils.py": UTILS, "vae.py": VAE}
    assert submission.ignored == ["notes.txt"]


def test_files_in_a_subfolder_are_found_and_the_top_level_wins(tmp_path):
    write(tmp_path, {"hw2/utils.py": b"# nested", "hw2/vae.py": VAE, "utils.py": UTILS})
    submission = load_submission(tmp_path, FILES)
    assert submission.files["utils.py"] == UTILS and submission.files["vae.py"] == VAE
    assert any("more than one utils.py" in p for p in submission.problems)


def test_a_misnamed_file_is_named_in_the_message(tmp_path):
    submission = load_submission(write(tmp_path, {"utils.py": UTILS, "vae (1).py": VAE}), FILES)
    assert not submission.complete
    assert submission.problems == ["vae.py is missing: found vae (1).py; expected vae.py. Rename it and resubmit."]


def test_a_missing_file_says_what_to_upload(tmp_path):
    submission = load_submission(write(tmp_path, {"utils.py": UTILS}), FILES)
    assert submission.problems == ["vae.py is missing from the upload; upload both utils.py and vae.py."]


def test_symlinks_are_refused(tmp_path):
    write(tmp_path, {"vae.py": VAE})
    (tmp_path / "utils.py").symlink_to("/etc/passwd")
    submission = load_submission(tmp_path, FILES)
    assert "utils.py" not in submission.files
    assert any("symbolic link" in p for p in submission.problems)


def test_oversized_files_are_refused(tmp_path):
    submission = load_submission(write(tmp_path, {"utils.py": b"#" * (MAX_FILE_BYTES + 1), "vae.py": VAE}), FILES)
    assert "utils.py" not in submission.files
    assert any("must be under" in p for p in submission.problems)


def test_a_zip_is_read_in_memory_and_traversal_entries_are_refused(tmp_path):
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil/utils.py", b"# escape")
        zf.writestr("/abs/vae.py", b"# absolute")
        zf.writestr("hw/utils.py", UTILS)
        zf.writestr("hw/vae.py", VAE)
    before = set(os.listdir(tmp_path))
    submission = load_submission(archive, FILES)
    assert submission.files == {"utils.py": UTILS, "vae.py": VAE}
    assert sum("points outside the archive" in p for p in submission.problems) == 2
    assert set(os.listdir(tmp_path)) == before  # nothing extracted


def test_a_zip_symlink_entry_is_refused(tmp_path):
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("utils.py")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/shadow")
        zf.writestr("vae.py", VAE)
    submission = load_submission(archive, FILES)
    assert "utils.py" not in submission.files
    assert any("not a regular file" in p for p in submission.problems)


def test_digest_depends_only_on_the_two_files(tmp_path):
    first = load_submission(write(tmp_path / "a", {"utils.py": UTILS, "vae.py": VAE, "x.txt": b"1"}), FILES)
    second = load_submission(write(tmp_path / "b", {"utils.py": UTILS, "vae.py": VAE}), FILES)
    third = load_submission(write(tmp_path / "c", {"utils.py": UTILS, "vae.py": VAE + b"#"}), FILES)
    assert first.digest == second.digest != third.digest


def test_a_file_that_is_not_a_zip_or_a_missing_path_is_explained(tmp_path):
    (tmp_path / "vae.py").write_bytes(VAE)
    assert "neither a folder nor a .zip" in load_submission(tmp_path / "vae.py", FILES).problems[0]
    assert "does not exist" in load_submission(tmp_path / "nope", FILES).problems[0]


# -- intake is bounded before it is spent, and a damaged upload is a message, never an exception ----------------

LOCAL_HEADER = struct.Struct("<4s5H3L2H")
UTF8_NAMES = 0x800


@dataclass
class Entry:
    name: bytes
    data: bytes = b""  # as stored in the archive (compressed when method is not 0)
    method: int = 0
    size: int | None = None  # uncompressed size, when data is compressed
    crc: int | None = None
    flags: int = 0
    stored_size: int | None = None  # the compressed size the headers declare, when it is not len(data)


def raw_zip(entries: list[Entry], *, declared: int | None = None, zip64: bool = False, offset_shift: int = 0) -> bytes:
    """An archive written byte by byte: fast for thousands of entries, and free to lie in its end record."""
    local, directory = bytearray(), bytearray()
    for entry in entries:
        size = len(entry.data) if entry.size is None else entry.size
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        stored_size = len(entry.data) if entry.stored_size is None else entry.stored_size
        fields = (entry.flags, entry.method, 0, 0x21, crc, stored_size, size, len(entry.name))
        directory += submission.ZIP_CENTRAL_HEADER.pack(submission.ZIP_CENTRAL_SIGNATURE, 20, 3, 20, 0, *fields,
                                                        0, 0, 0, 0, 0o100644 << 16, len(local)) + entry.name
        local += LOCAL_HEADER.pack(b"PK\x03\x04", 20, *fields, 0) + entry.name + entry.data
    count = len(entries) if declared is None else declared
    end = b""
    if zip64:
        end += submission.ZIP64_END.pack(submission.ZIP64_END_SIGNATURE, 44, 45, 45, 0, 0, count, count,
                                         len(directory), len(local))
        end += submission.ZIP64_LOCATOR.pack(submission.ZIP64_LOCATOR_SIGNATURE, 0, len(local) + len(directory), 1)
    small = 0xFFFF if zip64 else min(count, 0xFFFF)
    end += submission.ZIP_END.pack(submission.ZIP_END_SIGNATURE, 0, 0, small, small, len(directory),
                                   len(local) + offset_shift, 0)
    return bytes(local + directory + end)


def empties(count: int) -> list[Entry]:
    return [Entry(f"junk/{i:05d}.txt".encode()) for i in range(count)]


def homework_entries() -> list[Entry]:
    return [Entry(b"hw/utils.py", UTILS), Entry(b"hw/vae.py", VAE)]


@pytest.fixture
def zipfile_opened(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records each archive zipfile.ZipFile opens: a refused archive is refused before zipfile parses it."""
    opened: list[object] = []
    real = zipfile.ZipFile

    def spy(file: object, *args: object, **kwargs: object) -> zipfile.ZipFile:
        opened.append(file)
        return real(file, *args, **kwargs)

    monkeypatch.setattr(zipfile, "ZipFile", spy)
    return opened


def test_a_raw_zip_of_the_homework_is_read_with_and_without_zip64_records(tmp_path, zipfile_opened):
    for zip64 in (False, True):
        archive = tmp_path / f"upload{zip64}.zip"
        archive.write_bytes(raw_zip(homework_entries() + empties(3), zip64=zip64))
        loaded = load_submission(archive, FILES)
        assert loaded.files == {"utils.py": UTILS, "vae.py": VAE} and loaded.problems == []
    assert len(zipfile_opened) == 2


def test_an_archive_with_a_comment_is_read(tmp_path):
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.comment = b"made on a Mac"  # the end record is no longer the file's last 22 bytes: it is searched for
        zf.writestr("utils.py", UTILS)
        zf.writestr("vae.py", VAE)
    loaded = load_submission(archive, FILES)
    assert loaded.files == {"utils.py": UTILS, "vae.py": VAE} and loaded.problems == []


def test_an_archive_listing_more_entries_than_accepted_is_refused_before_zipfile_reads_it(tmp_path, zipfile_opened):
    archive = tmp_path / "upload.zip"
    archive.write_bytes(raw_zip(homework_entries() + empties(MAX_ENTRIES)))
    loaded = load_submission(archive, FILES)
    assert zipfile_opened == [] and loaded.files == {}
    assert f"lists {MAX_ENTRIES + 2:,} entries, more than the {MAX_ENTRIES:,} accepted" in loaded.problems[0]


def test_a_zip64_end_record_of_a_million_entries_is_refused_before_zipfile_reads_it(tmp_path, zipfile_opened):
    archive = tmp_path / "upload.zip"
    archive.write_bytes(raw_zip(homework_entries(), declared=1_000_000, zip64=True))
    loaded = load_submission(archive, FILES)
    assert zipfile_opened == [] and "lists 1,000,000 entries" in loaded.problems[0]


def test_an_end_record_that_understates_its_entries_is_caught_by_walking_the_directory(tmp_path, zipfile_opened):
    archive = tmp_path / "upload.zip"
    archive.write_bytes(raw_zip(homework_entries() + empties(MAX_ENTRIES), declared=2))
    loaded = load_submission(archive, FILES)
    assert zipfile_opened == [] and loaded.files == {}
    assert f"holds more than {MAX_ENTRIES:,} entries (its end record says 2)" in loaded.problems[0]


def test_a_directory_larger_than_its_entries_need_is_refused(tmp_path, zipfile_opened):
    long_names = [Entry(b"x" * 60_000 + f"{i}".encode()) for i in range(MAX_ZIP_DIRECTORY_BYTES // 60_000 + 1)]
    archive = tmp_path / "upload.zip"
    archive.write_bytes(raw_zip(homework_entries() + long_names))
    loaded = load_submission(archive, FILES)
    assert zipfile_opened == [] and "list of entries takes" in loaded.problems[0]


SOURCE = UTILS * 50


def damaged(method: int, data: bytes, flags: int = 0) -> Entry:
    """utils.py as an entry whose data does not decompress; its declared size and CRC are the honest ones."""
    return Entry(b"utils.py", data, method=method, size=len(SOURCE), crc=zlib.crc32(SOURCE), flags=flags)


LZMA_HEADER = b"\x09\x04\x05\x00" + b"\x5d\x00\x00\x10\x00"  # zip's lzma header: version, properties' size, properties
DAMAGED = {  # what zipfile raises reading the entry -> the entry
    "error": damaged(zipfile.ZIP_DEFLATED, b"\xff" * 50),  # zlib.error: invalid block type
    "LZMAError": damaged(zipfile.ZIP_LZMA, LZMA_HEADER + b"\xff" * 50),
    "OSError": damaged(zipfile.ZIP_BZIP2, b"\xff" * 50),  # bz2: invalid data stream
    "BadZipFile": damaged(zipfile.ZIP_BZIP2, bz2.compress(SOURCE)[:-30]),  # a stream cut short: bad CRC
    "NotImplementedError": damaged(99, b"abc"),  # an unknown compression method
    "RuntimeError": damaged(zipfile.ZIP_STORED, SOURCE, flags=0x1),  # encrypted
}


@pytest.mark.parametrize("error, entry", DAMAGED.items(), ids=DAMAGED.keys())
def test_a_damaged_entry_is_a_problem_message_and_the_other_file_is_still_taken(tmp_path, error, entry):
    archive = tmp_path / "upload.zip"
    archive.write_bytes(raw_zip([entry, Entry(b"vae.py", VAE)]))
    loaded = load_submission(archive, FILES)
    assert loaded.files == {"vae.py": VAE}
    assert any(p.startswith(f"utils.py could not be read ({error}: ") for p in loaded.problems), loaded.problems


RAISED_BY_ZIPFILE = [EOFError("Compressed file ended"), struct.error("unpack requires a buffer of 4 bytes"),
                     zlib.error("invalid distance"), lzma.LZMAError("Corrupt input data"), ValueError("negative seek"),
                     UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), OverflowError("too large"),
                     MemoryError()]


@pytest.mark.parametrize("raised", RAISED_BY_ZIPFILE, ids=lambda e: f"{type(e).__module__}.{type(e).__name__}")
@pytest.mark.parametrize("where", ["open", "read"])
def test_whatever_zipfile_raises_is_a_problem_message(tmp_path, monkeypatch, raised, where):
    """Python's zipfile raises further types on damage that this Python version happens to check otherwise."""
    def fail(*args: object, **kwargs: object) -> None:
        raise raised

    if where == "open":
        monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", fail)
    else:
        monkeypatch.setattr(zipfile.ZipExtFile, "read", fail)
    archive = tmp_path / "upload.zip"
    archive.write_bytes(raw_zip([Entry(b"utils.py", UTILS), Entry(b"vae.py", VAE)]))
    loaded = load_submission(archive, FILES)
    named = f"could not be read ({type(raised).__name__}"
    assert any(named in p for p in loaded.problems), loaded.problems


DAMAGED_ARCHIVES = {
    "a name flagged UTF-8 that is not (UnicodeDecodeError)": raw_zip([Entry(b"\xff\xfeutils.py", flags=UTF8_NAMES)]),
    "a directory offset past its place (a seek before the file's start)": raw_zip(homework_entries(),
                                                                                  offset_shift=10_000),
    "a damaged directory entry (BadZipFile)": raw_zip(homework_entries()).replace(b"PK\x01\x02", b"PK\x01\x03", 1),
}


@pytest.mark.parametrize("data", DAMAGED_ARCHIVES.values(), ids=DAMAGED_ARCHIVES.keys())
def test_an_unreadable_archive_is_a_problem_message_never_an_exception(tmp_path, data):
    archive = tmp_path / "upload.zip"
    archive.write_bytes(data)
    loaded = load_submission(archive, FILES)
    assert loaded.files == {} or not loaded.complete
    assert any("could not be read" in p or "re-create" in p for p in loaded.problems), loaded.problems


def test_an_unreadable_file_in_a_folder_is_a_problem_message(tmp_path, monkeypatch):
    write(tmp_path, {"utils.py": UTILS, "vae.py": VAE})
    real_open = Path.open

    def denied(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "utils.py":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    loaded = load_submission(tmp_path, FILES)
    assert loaded.files == {"vae.py": VAE}
    assert any(p.startswith("utils.py could not be read (PermissionError") for p in loaded.problems)


def test_a_folder_that_cannot_be_listed_is_a_problem_message(tmp_path, monkeypatch):
    write(tmp_path, {"utils.py": UTILS, "vae.py": VAE, "locked/notes.txt": b"x"})
    real_scandir, real_listdir = os.scandir, os.listdir

    def refuse_locked(listing: Callable) -> Callable:
        def listed(path: object = ".") -> object:
            if Path(path).name == "locked":
                raise PermissionError(13, "Permission denied", str(path))
            return listing(path)
        return listed

    monkeypatch.setattr(os, "scandir", refuse_locked(real_scandir))
    monkeypatch.setattr(os, "listdir", refuse_locked(real_listdir))
    loaded = load_submission(tmp_path, FILES)
    assert loaded.complete
    assert loaded.problems == [f"the folder locked could not be listed (PermissionError: [Errno 13] Permission denied: "
                               f"'{tmp_path / 'locked'}'); upload both utils.py and vae.py again"]


def test_names_that_are_not_utf8_are_shown_safely(tmp_path):
    write(tmp_path, {"utils.py": UTILS})
    for name in (b"vae\xff.py", b"notes\xe9\n.txt"):
        (tmp_path / os.fsdecode(name)).write_bytes(b"x")
    loaded = load_submission(tmp_path, FILES)
    text = "\n".join(loaded.problems + loaded.ignored)
    text.encode("utf-8")  # no lone surrogate: every report and CSV can write it
    assert "notes\ufffd\\n.txt" in loaded.ignored
    assert "vae.py is missing: found vae\ufffd.py; expected vae.py" in loaded.problems[0]


def test_a_folder_with_too_many_entries_is_not_listed_in_full(tmp_path, monkeypatch):
    cap = 50  # creating files is slow on some file systems: the cap is lowered instead
    monkeypatch.setattr(submission, "MAX_ENTRIES", cap)
    for i in range(cap * 3):
        (tmp_path / f"{i:05d}.txt").touch()
    listed: list[int] = []
    real_scandir, real_listdir = os.scandir, os.listdir

    class CountedScan:
        def __init__(self, path: object) -> None:
            self.scan = real_scandir(path)

        def __enter__(self) -> "CountedScan":
            return self

        def __exit__(self, *exc: object) -> None:
            self.scan.close()

        def __iter__(self) -> Iterator[os.DirEntry]:
            for entry in self.scan:
                listed.append(1)
                yield entry

    def counted_listdir(path: object = ".") -> list[str]:
        names = real_listdir(path)
        listed.extend([1] * len(names))
        return names

    monkeypatch.setattr(os, "scandir", CountedScan)
    monkeypatch.setattr(os, "listdir", counted_listdir)
    loaded = load_submission(tmp_path, FILES)
    assert f"more than {cap:,} entries" in loaded.problems[0]
    assert 0 < len(listed) <= cap + 1
