"""Calibrate a homework's bands: its reference retrained over many seeds and thread counts, as the grader does it.

    python -m grader.instructor.calibrate [--homework ID] [--seeds 20] [--threads 1 2] [--iterations N]
                                          [--jobs J] [--fresh] [--place ID ...]

Each run is one grading session's training phase and the homework's trusted evaluation of the reference's
student files: the provided loop trains them in the sandboxed worker, and the grader's own code scores the
returned weights. Those are exactly the metrics the training checks score. A correct submission differs from
the reference only in floating-point order (``sqrt(v) * eps`` against ``exp(0.5 * log v) * eps``, ``.mean()``
against ``.sum() / n``), which sends training down a different but equally good path, so the spread over seeds
and thread counts stands for the spread over correct solutions.

The band of each scored metric (see ``derive_band``; the metric's policy is declared in homework.toml): the
edge is the fitted mean plus z standard deviations on the worse side, with z set by the target false-fail
probability and the standard deviation taken at its 95 % upper confidence bound (few runs), and at least the
metric's ``margin`` beyond the worst run observed. ``calibration.json`` in the homework's folder is rewritten
after every run, so a cut-short calibration still leaves a usable file, and a new calibration keeps the runs
already recorded and does only the missing ones (``--fresh`` starts over).

``--place`` grades "almost right" variants from the homework's mutant catalogue through the same full
training, and records where their scored metric falls relative to its band and the points it would get.
"""

import argparse
import json
import math
import multiprocessing
import os
import platform
import signal
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist, fmean, stdev

import torch

from grader.engine.feedback import WrongAnswer
from grader.engine.homework import Homework, Metric, load_homework
from grader.engine.results import write_json_atomically
from grader.engine.scoring import Band
from grader.grading.session import Budgets, GradeConfig, GradingSession
from grader.grading.submission import load_submission
from grader.grading.worker_client import WorkerFailure
from grader.grading.workspace import create_workspace, temporary_holder
from grader.instructor.catalogue import load_catalogue, problems, write_reference_submission

DEFAULT_SEEDS = 20
DEFAULT_THREADS = (1, 2)
TARGET_FALSE_FAIL = 1e-4  # probability that a correct submission gets less than full training points
SIGMA_CONFIDENCE = 0.95  # the standard deviation is taken at this upper confidence bound
MIN_RUNS_FOR_BAND = 3
CALIBRATION_BUDGETS = Budgets(training=7_200.0, total=8_000.0)  # a shared machine can be slow: no timeouts here


@dataclass(frozen=True)
class CalibrationConfig:
    homework: str | None = None  # None: the default homework
    seeds: int = DEFAULT_SEEDS
    first_seed: int = 0
    threads: tuple[int, ...] = DEFAULT_THREADS
    iterations: int | None = None  # None: the homework's
    out: Path | None = None  # None: the homework's calibration.json
    fresh: bool = False  # forget the runs already in ``out`` (a new torch, a changed reference)
    jobs: int = 0  # runs at once; 0: as many as the cores allow (cores // threads of the run)
    place: tuple[str, ...] = ()  # catalogue ids of variants to place relative to the band
    placement_seed: int = 0
    placement_threads: int = 1

    def target(self, homework: Homework) -> Path:
        return self.out or homework.calibration_file

    def full_iterations(self, homework: Homework) -> int:
        return self.iterations or homework.training().iterations


@dataclass(frozen=True)
class Variant:
    """A catalogue entry: the reference with its edits, and what it gets wrong."""

    id: str
    mistake: str
    files: dict[str, str]


def load_variants(homework: Homework, ids: tuple[str, ...]) -> list[Variant]:
    """The catalogue's entries named ``ids``, applied to the reference's student files."""
    entries = {mutant.id: mutant for mutant in load_catalogue(homework)}
    unknown = [name for name in ids if name not in entries]
    if unknown:
        raise ValueError(f"not in {homework.mutants_file}: {', '.join(unknown)}")
    variants = []
    for name in ids:
        mutant = entries[name]
        found = problems(mutant, homework)
        if found:
            raise ValueError(f"{name}: {'; '.join(found)}")
        variants.append(Variant(name, mutant.mistake or "a correct rewrite", mutant.source(homework)))
    return variants


