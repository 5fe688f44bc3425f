"""A homework, declared in one place: ``grader/homeworks/<folder>/homework.toml``, read into a ``Homework``.

The engine knows no homework. Everything it needs to grade one comes from its declaration: the files
students upload and the functions in them, the provided modules and the data the worker may read, the
checks (unit checks, then the training phase's checks), the training runs and their arguments, the
metrics the trusted evaluator reports, the calibrated bands, the grids, the points of every check, the
leaderboard and the recommended time limit. Code the homework brings lives in its folder:

    homework.toml     the declaration (below); ``omit`` lists modules of its layers it does not ship; ``draft =
                      true`` marks one still being written (graded by id, never listed, built or shipped);
                      ``[worker_data]`` names the arrays of a data file the worker may see (a training set
                      without the test set, for a model whose architecture is the student's)
    checks/           pytest files run by the grader on the trusted side (``@number`` names each check)
    trusted.py        the trusted side's hooks: ANSWERS (the declared shape of each worker operation's answer),
                      evaluation(grading) (the metrics of the trained model), and whatever its checks share
    worker_ops.py     the operations the sandboxed worker runs on the student's code (``op_<name>``)
    calibration.json  the bands of its scored metrics, written by ``make calibrate HOMEWORK=<id>``
    mutants.toml      its catalogue of realistic mistakes and correct rewrites

A homework may ``extend`` another: its declaration is the base's with its own tables merged over it, a
check file or trusted.py or mutants.toml its folder lacks is the base's, and its worker looks an operation
up in its own worker_ops.py first, then in its bases'. Its calibration is always its own.

Its source lives in ``reference/``: ``reference/common/`` holds the modules every homework shares and
``reference/<id>/`` only what differs (read in the order id, its bases, common). A homework's starter,
``assignment/<id>/``, is generated from those layers, with the solution regions of its own functions
replaced by TODOs (``make assignment``).
"""

import functools
import importlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

PROJECT_DIR = Path(__file__).resolve().parents[2]
HOMEWORKS_DIR = Path(__file__).resolve().parents[1] / "homeworks"
REFERENCE_DIR = PROJECT_DIR / "reference"
ASSIGNMENT_DIR = PROJECT_DIR / "assignment"
DATASETS_DIR = PROJECT_DIR / "datasets"
COMMON_LAYER = "common"
SPEC_NAME = "homework.toml"
RESULTS_NAME = "results.json"  # beside the artifacts, in the grading's results folder


class HomeworkError(ValueError):
    """A declaration that cannot be used; the message names the file and what to fix."""


@dataclass(frozen=True)
class Function:
    """A function students implement: its name, its file, and the section of the checks that grades it."""

    name: str
    file: str
    section: str
    op: str  # the worker operation that calls it in the unit checks (its time budget is this function's)


@dataclass(frozen=True)
class TrainingRun:
    """One training the worker runs with the provided loop (most homeworks have one, named "main")."""

    name: str
    op: str  # the worker operation (worker_ops.py) that trains and answers the weights
    iterations: int
    seed: int
    arguments: Mapping[str, object]  # passed to the operation as they are (a model size, ...)
    reference_seconds_full_cpu: float  # the reference's training on one full core (make bench)
    reference_seconds_half_cpu: float  # and on Gradescope's default ½ CPU


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    order: str = "asc"  # "asc": lower is better (a bound in nats); "desc": higher is better (an accuracy)
    digits: int = 3
    scored: bool = False  # scored against a calibrated band (calibration.json "bands")
    check: str = ""  # the check that scores it (its points)
    # The band's policy (make calibrate): points fall linearly to zero over ``partial_width`` beyond the full-points
    # edge, which stays at least ``margin`` beyond the worst reference run; edges are rounded outwards to ``step``.
    partial_width: float = 0.0
    margin: float = 0.0
    step: float = 0.1


@dataclass(frozen=True)
class Grid:
    """An image the trusted side draws and keeps beside results.json (``<name>.png``)."""

    name: str
    caption: str


@dataclass(frozen=True)
class LeaderboardEntry:
    metric: str
    name: str
    order: str = "asc"


