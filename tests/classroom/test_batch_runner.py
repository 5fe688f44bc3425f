"""The batch runner without the real grader: parallelism, resuming, timeouts, crashes, killing whole trees.

A stand-in for ``python -m grader grade`` (a few lines of Python run as a child process) makes these
tests fast; the real grader runs in test_batch_end_to_end.py.
"""

import csv
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import GRADER_VERSION
from grader.classroom import batch
from grader.classroom.batch import BatchConfig, Record, Status, is_finished, kill_tree, plan_parallelism, run_batch
from grader.classroom.export import ExportedSubmission, read_input, safe_id
from grader.classroom.report import write_report
from grader.grading.submission import load_submission
from tests.classroom.broken_uploads import BROKEN, corrupt_lzma
from tests.conftest import FLAGSHIP

FILES = FLAGSHIP.student_files  # what the flagship homework takes from an upload


def _upload(uploads: Path, name: str, utils: str) -> ExportedSubmission:
    folder = uploads / name
    folder.mkdir(exist_ok=True)
    (folder / "utils.py").write_text(utils)
    (folder / "vae.py").write_text("# vae\n")
    return ExportedSubmission(id=name, path=folder)


def _quiet(_message: str) -> None:
    pass


@pytest.mark.parametrize(("requested", "pending", "cores", "expected"), [
    (None, 10, 2, (2, 1)),  # one job per core
    (1, 10, 2, (1, 2)),  # one job gets every core as threads
    (8, 10, 2, (2, 1)),  # never more jobs than cores
    (None, 1, 4, (1, 4)),  # one submission left: all cores to it
    (3, 10, 8, (3, 2)),  # 3 x 2 <= 8
    (None, 0, 2, (1, 2)),
])
def test_jobs_times_threads_never_exceeds_the_cores(requested, pending, cores, expected):
    jobs, threads = plan_parallelism(requested, pending, cores)
    assert (jobs, threads) == expected
    assert jobs * threads <= cores


def test_a_result_is_kept_only_for_the_same_files_version_and_settings(tmp_path):
    config = BatchConfig(out=tmp_path, iterations=200)
    record = Record("s", "abc", GRADER_VERSION, config.settings(), Status.GRADED.value, 3.0)
    assert is_finished(record, "abc", config)
    assert not is_finished(None, "abc", config)
    assert not is_finished(record, "other files", config)
    assert not is_finished(Record("s", "abc", "0.0.1", config.settings(), "graded", 3.0), "abc", config)
    assert not is_finished(record, "abc", BatchConfig(out=tmp_path, iterations=300))
    timed_out = Record("s", "abc", GRADER_VERSION, config.settings(), Status.TIMEOUT.value, 3.0)
    assert is_finished(timed_out, "abc", config)
    assert not is_finished(timed_out, "abc", BatchConfig(out=tmp_path, iterations=200, retry_failed=True))


def test_batch_grades_resumes_and_regrades_only_what_changed(tmp_path, fake_grader):
    entries = [_upload(fake_grader, f"student{i}", f"value = {i}\n") for i in range(4)]
    config = BatchConfig(out=tmp_path / "out", jobs=2, progress=False)
    first = run_batch(entries, config, log=_quiet)
    assert sorted(first.graded) == [e.id for e in entries] and not first.skipped
    assert set(first.statuses.values()) == {Status.GRADED}
    folder = tmp_path / "out" / "submissions" / "student1"
    record = json.loads((folder / batch.RECORD_NAME).read_text())
    assert record["submission_sha256"] == load_submission(entries[1].path, FILES).digest
    assert record["grader_version"] == GRADER_VERSION and record["status"] == "graded"
    assert (folder / "results.json").exists() and (folder / batch.LOG_NAME).exists()

    second = run_batch(entries, config, log=_quiet)
    assert second.graded == [] and sorted(second.skipped) == [e.id for e in entries]

    (entries[2].path / "utils.py").write_text("value = 'changed'\n")
    third = run_batch(entries, config, log=_quiet)
    assert third.graded == ["student2"]
    assert (tmp_path / "out" / "submissions" / "student2" / "calls.txt").read_text() == "value = 'changed'\n"
    assert not list((tmp_path / "out" / "submissions").glob(".*"))  # no staging folder left behind

    (tmp_path / "out" / "submissions" / "student3" / "results.json").unlink()  # a result lost: grade it again
    assert run_batch(entries, config, log=_quiet).graded == ["student3"]


