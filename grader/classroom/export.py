"""What a TA downloads, as a list of submissions to grade: a Gradescope export or a plain folder of uploads.

Accepted inputs:

* a Gradescope "Export Submissions" folder or .zip: ``submission_metadata.yml`` beside one
  ``submission_<id>/`` folder per submission (possibly all inside one top folder). The metadata is the
  YAML that Gradescope writes from Ruby, so its keys are symbols (``:submitters:``, ``:name:``,
  ``:sid:``, ``:email:``, ``:created_at:``, ``:score:``) and it can also hold the previous results and
  ``:history:``, with Ruby tags (``!ruby/object:...``) here and there;
* a plain folder (or .zip) of uploads: every subfolder and every .zip in it is one submission, named
  after it.

Nothing here runs or imports student code. A .zip export is never extracted as it is: each
submission's entries are copied, with the same refusals as ``grader/submission.py`` (links, absolute
paths, ``..``) and a size cap, into one small .zip per submission under a scratch folder, which the
grader then reads like any upload.
"""

import datetime
import lzma
import math
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

METADATA_NAME = "submission_metadata.yml"
MAX_ENTRY_BYTES = 16 * 2**20  # one file of an upload; the grader itself takes at most 1 MiB per file
MAX_METADATA_BYTES = 256 * 2**20  # a whole class's metadata, previous results included
SKIPPED_NAMES = ("__MACOSX", ".DS_Store")
SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
UNSAFE_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # C0 controls but \t \n \r; surrogates
REPLACEMENT = "\ufffd"
# What reading one zip entry can raise besides OSError, whatever the archive declares: a corrupt deflate, bzip2 or
# LZMA stream, a CRC mismatch, an encrypted entry, an unknown compression method, a stream cut short.
ENTRY_ERRORS = (OSError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, RuntimeError, NotImplementedError,
                ValueError)


class ExportError(Exception):
    """The input cannot be read as an export or a folder of uploads; the message says what to do."""


def safe_text(value: object) -> str:
    """``value`` as text that any file, terminal, CSV reader or browser accepts.

    Text here comes from submissions and metadata: a lone surrogate (an exception message, a file name that
    is not UTF-8) makes an UTF-8 file unwritable, and control characters break CSV readers and HTML. Each
    becomes U+FFFD. The one helper for everything the batch writes as CSV, HTML or a log line.
    """
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # a str() that fails: an object from a hostile document, never expected from plain data
        return REPLACEMENT
    return UNSAFE_CHARACTERS.sub(REPLACEMENT, text)


@dataclass(frozen=True)
class Submitter:
    name: str = ""
    sid: str = ""
    email: str = ""


@dataclass(frozen=True)
class ExportedSubmission:
    id: str  # "submission_123456" in an export; the folder or .zip name otherwise; safe as a folder name
    path: Path  # a folder or a .zip, what ``grader.submission.load_submission`` reads
    submitters: tuple[Submitter, ...] = ()
    created_at: str = ""  # ISO 8601 when the export has it
    gradescope_score: float | None = None  # the score Gradescope shows now, for the audit
    notes: tuple[str, ...] = ()  # what was left out while reading the input


def read_input(source: Path, scratch: Path) -> list[ExportedSubmission]:
    """The submissions in ``source`` (a folder or a .zip), sorted by id; ``scratch`` receives repacked uploads."""
    if not source.exists():
        raise ExportError(f"{source} does not exist; give a Gradescope export (folder or .zip) or a folder of uploads")
    if source.is_dir():
        return _sorted(_read_folder(source))
    if zipfile.is_zipfile(source):
        return _sorted(_read_zip(source, scratch))
    raise ExportError(f"{source} is neither a folder nor a .zip; give a Gradescope export or a folder of uploads")


# ---- the metadata ------------------------------------------------------------------------------------


class _MetadataLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading Ruby's tagged values (``!ruby/object:BigDecimal``, ...) as plain data."""


def _construct_untagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_MetadataLoader.add_multi_constructor("!", _construct_untagged)


