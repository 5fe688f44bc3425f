"""Reading what a TA downloads: Gradescope exports (folder and .zip), plain folders of uploads, and bad inputs."""

import zipfile

import pytest

from grader.classroom import export
from grader.classroom.export import ExportError, parse_metadata, read_input, safe_id
from grader.grading.submission import load_submission
from tests.classroom.broken_uploads import corrupt_entries, non_utf8_name
from tests.classroom.classroom import build_class, metadata_yaml, write_export, zip_folder
from tests.conftest import FLAGSHIP

FILES = FLAGSHIP.student_files  # what the flagship homework takes from an upload

RUBY_METADATA = """\
submission_300:
  :submitters:
  - :name: Zoë O'Brien
    :sid: '00123'
    :email: zoe@example.edu
  - :name: Sam "Sammy" Li
    :sid: '00124'
    :email: sam@example.edu
  :created_at: 2025-03-01 09:15:00.000000000 -08:00
  :score: !ruby/object:BigDecimal 18:0.875e2
  :status: graded
  :results: !ruby/hash:ActiveSupport::HashWithIndifferentAccess
    score: 87.5
    tests:
    - name: 'kl_normal: matches'
      output: |-
        line one
        line two: with a colon
  :history:
  - :created_at: 2025-02-28 10:00:00.000000000 -08:00
    :score: 40.0
submission_301:
  :submitters: []
  :created_at: 2025-03-02 10:00:00.000000000 -08:00
  :score:
"""


def test_ruby_metadata_is_read_with_symbols_tags_and_history():
    records = parse_metadata(RUBY_METADATA)
    assert set(records) == {"submission_300", "submission_301"}
    record = records["submission_300"]
    assert [p[":name"] for p in record["submitters"]] == ["Zoë O'Brien", 'Sam "Sammy" Li']
    assert record["results"]["tests"][0]["output"] == "line one\nline two: with a colon"
    assert len(record["history"]) == 1


def test_folder_export_gives_one_entry_per_submission_with_its_submitters(tmp_path):
    root = tmp_path / "export"
    root.mkdir()
    (root / "submission_metadata.yml").write_text(RUBY_METADATA)
    (root / "submission_300").mkdir()
    (root / "submission_300" / "utils.py").write_text("x = 1\n")
    (root / "submission_999").mkdir()  # a folder the metadata does not list
    entries = read_input(root, tmp_path / "scratch")
    by_id = {entry.id: entry for entry in entries}
    assert list(by_id) == ["submission_300", "submission_301", "submission_999"]
    first = by_id["submission_300"]
    assert [(s.name, s.sid, s.email) for s in first.submitters] == [
        ("Zoë O'Brien", "00123", "zoe@example.edu"), ('Sam "Sammy" Li', "00124", "sam@example.edu")]
    assert first.created_at == "2025-03-01T09:15:00-08:00"
    assert first.gradescope_score == 87.5  # from Ruby's BigDecimal dump
    assert first.path == root / "submission_300" and not first.notes
    assert by_id["submission_301"].gradescope_score is None
    assert not by_id["submission_301"].path.exists()
    assert "no folder submission_301" in by_id["submission_301"].notes[0]
    assert "not in submission_metadata.yml" in by_id["submission_999"].notes[0]


def test_zip_export_matches_the_folder_export(tmp_path):
    students = build_class()[:4]
    folder = write_export(students, tmp_path / "assignment_1_export")
    archive = zip_folder(folder, tmp_path / "export.zip", top="assignment_1_export")
    from_folder = read_input(folder, tmp_path / "unused")
    from_zip = read_input(archive, tmp_path / "scratch")
    assert [e.id for e in from_zip] == [e.id for e in from_folder] == [f"submission_{s.id}" for s in students]
    for a, b in zip(from_folder, from_zip, strict=True):
        assert (a.submitters, a.created_at, a.gradescope_score) == (b.submitters, b.created_at, b.gradescope_score)
        assert b.path.parent == tmp_path / "scratch" and b.path.suffix == ".zip"
        assert load_submission(a.path, FILES).digest == load_submission(b.path, FILES).digest
    assert from_zip[0].submitters[0].sid == "05550100"  # quoted in the YAML: leading zeros kept


def test_plain_folder_of_folders_and_zips(tmp_path):
    root = tmp_path / "uploads"
    (root / "alice").mkdir(parents=True)
    (root / "alice" / "utils.py").write_text("a = 1\n")
    with zipfile.ZipFile(root / "bob.zip", "w") as archive:
        archive.writestr("vae.py", "b = 2\n")
    (root / "README.txt").write_text("not a submission\n")
    (root / ".DS_Store").write_text("")
    entries = read_input(root, tmp_path / "scratch")
    assert [(e.id, e.path.name, e.submitters) for e in entries] == [("alice", "alice", ()), ("bob", "bob.zip", ())]


def test_plain_zip_of_folders_and_zips(tmp_path):
    inner = tmp_path / "carol.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("utils.py", "c = 3\n")
    outer = tmp_path / "uploads.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("uploads/dave/vae.py", "d = 4\n")
        archive.writestr("uploads/dave/sub/utils.py", "d = 5\n")
        archive.write(inner, "uploads/carol.zip")
    entries = read_input(outer, tmp_path / "scratch")
    assert [e.id for e in entries] == ["carol", "dave"]
    assert load_submission(entries[0].path, FILES).files == {"utils.py": b"c = 3\n"}
    assert load_submission(entries[1].path, FILES).files == {"vae.py": b"d = 4\n", "utils.py": b"d = 5\n"}


