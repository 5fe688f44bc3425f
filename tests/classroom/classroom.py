"""What the batch tests grade and look at: a small class shaped as a Gradescope export, and headless Chromium.

The class (``build_class()``) is the reference, the starter, wrong variants made by small edits of the
reference (each edit must match exactly once, so that a change of the reference breaks the fixture
loudly instead of silently grading the reference twice), and broken uploads.
"""

import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.instructor.catalogue import student_sources
from tests.conftest import FLAGSHIP

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = FLAGSHIP.assignment_dir
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_TIMEOUT = 120  # seconds


@dataclass(frozen=True)
class Student:
    id: str  # the Gradescope submission id: the folder is submission_<id>
    names: tuple[str, ...]
    kind: str  # what the upload is, for the test's expectations
    files: dict[str, str]  # path inside the upload -> text


def _reference(name: str) -> str:
    return student_sources(FLAGSHIP)[name]


def _edited(name: str, old: str, new: str) -> str:
    text = _reference(name)
    assert text.count(old) == 1, f"the edit target is not unique in reference/{name}: {old!r}"
    return text.replace(old, new)


def _with(utils: str | None = None, vae: str | None = None) -> dict[str, str]:
    return {"utils.py": utils or _reference("utils.py"), "vae.py": vae or _reference("vae.py")}


def build_class() -> list[Student]:
    """13 submissions: what a TA meets in a real class, good, wrong and broken."""
    return [
        Student("1001", ("Ada Lovelace",), "reference", _with()),
        Student("1002", ("Blaise Pascal",), "starter",
                {name: (ASSIGNMENT / name).read_text() for name in ("utils.py", "vae.py")}),
        Student("1003", ("Carl Gauss",), "v used as std",
                _with(utils=_edited("utils.py", "m + torch.sqrt(v) * epsilon", "m + v * epsilon"))),
        Student("1004", ("Dora Noether",), "KL without 0.5",
                _with(utils=_edited("utils.py", "element_wise = 0.5 * (torch.log(pv)",
                                    "element_wise = (torch.log(pv)"))),
        Student("1005", ("Emil Artin",), "rec summed over the batch",
                _with(vae=_edited("vae.py", "rec = -ut.log_bernoulli_with_logits(x, logits).mean()",
                                  "rec = -ut.log_bernoulli_with_logits(x, logits).sum()"))),
        Student("1006", ("Felix Klein",), "KL summed over all dimensions",
                _with(utils=_edited("utils.py", "    return element_wise.sum(-1)  # (...)\n    # END SOLUTION\n\n\n"
                                                "def log_bernoulli",
                                    "    return element_wise.sum()  # (...)\n    # END SOLUTION\n\n\n"
                                    "def log_bernoulli"))),
        Student("1007", ("Grace Hopper",), "syntax error",
                _with(vae=_reference("vae.py") + "\n\ndef unfinished(:\n    pass\n")),
        Student("1008", ("Hedy Lamarr",), "missing vae.py", {"utils.py": _reference("utils.py")}),
        Student("1009", ("Ida Rhodes",), "raise at import",
                _with(utils=_reference("utils.py") + "\n\nraise RuntimeError('debugging, remove me')\n")),
        Student("1010", ("Jack Kilby",), "copy of the reference", _with()),
        Student("1011", ("Kurt Gödel", "Lise Meitner"), "group, nested folder, utils.py left as the starter",
                {"hw2/utils.py": (ASSIGNMENT / "utils.py").read_text(), "hw2/vae.py": _reference("vae.py"),
                 "hw2/notes.txt": "our notes\n"}),
        Student("1012", ("Mary Somerville",), "misnamed vae.py",
                {"utils.py": _reference("utils.py"), "vae (1).py": _reference("vae.py")}),
        Student("1013", ("Niels <b>Bohr</b>",), "exits the process",
                _with(utils=_edited("utils.py", "    epsilon = torch.randn_like(m)  # (..., dim)",
                                    "    import os\n    os._exit(3)\n"
                                    "    epsilon = torch.randn_like(m)  # (..., dim)"))),
    ]


def _email(name: str) -> str:
    return re.sub(r"[^a-z]+", ".", name.lower()).strip(".") + "@stanford.edu"


def metadata_yaml(students: list[Student]) -> str:
    """``submission_metadata.yml`` as Gradescope writes it from Ruby: symbol keys, quoted ids, timestamps."""
    lines = []
    for number, student in enumerate(students):
        lines.append(f"submission_{student.id}:")
        lines.append("  :submitters:")
        for offset, name in enumerate(student.names):
            lines += [f"  - :name: {name}", f"    :sid: '{5550100 + 10 * number + offset:08d}'",
                      f"    :email: {_email(name)}"]
        lines.append(f"  :created_at: 2025-02-0{1 + number % 7} 23:{10 + number}:05.123456000 -08:00")
        lines.append(f"  :score: {float(number % 5) * 10}")
        lines.append("  :status: graded")
        lines.append("  :history: []")
    return "\n".join(lines) + "\n"


def write_export(students: list[Student], root: Path) -> Path:
    """The export as a folder: ``root/submission_metadata.yml`` and one ``submission_<id>/`` each."""
    root.mkdir(parents=True)
    (root / "submission_metadata.yml").write_text(metadata_yaml(students))
    for student in students:
        for relative, text in student.files.items():
            path = root / f"submission_{student.id}" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


def zip_folder(folder: Path, target: Path, top: str | None = None) -> Path:
    """Zip ``folder``'s contents, under ``top/`` if given (Gradescope's exports have one top folder)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                relative = path.relative_to(folder).as_posix()
                archive.write(path, f"{top}/{relative}" if top else relative)
    return target


# ---- the browser ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    dom: str
    screenshot: Path | None


def render_page(page: Path, work: Path, fragment: str = "", screenshot: bool = True) -> Rendered:
    """Load ``page`` in headless Chromium: the DOM after the load event, and a 1400 x 3000 screenshot."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make .venv/.system-tools` (as root) or `apt-get install chromium`")
    common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1400,3000"]
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    dom = subprocess.run([str(CHROMIUM), *common, f"--user-data-dir={work / 'profile-dom'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, check=False)
    shutil.rmtree(work / "profile-dom", ignore_errors=True)
    assert dom.returncode == 0 and "<body" in dom.stdout, dom.stderr[-2000:]
    if not screenshot:
        return Rendered(dom.stdout, None)
    image = work / f"{page.stem}.png"
    shot = subprocess.run([str(CHROMIUM), *common, f"--user-data-dir={work / 'profile-shot'}",
                           f"--screenshot={image}", url],
                          capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, check=False)
    shutil.rmtree(work / "profile-shot", ignore_errors=True)
    assert shot.returncode == 0 and image.exists(), shot.stderr[-2000:]
    return Rendered(dom.stdout, image)
