"""Homework declarations: read, extended, validated; the registry and `python -m grader homeworks`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.engine.homework import HomeworkError, all_homeworks, default_homework_id, load_homework
from tests.conftest import FLAGSHIP, HOMEWORKS, ROOT

BASE = '''
id = "base"
title = "A base homework"
default = true
student_files = ["model.py"]
functions = [{ name = "f", file = "model.py", section = "1" }]
[checks]
unit = ["test_f.py"]
[points]
"1.1" = 3
"1.2" = 2
[[metrics]]
name = "loss"
label = "Loss"
[settings]
size = 10
shape = 2
'''
DERIVED = '''
id = "derived"
extends = "base"
title = "A derived homework"
written = "a proof"
[points]
"1.2" = 7
[settings]
size = 40
'''


def declare(folder: Path, **texts: str) -> Path:
    for name, text in texts.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "homework.toml").write_text(text)
    return folder


def test_the_repository_declares_the_flagship_and_its_extension():
    ids = [homework.id for homework in HOMEWORKS]
    assert "vae" in ids and "vae-d40" in ids and default_homework_id() == "vae"
    d40 = load_homework("vae-d40")
    assert d40.bases == (FLAGSHIP,) and d40.checks_dir == FLAGSHIP.checks_dir
    assert d40.training().arguments["z_dim"] == 40 and FLAGSHIP.training().arguments["z_dim"] == 10
    assert d40.points == FLAGSHIP.points and d40.max_score == 100
    assert d40.calibration_file.parent == d40.folder != FLAGSHIP.folder  # calibrated on its own
    assert d40.written and not FLAGSHIP.written
    assert [layer.name for layer in d40.reference_layers] == ["vae-d40", "vae", "common"]


def test_an_extension_merges_tables_and_keeps_its_own_written_part(tmp_path):
    folder = declare(tmp_path, base=BASE, derived=DERIVED)
    derived = load_homework("derived", folder)
    assert derived.points == {"1.1": 3.0, "1.2": 7.0} and derived.max_score == 10
    assert derived.settings == {"size": 40, "shape": 2}
    assert derived.student_files == ("model.py",) and derived.written == "a proof"
    assert not load_homework("base", folder).written and default_homework_id(folder) == "base"
    assert [homework.id for homework in all_homeworks(folder)] == ["base", "derived"]


@pytest.mark.parametrize("change, problem", [
    (('student_files = ["model.py"]', 'student_files = ["model.txt"]'), "student_files must list the .py files"),
    (('file = "model.py"', 'file = "other.py"'), "which is not a student file"),
    (('"1.1" = 3', '"11" = 3'), "is not 'section.check'"),
    (('label = "Loss"', 'label = "Loss"\norder = "up"'), "order must be 'asc' or 'desc'"),
    (('id = "base"', 'id = 3'), "'id' must be a string"),
    (('default = true', 'default = true\nomit = ["model.py"]'), "only provided top-level modules can be left out"),
])
def test_a_declaration_that_cannot_be_used_says_what_to_fix(tmp_path, change, problem):
    folder = declare(tmp_path, base=BASE.replace(*change))
    with pytest.raises(HomeworkError, match=problem):
        load_homework("base" if "'id'" not in problem else None, folder)


def test_unknown_homeworks_circles_and_two_defaults_are_refused(tmp_path):
    with pytest.raises(HomeworkError, match=r"no homework 'nope'.*known: .*vae, vae-d40"):
        load_homework("nope")
    circle = declare(tmp_path / "circle", a=BASE.replace('id = "base"', 'id = "a"\nextends = "b"'),
                     b=BASE.replace('id = "base"', 'id = "b"\nextends = "a"').replace("default = true", ""))
    with pytest.raises(HomeworkError, match="extends"):
        load_homework("a", circle)
    twice = declare(tmp_path / "twice", a=BASE.replace('id = "base"', 'id = "a"'),
                    b=BASE.replace('id = "base"', 'id = "b"'))
    with pytest.raises(HomeworkError, match=r"2 homeworks .* default = true"):
        default_homework_id(twice)


def test_every_homework_declares_points_for_every_check_it_runs():
    for homework in HOMEWORKS:
        sections = {number.split(".")[0] for number in homework.points}
        assert {function.section for function in homework.functions} <= sections, homework.id
        assert all(homework.check_file(name).is_file() for name in homework.unit_checks + homework.training_checks)
        assert homework.max_score == 100, f"{homework.id}: {homework.max_score} points"


def test_the_homeworks_command_lists_ids_titles_files_and_points():
    listing = subprocess.run([sys.executable, "-m", "grader", "homeworks"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    for homework in HOMEWORKS:
        assert homework.id in listing and homework.title in listing
    as_json = json.loads(subprocess.run([sys.executable, "-m", "grader", "homeworks", "--json"], cwd=ROOT,
                                        capture_output=True, text=True, check=True).stdout)
    assert [entry["id"] for entry in as_json] == [homework.id for homework in HOMEWORKS]
    flagship = next(entry for entry in as_json if entry["id"] == "vae")
    assert flagship["student_files"] == ["utils.py", "vae.py"] and flagship["points"] == 100
    assert flagship["functions"] == ["sample_gaussian", "kl_normal", "negative_elbo_bound"]


def test_a_draft_is_loaded_by_id_but_left_out_of_the_registry_and_its_flag_is_its_own(tmp_path):
    folder = declare(tmp_path, base=BASE, derived=DERIVED.replace('id = "derived"', 'id = "derived"\ndraft = true'))
    derived = load_homework("derived", folder)
    assert derived.draft and not derived.bases[0].draft
    assert [homework.id for homework in all_homeworks(folder)] == ["base"]
    assert [homework.id for homework in all_homeworks(folder, drafts=True)] == ["base", "derived"]
    drafted_base = declare(tmp_path / "drafted_base", base=BASE.replace('id = "base"', 'id = "base"\ndraft = true'),
                           derived=DERIVED)
    assert load_homework("base", drafted_base).draft and not load_homework("derived", drafted_base).draft