def measure_variant(homework_id: str, variant: Variant, seed: int, threads: int, iterations: int | None) -> dict:
    """``measure`` on a variant written to a temporary submission folder."""
    with tempfile.TemporaryDirectory(prefix=f"place-{variant.id}-") as folder:
        for name, text in variant.files.items():
            (Path(folder) / name).write_text(text)
        run = measure(homework_id, seed, threads, iterations, Path(folder))
    return {"id": variant.id, "mistake": variant.mistake, **run}


def measure(homework_id: str, seed: int, threads: int, iterations: int | None, submission: Path | None = None) -> dict:
    """One grading session's training runs and the homework's trusted evaluation: the run's figures."""
    homework = load_homework(homework_id)
    config = GradeConfig(iterations=iterations, seed=seed, threads=threads, budgets=CALIBRATION_BUDGETS)
    torch.set_num_threads(threads)  # the trusted evaluation, as grade() sets it
    started = time.monotonic()
    with temporary_holder() as temporary:
        if submission is None:
            submission = write_reference_submission(homework, temporary / "reference")
        workspace = create_workspace(homework, load_submission(submission, homework.student_files),
                                     temporary / "workspace")
        session = GradingSession(homework, config, workspace)
        try:
            metrics = homework.trusted().evaluation(session)
            outcomes = session.training_outcomes()
        finally:
            session.close()
    return {
        "seed": seed,
        "threads": threads,
        "iterations": main_iterations(homework, outcomes),
        **{name: float(value) for name, value in metrics.items()},
        "training_seconds": round(sum(float(o.answer.get("seconds", math.nan)) for o in outcomes), 1),
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def main_iterations(homework: Homework, outcomes: list) -> int:
    """The iterations of the run the bands are for: the main training (a homework's shorter side runs, like a
    beta = 0 run for its reconstructions, do not make a full calibration run a short one)."""
    main = homework.training().name if any(run.name == "main" for run in homework.trainings) else None
    chosen = [outcome.iterations for outcome in outcomes if outcome.run.name == main] if main else []
    return chosen[0] if chosen else min(outcome.iterations for outcome in outcomes)


def normal_tail(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def chi2_quantile(probability: float, dof: int) -> float:
    """The chi-square quantile by the Wilson-Hilferty approximation (within 1 % from 2 degrees of freedom on)."""
    z = NormalDist().inv_cdf(probability)
    return dof * (1.0 - 2.0 / (9.0 * dof) + z * math.sqrt(2.0 / (9.0 * dof))) ** 3


def _sign(metric: Metric) -> float:
    """+1 where lower is better, -1 where higher is better: the band is derived on sign * value, worse upward."""
    return 1.0 if metric.order == "asc" else -1.0


def derive_band(values: list[float], metric: Metric) -> tuple[Band, dict]:
    """The band from the reference's values of ``metric``, and the statistics behind it (for calibration.json)."""
    if len(values) < MIN_RUNS_FOR_BAND:
        raise ValueError(f"{len(values)} runs: at least {MIN_RUNS_FOR_BAND} are needed to derive a band")
    sign = _sign(metric)
    worse_up = [sign * value for value in values]
    n = len(worse_up)
    mean, sd = fmean(worse_up), stdev(worse_up)
    sd_upper = sd * math.sqrt((n - 1) / chi2_quantile(1.0 - SIGMA_CONFIDENCE, n - 1))
    z = NormalDist().inv_cdf(1.0 - TARGET_FALSE_FAIL)
    upper = max(mean + z * sd_upper, max(worse_up) + metric.margin)
    lower = min(mean - z * sd_upper, min(worse_up) - metric.margin)
    full = math.ceil(round(upper / metric.step, 6)) * metric.step
    review = math.floor(round(lower / metric.step, 6)) * metric.step
    digits = max(0, -math.floor(math.log10(metric.step)))
    band = Band(full=round(sign * full, digits), zero=round(sign * (full + metric.partial_width), digits),
                review=round(sign * review, digits), order=metric.order)
    statistics = {
        "runs": n,
        "mean": round(sign * mean, 4),
        "sd": round(sd, 4),
        "sd_upper_95": round(sd_upper, 4),
        "best": round(sign * min(worse_up), 4),
        "worst": round(sign * max(worse_up), 4),
        "z": round(z, 3),
        "edge_beyond_worst_in_sd": round((full - max(worse_up)) / sd, 2) if sd > 0 else None,
        "worst_in_sd": round((max(worse_up) - mean) / sd, 2) if sd > 0 else None,
        "false_fail_probability": normal_tail((full - mean) / sd) if sd > 0 else 0.0,
        "false_fail_probability_sd_upper_95": normal_tail((full - mean) / sd_upper) if sd_upper > 0 else 0.0,
        "reference_runs_losing_points": sum(1 for value in values if not band.inside(value)),
    }
    return band, statistics


def per_seed_worst(runs: list[dict], metric: Metric) -> list[float]:
    """One value per seed, the worst over its thread counts: runs of one seed are not independent samples."""
    sign = _sign(metric)
    worst: dict[int, float] = {}
    for run in runs:
        worst[run["seed"]] = max(worst.get(run["seed"], -math.inf), sign * run[metric.name])
    return [sign * worst[seed] for seed in sorted(worst)]


def thread_effect(runs: list[dict], name: str) -> float | None:
    """The largest difference between thread counts of the same seed (None without such pairs)."""
    by_seed: dict[int, list[float]] = {}
    for run in runs:
        by_seed.setdefault(run["seed"], []).append(run[name])
    spreads = [max(values) - min(values) for values in by_seed.values() if len(values) > 1]
    return max(spreads) if spreads else None


METHOD = (
    "Each run grades the reference's student files as a submission: the grader's training phase (the provided loop "
    "in the sandboxed worker, the given seed and thread count) and its trusted evaluation. Runs of one seed at "
    "different thread counts follow almost the same path (statistics.<metric>.thread_effect_max: the largest "
    "difference), so they are not independent samples: each seed counts once, with its worst value over the thread "
    "counts, and a normal distribution is fitted to those per-seed values (statistics.<metric>.runs counts seeds). "
    "For a metric where lower is better, full = mean + z * sd_upper rounded up to the metric's step, where z = "
    f"Phi^-1(1 - {TARGET_FALSE_FAIL:g}) and sd_upper is the {SIGMA_CONFIDENCE:.0%} upper confidence bound of the "
    "standard deviation (chi-square, few runs); never less than the metric's margin beyond the worst run (tails are "
    "heavier than normal: statistics.<metric>.worst_in_sd). review is the mirror image on the better side. zero = "
    "full + the metric's partial-credit width (a policy). Where higher is better, everything is mirrored. "
    "false_fail_probability is the fitted normal's tail beyond full: the chance that a correct submission, trained "
    "once, loses any of that metric's points."
)


def placed(placements: list[dict], homework: Homework, bands: dict[str, Band]) -> list[dict]:
    """Each placement with where its scored metric falls and the points of the check that scores it."""
    result = []
    for run in placements:
        entry = dict(run)
        for name, band in bands.items():
            metric = homework.metric(name)
            value = run.get(name, math.nan)
            if band.inside(value):
                where = "inside the band: full points"
            elif band.fraction(value) > 0:
                where = "partial credit"
            else:
                where = "zero points"
            points = homework.points.get(metric.check, 0.0)
            entry[f"{name}_where"] = where
            entry[f"{name}_points"] = band.points(value, points)
            entry[f"{name}_of"] = points
        result.append(entry)
    return result


def write_calibration(runs: list[dict], homework: Homework, config: CalibrationConfig,
                      failures: list[dict] | None = None, placements: list[dict] | None = None) -> dict[str, Band]:
    """Rewrite calibration.json (and the plot) from the runs so far; the bands once there are enough runs.

    Only runs at the full iterations (the homework's, unless testing) count towards the bands.
    """
    out = config.target(homework)
    full_iterations = config.full_iterations(homework)
    scored = [metric for metric in homework.metrics if metric.scored]
    full = [run for run in runs if run["iterations"] == full_iterations
            and all(math.isfinite(run.get(metric.name, math.nan)) for metric in scored)]
    document: dict = {"method": METHOD, "homework": homework.id, "bands": {}, "statistics": {}, "runs": runs,
                      "failed_runs": list(failures or []), "environment": environment()}
    bands: dict[str, Band] = {}
    for metric in scored:
        try:
            band, statistics = derive_band(per_seed_worst(full, metric), metric)
        except ValueError as error:
            document.setdefault("band_notes", {})[metric.name] = f"no band derived: {error}"
            continue
        effect = thread_effect(full, metric.name)
        statistics.update(graded_runs=len(full), thread_effect_max=None if effect is None else round(effect, 4),
                          reference_runs_losing_points=sum(1 for run in full if not band.inside(run[metric.name])))
        bands[metric.name] = band
        document["bands"][metric.name] = {"full": band.full, "zero": band.zero, "review": band.review}
        document["statistics"][metric.name] = statistics
        document.setdefault("by_threads", {})[metric.name] = {
            str(threads): summary([run[metric.name] for run in full if run["threads"] == threads])
            for threads in sorted({run["threads"] for run in full})}
    document["summaries"] = {metric.name: summary([run[metric.name] for run in full if metric.name in run])
                             for metric in homework.metrics if not metric.scored}
    document["placements"] = placed(list(placements or []), homework, bands)
    write_json_atomically(document, out)
    out.chmod(0o644)  # a committed file: readable like the rest of the repository
    if bands:
        plot_calibration(full, homework, bands, document["statistics"], out.with_suffix(".png"),
                         document["placements"])
    return bands


def summary(values: list[float]) -> dict:
    return {"runs": len(values), "mean": round(fmean(values), 4) if values else None,
            "sd": round(stdev(values), 4) if len(values) > 1 else None,
            "min": round(min(values), 4) if values else None, "max": round(max(values), 4) if values else None}


def environment() -> dict:
    return {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine()}


def plot_calibration(runs: list[dict], homework: Homework, bands: dict[str, Band], statistics: dict, path: Path,
                     placements: list[dict] | None = None) -> None:
    """For each scored metric: a histogram of the reference's per-seed values, the fitted normal and the band's
    edges; then the placed variants against the first band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(bands)
    placements = [run for run in placements or [] if math.isfinite(run.get(names[0], math.nan))]
    columns = len(names) + (1 if placements else 0)
    figure, axes = plt.subplots(1, columns, figsize=(6 * columns, 4.5), squeeze=False)
    thread_counts = sorted({run["threads"] for run in runs})
    for axis, name in zip(axes[0], names, strict=False):
        metric, band, stats = homework.metric(name), bands[name], statistics[name]
        values = per_seed_worst(runs, metric)
        edges = [band.full, band.review]
        low, high = min([*values, *edges]), max([*values, *edges])
        margin = 0.15 * (high - low or 1.0)
        low, high = low - margin, high + margin
        bins = [low + k * (high - low) / 30 for k in range(31)]
        axis.hist(values, bins=bins, color="tab:blue",
                  label=f"{len(values)} seeds (worst over thread counts {', '.join(map(str, thread_counts))})")
        mean, sd = stats["mean"], stats["sd"]
        if sd > 0:
            width = bins[1] - bins[0]
            xs = [low + k * (high - low) / 300 for k in range(301)]
            density = NormalDist(mean, sd)
            axis.plot(xs, [len(values) * width * density.pdf(x) for x in xs], color="black", lw=1,
                      label=f"normal fit: {mean:.3g} ± {sd:.2g}")
        axis.axvline(band.full, color="green", ls="--", label=f"full points: {band.describe()}")
        axis.axvline(band.review, color="orange", ls=":", label=f"staff review beyond {band.review:g}")
        axis.set_xlabel(f"{metric.label} (grader's evaluator)")
        axis.set_ylabel("seeds")
        axis.set_title(f"{homework.id} reference: {len(values)} seeds, {len(runs)} runs\n"
                       f"P(false fail) ≈ {stats['false_fail_probability']:.1g} (fitted sd), "
                       f"{stats['false_fail_probability_sd_upper_95']:.1g} (95 % upper sd)", fontsize=9)
        axis.legend(fontsize=7)
    if placements:
        plot_placements(axes[0][-1], placements, homework.metric(names[0]), bands[names[0]],
                        statistics[names[0]]["mean"])
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_placements(axis: object, placements: list[dict], metric: Metric, band: Band, reference_mean: float) -> None:
    """One bar per placed variant: its value of the scored metric, with the band's edges and the reference's mean."""
    name = metric.name
    labels = [run["id"] for run in placements]
    values = [run[name] for run in placements]
    colours = ["tab:green" if run[f"{name}_points"] == run[f"{name}_of"] else "tab:orange"
               if run[f"{name}_points"] > 0 else "tab:red" for run in placements]
    axis.barh(labels, values, color=colours)
    axis.axvline(reference_mean, color="black", lw=1, label=f"reference mean {reference_mean:.2f}")
    axis.axvline(band.full, color="green", ls="--", label=f"full points to {band.full:g}")
    axis.axvline(band.zero, color="red", ls="--", label=f"zero from {band.zero:g}")
    for index, run in enumerate(placements):
        axis.text(run[name], index, f" {run[name]:.1f} ({run[f'{name}_points']:g}/{run[f'{name}_of']:g})",
                  va="center", fontsize=7)
    axis.set_xlabel(f"{metric.label} after a full training")
    axis.set_title("almost-right variants, one full training each", fontsize=9)
    axis.tick_params(axis="y", labelsize=7)
    axis.legend(fontsize=7, loc="lower right")


def exit_on_sigterm() -> None:
    """A terminated calibration (or run) still closes its grading session, so no training worker is left behind."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def stop_runs(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's running runs (each closes its session) and drop the queued ones. Leaving the pool's
    block would otherwise wait for every running training to finish, minutes after the calibration was stopped."""
    running = list((getattr(pool, "_processes", None) or {}).values())  # no public handle before 3.14; read it
    pool.shutdown(wait=False, cancel_futures=True)  # before shutdown, which drops it
    for process in running:
        process.terminate()


def run_calibration(config: CalibrationConfig) -> int:
    homework = load_homework(config.homework)
    out = config.target(homework)
    iterations = config.full_iterations(homework)
    runs: list[dict] = []
    placements: list[dict] = []
    if not config.fresh and out.exists():
        previous = json.loads(out.read_text())
        runs = list(previous.get("runs", []))
        placements = [{k: v for k, v in run.items() if not k.endswith(("_where", "_points", "_of"))}
                      for run in previous.get("placements", [])]
    variants = load_variants(homework, config.place) if config.place else []
    done = {(run["seed"], run["threads"], run["iterations"]) for run in runs}
    placed_done = {(run["id"], run["seed"], run["threads"], run["iterations"]) for run in placements}
    failures: list[dict] = []  # runs the machine could not complete (a crashed or timed-out worker); retried later
    plan: list[tuple[Variant | None, int, int]] = [
        (None, seed, threads) for seed in range(config.first_seed, config.first_seed + config.seeds)
        for threads in config.threads if (seed, threads, iterations) not in done]
    plan += [(variant, config.placement_seed, config.placement_threads) for variant in variants
             if (variant.id, config.placement_seed, config.placement_threads, iterations) not in placed_done]
    print(f"{homework.id}: {len(plan)} runs of {iterations:,} iterations to do; {len(runs)} reference runs and "
          f"{len(placements)} placements kept from {out}", flush=True)
    finished = 0

    def record(label: str, variant: Variant | None, run: dict | None, error: BaseException | None) -> None:
        nonlocal finished
        finished += 1
        if error is not None:  # the machine, or a variant that cannot train: say so, go on
            failures.append({"run": label, "error": f"{type(error).__name__}: {error}"[:500]})
            write_calibration(runs, homework, config, failures, placements)
            print(f"[{finished}/{len(plan)}] {label}: FAILED ({failures[-1]['error']})", flush=True)
            return
        assert run is not None
        (runs if variant is None else placements).append(run)
        bands = write_calibration(runs, homework, config, failures, placements)
        figures = " ".join(f"{metric.label} {run[metric.name]:.4g}" for metric in homework.metrics
                           if metric.name in run)
        print(f"[{finished}/{len(plan)}] {label}: {figures} ({run['wall_seconds']:.0f} s); bands {bands}", flush=True)

    # Each run in its own process (one grading session each, as on Gradescope); the parent alone writes the file.
    cores = os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    asked = config.iterations
    for threads in sorted({threads for _, _, threads in plan}):
        group = [item for item in plan if item[2] == threads]
        with ProcessPoolExecutor(max_workers=config.jobs or max(1, cores // threads), mp_context=context,
                                 initializer=exit_on_sigterm) as pool:
            futures = {
                pool.submit(measure, homework.id, seed, threads, asked) if variant is None
                else pool.submit(measure_variant, homework.id, variant, seed, threads, asked):
                (f"{variant.id if variant else 'reference'} seed {seed} threads {threads}", variant)
                for variant, seed, threads in group
            }
            try:
                for future in as_completed(futures):
                    label, variant = futures[future]
                    try:
                        run, error = future.result(), None
                    except (WorkerFailure, WrongAnswer) as failure:
                        run, error = None, failure
                    record(label, variant, run, error)
            except BaseException:  # terminated or interrupted: stop the runs now instead of waiting for them
                stop_runs(pool)
                raise
    if not plan:
        write_calibration(runs, homework, config, failures, placements)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.instructor.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--homework", default=None, help="the homework's id (default: the default homework)")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="seeds per thread count (default 20)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, nargs="+", default=list(DEFAULT_THREADS))
    parser.add_argument("--iterations", type=int, default=None, help="default: the homework's")
    parser.add_argument("--out", type=Path, default=None, help="default: the homework's calibration.json")
    parser.add_argument("--fresh", action="store_true",
                        help="start over; by default the runs already in --out are kept and not run again")
    parser.add_argument("--jobs", type=int, default=0,
                        help="runs at once (default: cores // threads of the runs; 1 for undisturbed timings)")
    parser.add_argument("--place", nargs="*", default=[], metavar="ID",
                        help="catalogue ids of almost-right variants to train once each and place against the band")
    args = parser.parse_args(argv)
    if args.seeds < 1 or (args.iterations or 1) < 1 or any(t < 1 for t in args.threads) or args.jobs < 0:
        parser.error("--seeds, --iterations and --threads must be positive, --jobs not negative")
    exit_on_sigterm()
    config = CalibrationConfig(homework=args.homework, seeds=args.seeds, first_seed=args.first_seed,
                               threads=tuple(args.threads), iterations=args.iterations, out=args.out,
                               fresh=args.fresh, jobs=args.jobs, place=tuple(args.place))
    try:
        return run_calibration(config)
    except ValueError as error:  # an unknown or stale catalogue id
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