def parse_metadata(text: str) -> dict[str, dict]:
    """``submission_<id>`` -> its record with the Ruby symbols' colons taken off the keys."""
    try:
        document = yaml.load(text, Loader=_MetadataLoader)  # a SafeLoader: plain data only
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as error:  # a date out of range, nesting, ...
        raise ExportError(f"{METADATA_NAME} is not valid YAML ({safe_text(error)}); download the export "
                          "again") from None
    if not isinstance(document, dict):
        raise ExportError(f"{METADATA_NAME} should map submission_<id> to its record; found a "
                          f"{type(document).__name__}. Is this the file from Gradescope's Export Submissions?")
    records = {}
    for key, record in document.items():
        if not isinstance(record, dict):
            raise ExportError(f"{METADATA_NAME}: the entry {key!r} is not a mapping; "
                              "expected :submitters:, :created_at:, :score: under it")
        records[str(key)] = {_symbol(k): v for k, v in record.items()}
    return records


def _symbol(key: object) -> str:
    return str(key).strip().strip(":")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value).strip()


def _score(value: object) -> float | None:
    """A score as YAML gives it: a number, a string, or Ruby's BigDecimal dump ``"18:0.885e2"``."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        score = float(value) if isinstance(value, int | float) else float(str(value).rsplit(":", 1)[-1])
    except (ValueError, OverflowError):
        return None
    return score if math.isfinite(score) else None  # "nan" and "1e999" parse as floats but are no score


def _submitters(record: dict, key: str) -> tuple[Submitter, ...]:
    people = record.get("submitters") or []
    if not isinstance(people, list):
        raise ExportError(f"{METADATA_NAME}: :submitters: of {key} is not a list")
    submitters = []
    for person in people:
        if not isinstance(person, dict):
            raise ExportError(f"{METADATA_NAME}: a submitter of {key} is not a mapping of :name:, :sid:, :email:")
        fields = {_symbol(k): v for k, v in person.items()}
        submitters.append(Submitter(_text(fields.get("name")), _text(fields.get("sid")), _text(fields.get("email"))))
    return tuple(submitters)


def _from_metadata(key: str, record: dict, path: Path, notes: tuple[str, ...] = ()) -> ExportedSubmission:
    return ExportedSubmission(id=safe_id(key), path=path, submitters=_submitters(record, key),
                              created_at=_text(record.get("created_at")),
                              gradescope_score=_score(record.get("score")), notes=notes)


def safe_id(name: str) -> str:
    """A submission id usable as one folder name: letters, digits, ``._-``; never empty, ``.`` or ``..``."""
    cleaned = SAFE_ID.sub("_", name).strip(".") or "submission"
    return cleaned[:120]


def _sorted(entries: list[ExportedSubmission]) -> list[ExportedSubmission]:
    seen: dict[str, int] = {}
    unique = []
    for entry in sorted(entries, key=lambda e: e.id):
        count = seen.get(entry.id, 0)
        seen[entry.id] = count + 1
        if count:  # two inputs that clean to the same id: keep both, apart
            entry = ExportedSubmission(f"{entry.id}-{count + 1}", entry.path, entry.submitters, entry.created_at,
                                       entry.gradescope_score, entry.notes)
        unique.append(entry)
    return unique


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_NAMES


# ---- a folder ------------------------------------------------------------------------------------------


def _export_root(folder: Path) -> Path | None:
    """The folder holding the metadata: ``folder`` itself or its only subfolder."""
    if (folder / METADATA_NAME).is_file():
        return folder
    children = [child for child in folder.iterdir() if not _skipped(child.name)]
    if len(children) == 1 and children[0].is_dir() and (children[0] / METADATA_NAME).is_file():
        return children[0]
    return None


def _read_folder(folder: Path) -> list[ExportedSubmission]:
    root = _export_root(folder)
    if root is None:
        uploads = [child for child in sorted(folder.iterdir()) if not _skipped(child.name)
                   and (child.is_dir() or (child.is_file() and child.suffix.lower() == ".zip"))]
        if not uploads:
            raise ExportError(f"{folder} has no {METADATA_NAME}, no subfolder and no .zip: nothing to grade")
        return [ExportedSubmission(id=safe_id(child.stem if child.is_file() else child.name), path=child)
                for child in uploads]
    metadata_file = root / METADATA_NAME
    if metadata_file.stat().st_size > MAX_METADATA_BYTES:
        raise ExportError(f"{metadata_file} is larger than {MAX_METADATA_BYTES:,} bytes")
    records = parse_metadata(metadata_file.read_text(encoding="utf-8", errors="replace"))
    entries = []
    for key, record in records.items():
        folder = root / safe_id(key)
        present = key == safe_id(key) and folder.is_dir()
        notes = () if present else (f"the export has no folder {key}/",)
        entries.append(_from_metadata(key, record, folder if present else root / f"{safe_id(key)}.missing", notes))
    listed = set(records)
    for child in sorted(root.iterdir()):
        if child.is_dir() and not _skipped(child.name) and child.name not in listed:
            entries.append(ExportedSubmission(id=safe_id(child.name), path=child,
                                              notes=(f"{child.name}/ is not in {METADATA_NAME}",)))
    return entries


# ---- a .zip --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]  # the path below the export's root
    refusal: str = ""  # why the entry is not copied, if it is not


def _members(archive: zipfile.ZipFile) -> list[_Member]:
    members = []
    for info in archive.infolist():
        path = PurePosixPath(info.filename.replace("\\", "/"))
        mode = info.external_attr >> 16
        parts = tuple(part for part in path.parts if part not in ("/", ""))
        if info.is_dir() or not parts:
            continue
        refusal = ""
        if path.is_absolute() or ".." in parts or "\\" in info.filename:
            refusal = f"{info.filename!r} points outside the archive and was refused"
        elif stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # type bits are optional in zip entries
            refusal = f"{info.filename!r} is not a regular file (a link?) and was refused"
        elif any(_skipped(part) for part in parts):
            continue
        members.append(_Member(info, parts, refusal))
    return members


def _loose(member: _Member) -> bool:
    """An entry at the top that is neither the metadata nor an upload .zip: it belongs to a submission."""
    return len(member.parts) == 1 and member.parts[0] != METADATA_NAME and not member.parts[0].lower().endswith(".zip")


def _strip_common_top(members: list[_Member]) -> list[_Member]:
    """Drop top folders that every entry shares (``assignment_123_export/...``) down to the export's root."""
    while members and all(len(m.parts) > 1 for m in members) and len({m.parts[0] for m in members}) == 1:
        below = [_Member(m.info, m.parts[1:], m.refusal) for m in members]
        if any(_loose(m) for m in below):  # one student's folder: its files are the upload
            break
        members = below
    return members