def test_unsafe_zip_entries_are_refused_and_reported(tmp_path):
    archive_path = tmp_path / "export.zip"
    link = zipfile.ZipInfo("submission_1/utils.py")
    link.external_attr = 0o120777 << 16  # a symbolic link
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("submission_metadata.yml", "submission_1:\n  :submitters: []\n")
        archive.writestr(link, "/etc/passwd")
        archive.writestr("submission_1/vae.py", "v = 1\n")
        archive.writestr("submission_1/../../escaped.py", "x = 1\n")
        archive.writestr("../outside.py", "x = 1\n")
    scratch = tmp_path / "scratch"
    entries = read_input(archive_path, scratch)
    assert [e.id for e in entries] == ["submission_1"]
    notes = " ".join(entries[0].notes)
    assert "not a regular file" in notes and "points outside the archive" in notes
    assert load_submission(entries[0].path, FILES).files == {"vae.py": b"v = 1\n"}
    assert sorted(p.name for p in tmp_path.rglob("*.py")) == []  # nothing was extracted anywhere
    assert [p.name for p in scratch.iterdir()] == ["submission_1.zip"]


@pytest.mark.parametrize(("text", "expected"), [
    ("submission_1: [unclosed\n", "not valid YAML"),
    ("- just\n- a list\n", "should map submission_<id>"),
    ("submission_1: 3\n", "is not a mapping"),
    ("submission_1:\n  :submitters: nobody\n", "is not a list"),
    ("submission_1:\n  :created_at: 2025-13-45 10:00:00.0 -08:00\n", "not valid YAML"),  # month 13: a ValueError
])
def test_bad_metadata_says_what_is_wrong(tmp_path, text, expected):
    root = tmp_path / "export"
    root.mkdir()
    (root / "submission_metadata.yml").write_text(text)
    with pytest.raises(ExportError, match=expected):
        read_input(root, tmp_path / "scratch")


def test_inputs_that_are_not_exports(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        read_input(tmp_path / "nope", tmp_path / "scratch")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ExportError, match=r"neither a folder nor a \.zip"):
        read_input(tmp_path / "notes.txt", tmp_path / "scratch")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="nothing to grade"):
        read_input(tmp_path / "empty", tmp_path / "scratch")


def test_ids_are_safe_folder_names():
    assert safe_id("submission_123") == "submission_123"
    assert safe_id("../../etc") == "_.._etc"
    assert safe_id("..") == "submission"
    assert safe_id("Zoë's work") == "Zo_s_work"


def test_metadata_fixture_round_trips():
    students = build_class()
    records = parse_metadata(metadata_yaml(students))
    assert len(records) == len(students) == 13
    group = records["submission_1011"]["submitters"]
    assert [p[":name"] for p in group] == ["Kurt Gödel", "Lise Meitner"]


def test_oversized_entries_are_left_out_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "MAX_ENTRY_BYTES", 16)
    archive_path = tmp_path / "uploads.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("erin/utils.py", "u = 1\n")
        archive.writestr("erin/vae.py", "v = '" + "x" * 100 + "'\n")
    (entry,) = read_input(archive_path, tmp_path / "scratch")
    assert load_submission(entry.path, FILES).files == {"utils.py": b"u = 1\n"}
    assert "vae.py is over the 16-byte cap" in entry.notes[0]


def test_one_unreadable_entry_in_an_export_zip_is_that_submissions_note(tmp_path):
    students = build_class()[:3]
    folder = write_export(students, tmp_path / "assignment_1_export")
    archive = zip_folder(folder, tmp_path / "export.zip", top="assignment_1_export")
    victim = f"submission_{students[1].id}/"
    corrupt_entries(archive, lambda name: victim in name)  # its deflate streams: zlib.error when read
    entries = read_input(archive, tmp_path / "scratch")
    assert [e.id for e in entries] == [f"submission_{s.id}" for s in students]
    notes = " ".join(entries[1].notes)
    for name in ("utils.py", "vae.py"):  # a CRC mismatch or a zlib.error, as the damage falls
        assert f"{name} could not be read from the export (" in notes
    assert "not copied" in notes
    assert load_submission(entries[1].path, FILES).files == {}
    for entry in (entries[0], entries[2]):
        assert not entry.notes and load_submission(entry.path, FILES).complete


def test_an_export_zip_with_a_name_that_is_not_utf8_says_what_to_do(tmp_path):
    with pytest.raises(ExportError, match="Unzip it with another tool"):
        read_input(non_utf8_name(tmp_path), tmp_path / "scratch")


@pytest.mark.parametrize("score", [".nan", ".inf", "'18:0.1e999'"])
def test_a_score_that_is_not_a_number_is_no_score(tmp_path, score):
    records = parse_metadata(f"submission_1:\n  :submitters: []\n  :score: {score}\n")
    assert export._from_metadata("submission_1", records["submission_1"], tmp_path).gradescope_score is None


def test_two_uploads_whose_names_clean_to_the_same_id_are_kept_apart(tmp_path):
    archive_path = tmp_path / "uploads.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("Ann B/utils.py", "ann = 1\n")
        archive.writestr("Ann_B/utils.py", "someone_else = 1\n")
        archive.writestr("Ann?B.zip", b"not read here")
    entries = read_input(archive_path, tmp_path / "scratch")
    assert [e.id for e in entries] == ["Ann_B", "Ann_B-2", "Ann_B-3"]
    assert len({e.path for e in entries}) == 3  # each its own repacked file
    graded = [load_submission(e.path, FILES).files.get("utils.py") for e in entries]
    assert sorted(graded, key=str) == sorted([b"ann = 1\n", b"someone_else = 1\n", None], key=str)