def test_a_hang_a_crash_and_a_fault_never_stop_the_batch(tmp_path, fake_grader):
    entries = [_upload(fake_grader, "fine", "ok\n"), _upload(fake_grader, "hangs", "HANG\n"),
               _upload(fake_grader, "crashes", "CRASH\n"), _upload(fake_grader, "faults", "FAULT\n")]
    config = BatchConfig(out=tmp_path / "out", jobs=2, timeout_seconds=3, progress=False)
    summary = run_batch(entries, config, log=_quiet)
    assert summary.statuses == {"fine": Status.GRADED, "hangs": Status.TIMEOUT, "crashes": Status.CRASHED,
                                "faults": Status.GRADER_FAULT}
    hang_record = json.loads((tmp_path / "out" / "submissions" / "hangs" / batch.RECORD_NAME).read_text())
    assert "no result within 3 s" in hang_record["message"]
    crash_record = json.loads((tmp_path / "out" / "submissions" / "crashes" / batch.RECORD_NAME).read_text())
    assert "exited with code 3" in crash_record["message"]

    again = run_batch(entries, config, log=_quiet)  # failures are finished results too...
    assert again.graded == []
    retry = run_batch(entries, BatchConfig(out=tmp_path / "out", jobs=2, timeout_seconds=3, retry_failed=True,
                                           progress=False), log=_quiet)
    assert sorted(retry.graded) == ["crashes", "faults", "hangs"]  # ...unless asked to retry them