def _read_zip(source: Path, scratch: Path) -> list[ExportedSubmission]:
    try:
        archive = zipfile.ZipFile(source)
    except UnicodeDecodeError:
        raise ExportError(f"{source} has an entry whose name is marked UTF-8 but is not; Python's zip reader "
                          "refuses the whole archive. Unzip it with another tool (e.g. `unzip` or 7-Zip) and give "
                          "the folder instead") from None
    except ENTRY_ERRORS as error:
        raise ExportError(f"{source} could not be read as a .zip ({safe_text(error)}); download the export "
                          "again") from None
    with archive:
        try:
            return _read_archive(archive, source.name, scratch)
        except ENTRY_ERRORS as error:  # the archive's own structure (a submission's bad entry is only noted)
            raise ExportError(f"{source} could not be read as a .zip ({type(error).__name__}: {safe_text(error)}); "
                              "download the export again") from None


def _read_archive(archive: zipfile.ZipFile, label: str, scratch: Path) -> list[ExportedSubmission]:
    members = _strip_common_top(_members(archive))
    metadata = next((m for m in members if m.parts == (METADATA_NAME,) and not m.refusal), None)
    records: dict[str, dict] = {}
    if metadata is not None:
        if metadata.info.file_size > MAX_METADATA_BYTES:
            raise ExportError(f"{METADATA_NAME} in {label} is larger than {MAX_METADATA_BYTES:,} bytes")
        try:
            data = archive.read(metadata.info)
        except ENTRY_ERRORS as error:
            raise ExportError(f"{METADATA_NAME} in {label} could not be read ({type(error).__name__}: "
                              f"{safe_text(error)}); download the export again") from None
        records = parse_metadata(data.decode("utf-8", errors="replace"))
    groups: dict[str, list[_Member]] = {}
    for member in members:
        if member.parts[0] == "..":  # refused, and belongs to no submission
            continue
        if len(member.parts) > 1 or (metadata is None and not _loose(member)):
            groups.setdefault(member.parts[0], []).append(member)
    if not records and not groups:
        raise ExportError(f"{label} holds no {METADATA_NAME}, no folder and no .zip: nothing to grade")
    scratch.mkdir(parents=True, exist_ok=True)
    entries = []
    stems: set[str] = set()
    for name, group in sorted(groups.items()):
        path, notes = _repack(archive, name, group, scratch, _unique_stem(name, stems))
        if name in records:
            entries.append(_from_metadata(name, records[name], path, notes))
        else:
            extra = (f"{name}/ is not in {METADATA_NAME}",) if records else ()
            entries.append(ExportedSubmission(id=safe_id(name.removesuffix(".zip")), path=path, notes=notes + extra))
    for key in sorted(set(records) - set(groups)):
        entries.append(_from_metadata(key, records[key], scratch / f"{safe_id(key)}.missing",
                                      (f"the export has no folder {key}/",)))
    return entries