@dataclass(frozen=True, eq=False)  # one object per homework (load_homework caches): hashed by identity
class Homework:
    id: str
    title: str
    folder: Path  # grader/homeworks/<folder>/
    bases: tuple["Homework", ...]  # what it extends, nearest first
    student_files: tuple[str, ...]
    functions: tuple[Function, ...]
    data_files: tuple[str, ...]  # under datasets/: what the worker may read
    unit_checks: tuple[str, ...]  # file names in checks/
    training_checks: tuple[str, ...]
    trainings: tuple[TrainingRun, ...]
    metrics: tuple[Metric, ...]
    grids: tuple[Grid, ...]
    points: Mapping[str, float]  # check number -> points
    leaderboard: tuple[LeaderboardEntry, ...]
    time_limit: int  # recommended autograder timeout on Gradescope, seconds
    report_grid: str = ""  # the grid the batch report shows per student
    written: str = ""  # a written part graded by staff on Gradescope (not by this grader), if any
    settings: Mapping[str, object] = field(default_factory=dict)  # homework-specific values for its own code
    omitted: tuple[str, ...] = ()  # modules of its layers it does not ship (a shared module it has no use for)
    draft: bool = False  # still being written: graded by id in development, never listed, built or shipped
    worker_arrays: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # data file -> the arrays the worker
    #                                                         sees (a copy holding only those); absent: the whole file
    reference_root: Path = REFERENCE_DIR  # where its layers are (tests point it at a copy)
    assignment_root: Path = ASSIGNMENT_DIR  # where its starter is generated

    # -- where its files are ---------------------------------------------------------------------------

    def resource(self, name: str) -> Path:
        """``name`` in this homework's folder, or in the nearest base that has it."""
        for folder in (self.folder, *(base.folder for base in self.bases)):
            if (folder / name).exists():
                return folder / name
        raise HomeworkError(f"homework {self.id}: no {name} in {self.folder} or its bases")

    @property
    def chain(self) -> tuple["Homework", ...]:
        """This homework, then the homeworks it extends, nearest first."""
        return (self, *self.bases)

    @property
    def checks_dir(self) -> Path:
        """The nearest checks/ folder of the chain (check files resolve one by one: see ``check_file``)."""
        return self.resource("checks")

    def check_file(self, name: str) -> Path:
        """The check file ``name``: from this homework's checks/, or the nearest base's that has it."""
        return self.resource(f"checks/{name}")

    @property
    def worker_operations(self) -> tuple[Path, ...]:
        """Every worker_ops.py of the chain, nearest first: an operation is looked up in that order."""
        return tuple(member.folder / "worker_ops.py" for member in self.chain
                     if (member.folder / "worker_ops.py").is_file())

    @property
    def trusted_module(self) -> Path:
        return self.resource("trusted.py")

    def trusted(self) -> ModuleType:
        """The homework's trusted module (its answer shapes and what its checks share), imported as a package
        module of grader.homeworks."""
        relative = self.trusted_module.relative_to(HOMEWORKS_DIR.parent.parent).with_suffix("")
        return importlib.import_module(".".join(relative.parts))


    @property
    def calibration_file(self) -> Path:
        return self.folder / "calibration.json"  # never inherited: every homework is calibrated on its own

    @property
    def mutants_file(self) -> Path:
        return self.resource("mutants.toml")

    @property
    def reference_layers(self) -> tuple[Path, ...]:
        """Its source folders, first match wins: reference/<id>, its bases', reference/common (those that exist)."""
        names = (self.id, *(base.id for base in self.bases), COMMON_LAYER)
        return tuple(self.reference_root / name for name in names if (self.reference_root / name).is_dir())

    @property
    def assignment_dir(self) -> Path:
        return self.assignment_root / self.id

    @property
    def data_paths(self) -> tuple[Path, ...]:
        return tuple(DATASETS_DIR / name for name in self.data_files)

    # -- what it asks ------------------------------------------------------------------------------------

    @property
    def max_score(self) -> float:
        return float(sum(self.points.values()))

    @property
    def student_modules(self) -> tuple[str, ...]:
        return tuple(name.removesuffix(".py") for name in self.student_files)

    def function_of_op(self, op: str) -> Function | None:
        return next((function for function in self.functions if function.op == op), None)

    def metric(self, name: str) -> Metric:
        found = next((metric for metric in self.metrics if metric.name == name), None)
        if found is None:
            raise HomeworkError(f"homework {self.id} declares no metric {name!r}")
        return found

    def training(self, name: str = "main") -> TrainingRun:
        found = next((run for run in self.trainings if run.name == name), None)
        if found is None:
            raise HomeworkError(f"homework {self.id} declares no training run {name!r}")
        return found

    def section_points(self) -> dict[str, float]:
        """Points per section ("1": the first function's checks, ...)."""
        totals: dict[str, float] = {}
        for number, points in self.points.items():
            section = number.split(".")[0]
            totals[section] = totals.get(section, 0.0) + points
        return totals

    def summary(self) -> dict[str, object]:
        """What ``python -m grader homeworks --json`` lists."""
        return {
            "id": self.id, "title": self.title, "extends": self.bases[0].id if self.bases else None,
            "student_files": list(self.student_files), "functions": [f.name for f in self.functions],
            "points": self.max_score, "section_points": self.section_points(),
            "training_iterations": {run.name: run.iterations for run in self.trainings},
            "metrics": [metric.name for metric in self.metrics], "time_limit": self.time_limit,
            "written_part": bool(self.written),
        }


