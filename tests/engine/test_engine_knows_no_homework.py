"""The engine, the grading run and the classroom tools name no homework: no function students write, no metric, no
student or data file, no model term. Everything they know of a homework comes from its declaration."""

import re
from pathlib import Path

from tests.conftest import HOMEWORKS, ROOT

GENERIC_PACKAGES = ("grader/engine", "grader/grading", "grader/classroom")
GENERIC_MODULES = ("grader/__main__.py", "grader/__init__.py")
MODEL_TERMS = ("elbo", "mnist", "z_dim", "latent", "encoder", "decoder", "reparameterization", "posterior", "vae")
ALLOWED = {"vaegrader", "vae-grader", "vae_grader"}  # the product's own name: the sandbox user, the install folder
# Names Python itself gives meaning to (a constructor, str.encode, bytes.decode) name no homework, even when one's
# interface uses them for its methods (beta-vae's BetaVAE.__init__, encode, decode).
PYTHON_NAMES = set(dir(object)) | set(dir(str)) | set(dir(bytes))


def vocabulary() -> set[str]:
    words = set(MODEL_TERMS)
    for homework in HOMEWORKS:
        words |= {function.name for function in homework.functions} - PYTHON_NAMES
        words |= {metric.name for metric in homework.metrics} | {homework.id}
        words |= set(homework.student_files) | set(homework.data_files)
        words |= {name.removesuffix(".py") for name in homework.student_files}
    return words


def sources() -> list[Path]:
    files = [ROOT / name for name in GENERIC_MODULES]
    for package in GENERIC_PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def test_no_generic_module_names_a_homework_term():
    words = "|".join(sorted(map(re.escape, vocabulary()), key=len, reverse=True))
    pattern = re.compile(rf"(?<![a-z0-9_-])({words})(?![a-z0-9_])", re.IGNORECASE)
    found = []
    for path in sources():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            cleaned = line
            for allowed in ALLOWED:
                cleaned = re.sub(re.escape(allowed), "", cleaned, flags=re.IGNORECASE)
            for match in pattern.finditer(cleaned):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()[:100]}")
    assert found == [], "\n".join(found[:40])


def test_the_vocabulary_is_real():
    words = vocabulary()
    assert {"sample_gaussian", "negative_elbo_bound", "nelbo", "utils.py", "mnist.npz", "loss"} <= words
    assert not {"__init__", "encode", "decode"} & words