TREE = """
import os, subprocess, sys, time
# a child in its own session, like the grader's sandboxed worker, which starts a grandchild
child = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
    "time.sleep(300)"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_kill_tree_kills_workers_in_their_own_sessions(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    child = int(process.stdout.readline())
    deadline = time.monotonic() + 30
    while len(batch.descendants(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    tree = batch.descendants(process.pid)
    assert child in tree and len(tree) == 2
    assert os.getpgid(child) != os.getpgid(process.pid)  # out of reach of a kill of the process group
    killed = kill_tree(process)
    assert set(tree) <= set(killed)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in killed if _alive(pid)]
    process.stdout.close()


def test_one_batch_at_a_time_per_output_folder_and_leftovers_are_cleared(tmp_path, fake_grader):
    entries = [_upload(fake_grader, "only", "ok\n")]
    out = tmp_path / "out"
    leftover = out / "submissions" / ".staging-only-abc123"
    leftover.mkdir(parents=True)
    with open(out / batch.LOCK_NAME, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(batch.BatchBusy, match="another batch is writing"):
            run_batch(entries, BatchConfig(out=out, progress=False), log=_quiet)
    assert leftover.exists()
    assert run_batch(entries, BatchConfig(out=out, progress=False), log=_quiet).graded == ["only"]
    assert not leftover.exists()


DRIVER = """
import sys
from grader.classroom import batch
from grader.__main__ import main
batch.grade_command = lambda submission, out, config, threads: [sys.executable, sys.argv[1], str(submission), str(out)]
sys.exit(main(["batch", sys.argv[2], "--out", sys.argv[3], "--jobs", "2", "--unit-only", "--no-progress"]))
"""


def test_a_killed_batch_ends_its_gradings_and_keeps_what_finished(tmp_path, fake_grader):
    _upload(fake_grader, "quick", "ok\n")
    _upload(fake_grader, "stuck1", "HANG 1\n")
    _upload(fake_grader, "stuck2", "HANG 2\n")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, str(driver), str(tmp_path / "fake_grader.py"), str(fake_grader),
                                str(out)], cwd=batch.PROJECT_DIR, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(batch.PROJECT_DIR)})
    quick_record = out / "submissions" / "quick" / batch.RECORD_NAME
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None and not (
            quick_record.exists() and len(batch.descendants(process.pid)) >= 2):  # both stuck gradings run
        time.sleep(0.2)
    gradings = batch.descendants(process.pid)
    assert len(gradings) >= 2
    process.terminate()
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "interrupted" in output
    time.sleep(0.5)
    assert not [pid for pid in gradings if _alive(pid)]
    finished = sorted(path.parent.name for path in (out / "submissions").glob(f"*/{batch.RECORD_NAME}"))
    assert finished == ["quick"]
    assert not list((out / "submissions").glob(".*"))
    assert (out / "report.html").exists()  # the report covers what finished


# ---- one upload never stops the class ---------------------------------------------------------------------


def _statuses_on_disk(out: Path) -> dict[str, dict]:
    return {path.parent.name: json.loads(path.read_text())
            for path in (out / "submissions").glob(f"*/{batch.RECORD_NAME}")}


def test_unreadable_uploads_are_their_own_records_and_the_batch_goes_on(tmp_path, fake_grader):
    good = [_upload(fake_grader, f"good{i}", f"value = {i}\n") for i in range(2)]
    broken = {name: build(fake_grader) for name, build in {**BROKEN, "corrupt-lzma": corrupt_lzma}.items()}
    entries = read_input(fake_grader, tmp_path / "scratch")  # as the CLI reads a folder of uploads
    assert len(entries) == len(good) + len(broken)
    out = tmp_path / "out"
    summary = run_batch(entries, BatchConfig(out=out, jobs=2, progress=False), log=_quiet)
    assert sorted(summary.graded) == ["good0", "good1"]
    assert sorted(summary.unusable) == sorted(safe_id(path.stem) for path in broken.values())
    records = _statuses_on_disk(out)
    for name in summary.unusable:
        assert records[name]["status"] == Status.UNUSABLE == summary.statuses[name]
        assert records[name]["message"].startswith(("nothing to grade: ", "the upload could not be read ("))
        assert "Ask the student to resubmit utils.py and vae.py" in records[name]["message"]
        assert not (out / "submissions" / name / "results.json").exists()
    assert records["not-a-zip"]["message"].startswith("nothing to grade: not-a-zip.zip is neither a folder nor a .zip")
    again = run_batch(entries, BatchConfig(out=out, jobs=2, progress=False), log=_quiet)
    assert again.graded == [] and sorted(again.skipped) == ["good0", "good1"]  # resumed; the broken ones said again


@pytest.mark.parametrize("step", ["load_submission", "read_record", "grade_command", "_read_outcome"])
def test_any_step_that_fails_for_one_submission_is_that_submissions_record(tmp_path, fake_grader, monkeypatch, step):
    entries = [_upload(fake_grader, "before", "ok\n"), _upload(fake_grader, "victim", "ok\n"),
               _upload(fake_grader, "after", "ok\n")]
    original = getattr(batch, step)

    def failing(*args, **kwargs):
        if any("victim" in str(arg) for arg in args):
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, f"{step} met a student's bytes \ud800")
        return original(*args, **kwargs)

    monkeypatch.setattr(batch, step, failing)
    out = tmp_path / "out"
    summary = run_batch(entries, BatchConfig(out=out, jobs=1, progress=False), log=_quiet)
    assert summary.statuses["before"] == summary.statuses["after"] == Status.GRADED
    record = _statuses_on_disk(out)["victim"]  # on disk, so that the report shows it
    assert record["status"] == summary.statuses["victim"] and "UnicodeDecodeError" in record["message"]
    assert record["status"] in ("crashed", "upload unusable")
    assert "\ufffd" in record["message"]
    paths = write_report(entries, out, FLAGSHIP)
    rows = {row["submission_id"]: row for row in csv.DictReader(paths.csv.open(encoding="utf-8"))}
    assert rows["victim"]["status"] == record["status"] and "UnicodeDecodeError" in rows["victim"]["message"]
    assert rows["before"]["total"] == rows["after"]["total"] == "7"


# ---- sandbox mode none ----------------------------------------------------------------------------------


def test_batch_refuses_mode_none_unless_allowed_and_records_it(tmp_path, fake_grader, no_isolation):
    entries = [_upload(fake_grader, "only", "ok\n")]
    out = tmp_path / "out"
    with pytest.raises(batch.BatchRefused) as refusal:
        run_batch(entries, BatchConfig(out=out, progress=False), log=_quiet)
    message = str(refusal.value)
    for words in ("mode would be \"none\"", "resource limits", "deadline", "sweep", "detaches", "outlives the grading",
                  "your files", "root", "bubblewrap", "--allow-no-isolation"):
        assert words in message, words
    assert not out.exists()  # nothing read, nothing written

    logged: list[str] = []
    summary = run_batch(entries, BatchConfig(out=out, progress=False, allow_no_isolation=True), log=logged.append)
    assert summary.graded == ["only"] and summary.isolation == "none"
    assert any("NO OS isolation" in line for line in logged)
    assert _statuses_on_disk(out)["only"]["isolation"] == "none"
    rows = list(csv.DictReader(write_report(entries, out, FLAGSHIP).csv.open(encoding="utf-8")))
    assert rows[0]["isolation"] == "none" and "isolation off" in rows[0]["flags"]


def test_the_command_line_refuses_mode_none_before_reading_anything(tmp_path, fake_grader):
    _upload(fake_grader, "only", "ok\n")
    out = tmp_path / "out"
    environment = {**os.environ, "PYTHONPATH": str(batch.PROJECT_DIR), "VAE_GRADER_ISOLATION": "none"}
    refused = subprocess.run([sys.executable, "-m", "grader", "batch", str(fake_grader), "--out", str(out)],
                             cwd=batch.PROJECT_DIR, env=environment, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Refusing to grade" in refused.stderr and "--allow-no-isolation" in refused.stderr
    assert "a process that detaches" in refused.stderr and "bubblewrap" in refused.stderr
    assert not out.exists()