def _unique_stem(name: str, used: set[str]) -> str:
    """The scratch file name of one group: its id, made unique ("Ann B/" and "Ann_B/" both clean to "Ann_B")."""
    stem = base = safe_id(name.removesuffix(".zip"))
    count = 1
    while stem in used:
        count += 1
        stem = f"{base}-{count}"
    used.add(stem)
    return stem


def _repack(archive: zipfile.ZipFile, name: str, group: list[_Member], scratch: Path,
            stem: str) -> tuple[Path, tuple[str, ...]]:
    """Copy one submission's entries into ``scratch/<stem>.zip``; a nested upload .zip is copied as it is.

    ``stem`` is unique within the export: two groups never share a file, so no upload is graded as another's.
    """
    target = scratch / f"{stem}.zip"
    notes = []
    if len(group) == 1 and len(group[0].parts) == 1:  # a plain folder's upload.zip
        info = group[0].info
        target = scratch / f"{stem}.upload.zip"
        target.unlink(missing_ok=True)  # nothing left from an earlier run is graded by mistake
        if group[0].refusal:
            return target, (group[0].refusal,)
        data, problem = _read_entry(archive, info, name)
        if data is None:
            return target, (problem,)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(data)
        partial.replace(target)  # a reader never sees half a file
        return target, ()
    partial = target.with_name(f".{target.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as repacked:
        for member in group:
            info = member.info
            inner = "/".join(member.parts[1:])
            if member.refusal:
                notes.append(member.refusal)
                continue
            data, problem = _read_entry(archive, info, inner)
            if data is None:
                notes.append(problem)
                continue
            repacked.writestr(inner, data)
    partial.replace(target)
    return target, tuple(notes)


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> tuple[bytes | None, str]:
    """The entry's bytes, or None and why not: one student's unreadable entry never stops the export."""
    try:
        data = _read_capped(archive, info)
    except ENTRY_ERRORS as error:
        return None, (f"{label} could not be read from the export ({type(error).__name__}: {safe_text(error)}); "
                      "not copied")
    if data is None:
        return None, f"{label} is over the {MAX_ENTRY_BYTES:,}-byte cap; not read"
    return data, ""


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    """The entry's bytes, or None if it is (or inflates to, whatever it declares) more than MAX_ENTRY_BYTES."""
    if info.file_size > MAX_ENTRY_BYTES:
        return None
    with archive.open(info) as member:
        data = member.read(MAX_ENTRY_BYTES + 1)
    return data if len(data) <= MAX_ENTRY_BYTES else None
