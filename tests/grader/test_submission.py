import os
import zipfile
from pathlib import Path

from grader.submission import MAX_FILE_BYTES, load_submission

UTILS, VAE = b"# utils\n", b"# vae\n"


def write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return folder


def test_a_folder_with_both_files_is_complete_and_extras_are_ignored(tmp_path):
    submission = load_submission(write(tmp_path, {"utils.py": UTILS, "vae.py": VAE, "notes.txt": b"x"}))
    assert submission.complete and submission.problems == []
    assert submission.files == {"utils.py": UTILS, "vae.py": VAE}
    assert submission.ignored == ["notes.txt"]


def test_files_in_a_subfolder_are_found_and_the_top_level_wins(tmp_path):
    write(tmp_path, {"hw2/utils.py": b"# nested", "hw2/vae.py": VAE, "utils.py": UTILS})
    submission = load_submission(tmp_path)
    assert submission.files["utils.py"] == UTILS and submission.files["vae.py"] == VAE
    assert any("more than one utils.py" in p for p in submission.problems)


def test_a_misnamed_file_is_named_in_the_message(tmp_path):
    submission = load_submission(write(tmp_path, {"utils.py": UTILS, "vae (1).py": VAE}))
    assert not submission.complete
    assert submission.problems == ["vae.py is missing: found vae (1).py; expected vae.py. Rename it and resubmit."]


def test_a_missing_file_says_what_to_upload(tmp_path):
    submission = load_submission(write(tmp_path, {"utils.py": UTILS}))
    assert submission.problems == ["vae.py is missing from the upload; upload both utils.py and vae.py."]


def test_symlinks_are_refused(tmp_path):
    write(tmp_path, {"vae.py": VAE})
    (tmp_path / "utils.py").symlink_to("/etc/passwd")
    submission = load_submission(tmp_path)
    assert "utils.py" not in submission.files
    assert any("symbolic link" in p for p in submission.problems)


def test_oversized_files_are_refused(tmp_path):
    submission = load_submission(write(tmp_path, {"utils.py": b"#" * (MAX_FILE_BYTES + 1), "vae.py": VAE}))
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
    submission = load_submission(archive)
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
    submission = load_submission(archive)
    assert "utils.py" not in submission.files
    assert any("not a regular file" in p for p in submission.problems)


def test_digest_depends_only_on_the_two_files(tmp_path):
    first = load_submission(write(tmp_path / "a", {"utils.py": UTILS, "vae.py": VAE, "x.txt": b"1"}))
    second = load_submission(write(tmp_path / "b", {"utils.py": UTILS, "vae.py": VAE}))
    third = load_submission(write(tmp_path / "c", {"utils.py": UTILS, "vae.py": VAE + b"#"}))
    assert first.digest == second.digest != third.digest


def test_a_file_that_is_not_a_zip_or_a_missing_path_is_explained(tmp_path):
    (tmp_path / "vae.py").write_bytes(VAE)
    assert "neither a folder nor a .zip" in load_submission(tmp_path / "vae.py").problems[0]
    assert "does not exist" in load_submission(tmp_path / "nope").problems[0]
