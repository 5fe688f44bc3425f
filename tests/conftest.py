"""Fixtures shared by the whole suite: paths, the homeworks, submission folders built from a reference, the schema.

FLAGSHIP is the CS236 homework (``vae``); REFERENCE is the folder holding its student files with their solutions,
ASSIGNMENT its generated starter. Tests that hold for every homework are parametrised over ``HOMEWORKS``.
"""

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest

from grader.engine.homework import all_homeworks, load_homework
from grader.instructor.catalogue import student_sources

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = load_homework("vae")
FLAGSHIP_ITERATIONS = FLAGSHIP.training().iterations
HOMEWORKS = all_homeworks()
REFERENCE = ROOT / "reference" / "common"  # the flagship's student files, with their solutions
ASSIGNMENT = FLAGSHIP.assignment_dir
SCHEMA = ROOT / "tests" / "grading" / "gradescope_results.schema.json"


def load_module(path: Path) -> ModuleType:
    """Import a script that is not part of a package (datasets/build_mnist.py) by its path."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def validate_results(path: Path) -> dict:
    """Parse a results.json and check it against Gradescope's format; return the document."""
    document = json.loads(path.read_text())
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    return document


@pytest.fixture
def make_submission(tmp_path: Path) -> Callable[..., Path]:
    """A folder with utils.py and vae.py from the reference, each optionally replaced or edited.

    make_submission(utils=TEXT, vae=TEXT, edits=[(file, old, new)], drop=[file]) -> folder
    """
    counter = iter(range(1_000))

    def build(utils: str | None = None, vae: str | None = None, edits: tuple = (), drop: tuple = ()) -> Path:
        folder = tmp_path / f"submission{next(counter)}"
        folder.mkdir()
        texts = student_sources(FLAGSHIP)
        texts["utils.py"], texts["vae.py"] = utils or texts["utils.py"], vae or texts["vae.py"]
        for name, old, new in edits:
            assert texts[name].count(old) == 1, f"edit target not unique in {name}: {old!r}"
            texts[name] = texts[name].replace(old, new)
        for name, text in texts.items():
            if name not in drop:
                (folder / name).write_text(text)
        return folder

    return build
