"""Where the build tools read and write, and how a homework's source is laid out in ``reference/``."""

from pathlib import Path

from grader.engine.homework import ASSIGNMENT_DIR, DATASETS_DIR, PROJECT_DIR, REFERENCE_DIR

REPO_ROOT = PROJECT_DIR
DIST_DIR = REPO_ROOT / "dist"
SHIPPED_DOCUMENTS = ("README.md", "Makefile")  # every starter has both (Makefile rendered, README as written)
TESTS_FOLDER = "tests"  # public tests: conftest.py and test_<function>.py of the homework's functions
STUDENT_FILES_PLACEHOLDER = "@STUDENT_FILES@"  # in the Makefile: the files students upload
IGNORED_NAMES = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".DS_Store"})
IGNORED_SUFFIXES = (".pyc", ".pyo")
HANDOUT_DATA_FOLDER = "datasets"  # inside the handout's top folder: data.py looks for datasets/ next to itself

__all__ = ["ASSIGNMENT_DIR", "DATASETS_DIR", "DIST_DIR", "REFERENCE_DIR", "REPO_ROOT"]


def handout_zip(homework_id: str) -> Path:
    return DIST_DIR / f"handout-{homework_id}.zip"


def handout_top(homework_id: str) -> str:
    """The single folder at the top of the handout zip."""
    return f"{homework_id}-homework"


def autograder_zip(homework_id: str) -> Path:
    return DIST_DIR / f"autograder-{homework_id}.zip"
