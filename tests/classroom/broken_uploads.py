"""Uploads that no intake can grade, each built byte by byte: what one careless or hostile student can hand in.

Every builder writes one upload into a folder of uploads and returns its path. None of them holds a
usable utils.py or vae.py, so each must end as that submission's "upload unusable" record, whatever the
intake does with it (raise, as grader/submission.py did at 469d35f, or report a problem).
"""

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

from grader.instructor.catalogue import student_sources
from tests.conftest import FLAGSHIP

ROOT = Path(__file__).resolve().parents[2]
HOMEWORK_FILES = ("utils.py", "vae.py")
END_RECORD_SIGNATURE = b"PK\x05\x06"
LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"
CENTRAL_HEADER_SIGNATURE = b"PK\x01\x02"
END_RECORD_COUNTS = 8  # offset of "entries on this disk" (2 bytes), "entries in all" (2 bytes), then the cd size (4)
UTF8_NAME_FLAG = 0x800
HUGE_ENTRY_COUNT = 0xFFFF  # the largest count a plain (not zip64) end record can declare
HUGE_DIRECTORY_BYTES = 0x7FFF_FFFF


def _reference(name: str) -> bytes:
    return student_sources(FLAGSHIP)[name].encode()


def corrupt_streams(folder: Path, name: str = "corrupt-streams.zip",
                    methods: tuple[int, int] = (zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA)) -> Path:
    """A .zip whose utils.py and vae.py streams (deflate and LZMA by default) are overwritten in the middle:
    reading them raises zlib.error or lzma.LZMAError."""
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        for homework_file, method in zip(HOMEWORK_FILES, methods, strict=True):
            archive.writestr(homework_file, _reference(homework_file), compress_type=method)
    return corrupt_entries(path)


def corrupt_entries(path: Path, names: Callable[[str], bool] = lambda name: True) -> Path:
    """Overwrite 64 bytes a quarter into the compressed data of the entries whose name ``names`` accepts."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not names(info.filename):
                continue
            name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
            start = info.header_offset + 30 + name_length + extra_length
            middle = start + info.compress_size // 4
            data[middle:middle + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    return path


def non_utf8_name(folder: Path) -> Path:
    """A .zip whose entry name is marked UTF-8 (flag 0x800) but is not: Python's zip reader raises
    UnicodeDecodeError while listing the archive."""
    path = folder / "non-utf8-name.zip"
    placeholder = b"utils_.py"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:  # the writer sets the flag itself only
        archive.writestr(placeholder.decode(), _reference("utils.py"))  # for non-ASCII names: set it below
    data = bytearray(path.read_bytes())
    assert data.count(placeholder) == 2  # the local header and the central directory
    for signature, flags_offset in ((LOCAL_HEADER_SIGNATURE, 6), (CENTRAL_HEADER_SIGNATURE, 8)):
        header = data.index(signature)
        (flags,) = struct.unpack("<H", data[header + flags_offset:header + flags_offset + 2])
        data[header + flags_offset:header + flags_offset + 2] = struct.pack("<H", flags | UTF8_NAME_FLAG)
    path.write_bytes(bytes(data).replace(placeholder, b"utils\xff.py"))
    return path


def huge_entry_count(folder: Path) -> Path:
    """A .zip holding the two homework files whose end record declares 65,535 entries in a central directory
    of 2 GiB: a lie about its size that a reader must not believe (nor list entries for)."""
    path = folder / "huge-entry-count.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in HOMEWORK_FILES:
            archive.writestr(name, _reference(name))
    data = bytearray(path.read_bytes())
    end = data.rindex(END_RECORD_SIGNATURE)
    data[end + END_RECORD_COUNTS:end + END_RECORD_COUNTS + 8] = struct.pack(
        "<HHI", HUGE_ENTRY_COUNT, HUGE_ENTRY_COUNT, HUGE_DIRECTORY_BYTES)
    path.write_bytes(bytes(data))
    return path


def corrupt_lzma(folder: Path) -> Path:
    """Both files as corrupt LZMA streams: lzma.LZMAError."""
    return corrupt_streams(folder, "corrupt-lzma.zip", (zipfile.ZIP_LZMA, zipfile.ZIP_LZMA))


def empty_folder(folder: Path) -> Path:
    path = folder / "empty-folder"
    path.mkdir()
    return path


def not_a_zip(folder: Path) -> Path:
    """A file named .zip that is a text file (a renamed notebook export, say)."""
    path = folder / "not-a-zip.zip"
    path.write_text("utils.py and vae.py are in my Google Drive, link below\n")
    return path


BROKEN: dict[str, Callable[[Path], Path]] = {
    "corrupt-streams": corrupt_streams, "non-utf8-name": non_utf8_name, "huge-entry-count": huge_entry_count,
    "empty-folder": empty_folder, "not-a-zip": not_a_zip,
}
