"""Fixtures shared by the whole suite: paths, submission folders built from the reference, the schema."""

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"
ASSIGNMENT = ROOT / "assignment"
SCHEMA = ROOT / "tests" / "grader" / "gradescope_results.schema.json"


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
        texts = {"utils.py": utils or (REFERENCE / "utils.py").read_text(),
                 "vae.py": vae or (REFERENCE / "vae.py").read_text()}
        for name, old, new in edits:
            assert texts[name].count(old) == 1, f"edit target not unique in {name}: {old!r}"
            texts[name] = texts[name].replace(old, new)
        for name, text in texts.items():
            if name not in drop:
                (folder / name).write_text(text)
        return folder

    return build