# -- reading declarations ------------------------------------------------------------------------------


def _merge(base: Mapping[str, object], override: Mapping[str, object]) -> dict[str, object]:
    """Tables merged key by key (recursively); anything else in ``override`` replaces the base's value."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)  # type: ignore[arg-type]
        else:
            merged[key] = value
    return merged


def _read(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise HomeworkError(f"{path}: {error}") from None


def _require(table: Mapping[str, object], key: str, kind: type, where: str) -> object:
    value = table.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise HomeworkError(f"{where}: {key!r} must be a {kind.__name__}, found {value!r}")
    return value


def _build(folder: Path, declared: Mapping[str, object], bases: tuple[Homework, ...]) -> Homework:
    where = str(folder / SPEC_NAME)
    functions = tuple(
        Function(str(entry["name"]), str(entry["file"]), str(entry["section"]), str(entry.get("op", entry["name"])))
        for entry in declared.get("functions", [])  # type: ignore[union-attr]
    )
    trainings = tuple(
        TrainingRun(str(name), str(run["op"]), int(run["iterations"]), int(run.get("seed", 0)),
                    dict(run.get("arguments", {})), float(run["reference_seconds_full_cpu"]),
                    float(run["reference_seconds_half_cpu"]))
        for name, run in dict(declared.get("trainings", {})).items()  # type: ignore[arg-type]
    )
    checks = dict(declared.get("checks", {}))  # type: ignore[arg-type]
    homework = Homework(
        id=str(_require(declared, "id", str, where)),
        title=str(_require(declared, "title", str, where)),
        folder=folder,
        bases=bases,
        student_files=tuple(_require(declared, "student_files", list, where)),  # type: ignore[arg-type]
        functions=functions,
        data_files=tuple(declared.get("data_files", [])),  # type: ignore[arg-type]
        unit_checks=tuple(checks.get("unit", [])),
        training_checks=tuple(checks.get("training", [])),
        trainings=trainings,
        metrics=tuple(Metric(**entry) for entry in declared.get("metrics", [])),  # type: ignore[union-attr]
        grids=tuple(Grid(**entry) for entry in declared.get("grids", [])),  # type: ignore[union-attr]
        points={str(k): float(v) for k, v in dict(declared.get("points", {})).items()},  # type: ignore[arg-type]
        leaderboard=tuple(LeaderboardEntry(**e) for e in declared.get("leaderboard", [])),  # type: ignore[union-attr]
        time_limit=int(declared.get("time_limit", 600)),  # type: ignore[arg-type]
        report_grid=str(declared.get("report_grid", "")),
        written=str(declared.get("written", "")),
        settings=dict(declared.get("settings", {})),  # type: ignore[arg-type]
        omitted=tuple(declared.get("omit", [])),  # type: ignore[arg-type]
        draft=declared.get("draft", False) is True,
        worker_arrays={str(name): tuple(str(array) for array in arrays)
                       for name, arrays in dict(declared.get("worker_data", {})).items()},  # type: ignore[arg-type]
    )
    _validate(homework, where)
    return homework


def _validate(homework: Homework, where: str) -> None:
    problems = []
    if not homework.student_files or not all(name.endswith(".py") for name in homework.student_files):
        problems.append("student_files must list the .py files students upload")
    for function in homework.functions:
        if function.file not in homework.student_files:
            problems.append(f"function {function.name} is in {function.file}, which is not a student file")
    sections = {function.section for function in homework.functions}
    for number in homework.points:
        if "." not in number:
            problems.append(f"check number {number!r} is not 'section.check'")
    missing_sections = sections - set(homework.section_points())
    if missing_sections:
        problems.append(f"sections {sorted(missing_sections)} have functions but no points")
    names = {metric.name for metric in homework.metrics}
    for entry in homework.leaderboard:
        if entry.metric not in names:
            problems.append(f"leaderboard entry {entry.name!r} names the undeclared metric {entry.metric!r}")
    for metric in homework.metrics:
        if metric.order not in ("asc", "desc"):
            problems.append(f"metric {metric.name}: order must be 'asc' or 'desc'")
    if homework.report_grid and homework.report_grid not in {grid.name for grid in homework.grids}:
        problems.append(f"report_grid {homework.report_grid!r} is not a declared grid")
    for name in homework.omitted:
        if name in homework.student_files or "/" in name or not name.endswith(".py"):
            problems.append(f"omit lists {name!r}: only provided top-level modules can be left out")
    for name, arrays in homework.worker_arrays.items():
        if name not in homework.data_files or not arrays:
            problems.append(f"worker_data names {name!r}: it must be one of data_files, with the arrays to keep")
    if homework.training_checks and not homework.trainings:
        problems.append("training checks are declared but no training run")
    if problems:
        raise HomeworkError(f"{where}: " + "; ".join(problems))


@functools.cache
def _declarations(homeworks_dir: Path) -> dict[str, tuple[Path, dict[str, object]]]:
    """id -> (folder, its own declaration), for every folder with a homework.toml."""
    found: dict[str, tuple[Path, dict[str, object]]] = {}
    for spec in sorted(homeworks_dir.glob(f"*/{SPEC_NAME}")):
        declared = _read(spec)
        homework_id = declared.get("id")
        if not isinstance(homework_id, str):
            raise HomeworkError(f"{spec}: 'id' must be a string")
        if homework_id in found:
            raise HomeworkError(f"{spec}: id {homework_id!r} is also declared in {found[homework_id][0]}")
        found[homework_id] = (spec.parent, declared)
    return found


def default_homework_id(homeworks_dir: Path = HOMEWORKS_DIR) -> str:
    """The homework a command grades when none is named: the one declared ``default = true`` (or the only one)."""
    declarations = _declarations(homeworks_dir)
    marked = [homework_id for homework_id, (_, declared) in declarations.items() if declared.get("default") is True]
    if len(marked) == 1:
        return marked[0]
    if not marked and len(declarations) == 1:
        return next(iter(declarations))
    raise HomeworkError(f"{len(marked)} homeworks in {homeworks_dir} are declared default = true; mark exactly one, "
                        "or name the homework (--homework ID)")


def load_homework(homework_id: str | None = None, homeworks_dir: Path = HOMEWORKS_DIR) -> Homework:
    """The homework with ``homework_id`` (default: the default homework), its bases resolved; HomeworkError names
    what is wrong. One object per homework: equal ids give the same object."""
    return _load(homework_id or default_homework_id(homeworks_dir), homeworks_dir)


def _extends_chain(homework_id: str, homeworks_dir: Path) -> list[str]:
    """The homework's id and its bases' ids, nearest first; an unknown homework or a circle is refused."""
    declarations = _declarations(homeworks_dir)
    chain = [homework_id]
    while True:
        if chain[-1] not in declarations:
            known = ", ".join(sorted(declarations)) or "none"
            raise HomeworkError(f"no homework {chain[-1]!r} (known: {known}); see python -m grader homeworks")
        folder, declared = declarations[chain[-1]]
        base_id = declared.get("extends")
        if base_id is None:
            return chain
        if not isinstance(base_id, str) or base_id in chain:
            raise HomeworkError(f"{folder / SPEC_NAME}: extends must name another homework, not one that extends it "
                                f"back ({' -> '.join([*chain, str(base_id)])})")
        chain.append(base_id)


@functools.cache
def _load(homework_id: str, homeworks_dir: Path) -> Homework:
    chain = _extends_chain(homework_id, homeworks_dir)
    folder, declared = _declarations(homeworks_dir)[homework_id]
    if len(chain) == 1:
        return _build(folder, declared, ())
    base = _load(chain[1], homeworks_dir)
    merged = _merge(_base_declaration(base, homeworks_dir), {k: v for k, v in declared.items() if k != "extends"})
    return _build(folder, merged, (base, *base.bases))


def _base_declaration(base: Homework, homeworks_dir: Path) -> dict[str, object]:
    """A base's full declaration (its own bases merged in), without the fields that never carry over."""
    declarations = _declarations(homeworks_dir)
    own = declarations[base.id][1]
    merged = own if not base.bases else _merge(_base_declaration(base.bases[0], homeworks_dir), own)
    return {key: value for key, value in merged.items() if key not in ("extends", "written", "default", "draft")}


def all_homeworks(homeworks_dir: Path = HOMEWORKS_DIR, drafts: bool = False) -> list[Homework]:
    """Every declared homework, sorted by id; a draft (``draft = true``) only with ``drafts``."""
    homeworks = [load_homework(homework_id, homeworks_dir) for homework_id in sorted(_declarations(homeworks_dir))]
    return [homework for homework in homeworks if drafts or not homework.draft]
