"""Where the build tools read and write, relative to the repository root, and what they ship."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_DIR = REPO_ROOT / "reference"
ASSIGNMENT_DIR = REPO_ROOT / "assignment"
DATA_FILE = REPO_ROOT / "datasets" / "mnist.npz"
HANDOUT_ZIP = REPO_ROOT / "dist" / "handout.zip"

HANDOUT_TOP = "vae-homework"  # the single folder at the top of the handout zip
HANDOUT_DATA = "datasets/mnist.npz"  # inside HANDOUT_TOP: data.py looks for datasets/mnist.npz next to itself
SHIPPED_DOCUMENTS = ("README.md", "Makefile")  # copied from reference/ as they are
TESTS_FOLDER = "tests"  # reference/tests/: the public tests, copied whole
IGNORED_NAMES = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".DS_Store"})
IGNORED_SUFFIXES = (".pyc", ".pyo")
