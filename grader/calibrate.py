"""Calibrate the training band: the reference retrained over many seeds and thread counts, as the grader does it.

    python -m grader.calibrate [--seeds 20] [--threads 1 2] [--iterations 20000] [--jobs J] [--fresh]
                               [--place ID ...] [--catalogue tests/mutants/mutants.toml]

Each run is one grading session's training and evaluation phases on ``reference/``: the provided loop
trains the reference's two files in the sandboxed worker, and the grader's trusted evaluator scores the
returned weights on the binarized test set. That is exactly the NELBO that check 4.2 scores. A correct
submission differs from the reference only in floating-point order (``sqrt(v) * eps`` against
``exp(0.5 * log v) * eps``, ``.mean()`` against ``.sum() / n``), which sends training down a different but
equally good path, so the spread over seeds and thread counts stands for the spread over correct solutions.

The band (see ``derive_band``): the upper edge is the fitted mean plus z standard deviations, with z set by
the target false-fail probability and the standard deviation taken at its 95 % upper confidence bound
(few runs), and at least WORST_RUN_MARGIN above the worst run observed. ``calibration.json`` is rewritten
after every run, so a cut-short calibration still leaves a usable file, and a new calibration keeps the runs
already recorded and does only the missing ones (``--fresh`` starts over).

``--place`` grades "almost right" variants from the mutant catalogue (a file of original -> replacement
edits of reference/, see tests/mutants/mutants.toml) through the same full training, and records where
their NELBO falls relative to the band and how many of check 4.2's points it would get.
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

from grader.feedback import WrongAnswer
from grader.results import write_json_atomically
from grader.scoring import CALIBRATION_FILE, NelboBand
from grader.session import FULL_ITERATIONS, Budgets, GradeConfig, GradingSession
from grader.submission import load_submission
from grader.worker_client import WorkerFailure
from grader.workspace import PROJECT_DIR, create_workspace
from tests.mutants.catalogue import load_catalogue, problems  # calibrate is a repository tool, not shipped

REFERENCE_SUBMISSION = PROJECT_DIR / "reference"
DEFAULT_CATALOGUE = PROJECT_DIR / "tests" / "mutants" / "mutants.toml"
NELBO_POINTS = 30  # check 4.2's points, as grader/checks/test_training.py gives them
PLOT_FILE = CALIBRATION_FILE.with_suffix(".png")
DEFAULT_SEEDS = 20
DEFAULT_THREADS = (1, 2)
TARGET_FALSE_FAIL = 1e-4  # probability that a correct submission gets less than full training points
SIGMA_CONFIDENCE = 0.95  # the standard deviation is taken at this upper confidence bound
PARTIAL_CREDIT_NATS = 14.0  # policy: points fall linearly to zero over this many nats above the full-points edge
BAND_STEP = 0.1  # band edges are rounded outwards to this step
# The edge stays at least this far beyond the worst reference run: over 40 seeds one run landed 4.1 fitted standard
# deviations above the mean, so the tail is heavier than a normal fit says; no wrong variant placed so far lands
# within 20 nats above the edge, so the margin costs no discrimination.
WORST_RUN_MARGIN = 1.0
MIN_RUNS_FOR_BAND = 3
CALIBRATION_BUDGETS = Budgets(training=3_600.0, total=4_000.0)  # a shared machine can be slow: no timeouts here


@dataclass(frozen=True)
class CalibrationConfig:
    seeds: int = DEFAULT_SEEDS
    first_seed: int = 0
    threads: tuple[int, ...] = DEFAULT_THREADS
    iterations: int = FULL_ITERATIONS
    out: Path = CALIBRATION_FILE
    plot: Path = PLOT_FILE
    fresh: bool = False  # forget the runs already in ``out`` (a new torch, a changed reference)
    jobs: int = 0  # runs at once; 0: as many as the cores allow (cores // threads of the run)
    place: tuple[str, ...] = ()  # catalogue ids of variants to place relative to the band
    catalogue: Path = DEFAULT_CATALOGUE
    placement_seed: int = 0
    placement_threads: int = 1


@dataclass(frozen=True)
class Variant:
    """A catalogue entry: the reference with one edit, and what it gets wrong."""

    id: str
    mistake: str
    files: dict[str, str]  # utils.py and vae.py


def load_variants(catalogue: Path, ids: tuple[str, ...]) -> list[Variant]:
    """The catalogue's [[mutant]] or [[equivalent]] entries named ``ids``, applied to the reference's two files."""
    entries = {mutant.id: mutant for mutant in load_catalogue(catalogue)}
    unknown = [name for name in ids if name not in entries]
    if unknown:
        raise ValueError(f"not in {catalogue}: {', '.join(unknown)}")
    variants = []
    for name in ids:
        mutant = entries[name]
        found = problems(mutant, REFERENCE_SUBMISSION)
        if found:
            raise ValueError(f"{name}: {'; '.join(found)}")
        variants.append(Variant(name, mutant.mistake or "a correct rewrite", mutant.source(REFERENCE_SUBMISSION)))
    return variants


def measure_variant(variant: Variant, seed: int, threads: int, iterations: int) -> dict:
    """``measure`` on a variant written to a temporary submission folder."""
    with tempfile.TemporaryDirectory(prefix=f"vae-place-{variant.id}-") as folder:
        for name, text in variant.files.items():
            (Path(folder) / name).write_text(text)
        run = measure(seed, threads, iterations, Path(folder))
    return {"id": variant.id, "mistake": variant.mistake, **run}


def measure(seed: int, threads: int, iterations: int, submission: Path = REFERENCE_SUBMISSION) -> dict:
    """One grading session's training and trusted evaluation of ``submission``: the run's figures."""
    config = GradeConfig(iterations=iterations, seed=seed, threads=threads, budgets=CALIBRATION_BUDGETS)
    torch.set_num_threads(threads)  # the trusted evaluation, as grade() sets it
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vae-calibrate-") as temporary:
        workspace = create_workspace(load_submission(submission), Path(temporary) / "workspace")
        session = GradingSession(config, workspace)
        try:
            metrics = session.evaluation()
            outcome = session.training()
        finally:
            session.close()
    return {
        "seed": seed,
        "threads": threads,
        "iterations": outcome.reported.iterations,
        "nelbo": metrics["nelbo"],
        "kl": metrics["kl"],
        "rec": metrics["rec"],
        "training_seconds": round(outcome.reported.seconds, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
        "diverged_at": outcome.reported.diverged_at,
    }


def normal_tail(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def chi2_quantile(probability: float, dof: int) -> float:
    """The chi-square quantile by the Wilson-Hilferty approximation (within 1 % from 2 degrees of freedom on)."""
    z = NormalDist().inv_cdf(probability)
    return dof * (1.0 - 2.0 / (9.0 * dof) + z * math.sqrt(2.0 / (9.0 * dof))) ** 3


def derive_band(nelbos: list[float]) -> tuple[NelboBand, dict]:
    """The band from the reference's NELBOs, and the statistics behind it (for calibration.json)."""
    if len(nelbos) < MIN_RUNS_FOR_BAND:
        raise ValueError(f"{len(nelbos)} runs: at least {MIN_RUNS_FOR_BAND} are needed to derive a band")
    n = len(nelbos)
    mean, sd = fmean(nelbos), stdev(nelbos)
    sd_upper = sd * math.sqrt((n - 1) / chi2_quantile(1.0 - SIGMA_CONFIDENCE, n - 1))
    z = NormalDist().inv_cdf(1.0 - TARGET_FALSE_FAIL)
    upper = max(mean + z * sd_upper, max(nelbos) + WORST_RUN_MARGIN)
    lower = min(mean - z * sd_upper, min(nelbos) - WORST_RUN_MARGIN)
    full = math.ceil(round(upper / BAND_STEP, 6)) * BAND_STEP
    review = math.floor(round(lower / BAND_STEP, 6)) * BAND_STEP
    band = NelboBand(full_at_or_below=round(full, 1), zero_at_or_above=round(full + PARTIAL_CREDIT_NATS, 1),
                     review_below=round(review, 1))
    statistics = {
        "runs": n,
        "mean": round(mean, 4),
        "sd": round(sd, 4),
        "sd_upper_95": round(sd_upper, 4),
        "min": round(min(nelbos), 4),
        "max": round(max(nelbos), 4),
        "z": round(z, 3),
        "edge_minus_max_in_sd": round((band.full_at_or_below - max(nelbos)) / sd, 2) if sd > 0 else None,
        "max_in_sd": round((max(nelbos) - mean) / sd, 2) if sd > 0 else None,
        "false_fail_probability": normal_tail((band.full_at_or_below - mean) / sd) if sd > 0 else 0.0,
        "false_fail_probability_sd_upper_95": normal_tail((band.full_at_or_below - mean) / sd_upper)
        if sd_upper > 0 else 0.0,
        "reference_runs_losing_points": sum(1 for value in nelbos if value > band.full_at_or_below),
    }
    return band, statistics


def per_seed_worst(runs: list[dict]) -> list[float]:
    """One NELBO per seed, the worst over its thread counts: runs of one seed are not independent samples."""
    worst: dict[int, float] = {}
    for run in runs:
        worst[run["seed"]] = max(worst.get(run["seed"], -math.inf), run["nelbo"])
    return [worst[seed] for seed in sorted(worst)]


def thread_effect(runs: list[dict]) -> float | None:
    """The largest NELBO difference between thread counts of the same seed (None without such pairs)."""
    by_seed: dict[int, list[float]] = {}
    for run in runs:
        by_seed.setdefault(run["seed"], []).append(run["nelbo"])
    spreads = [max(values) - min(values) for values in by_seed.values() if len(values) > 1]
    return max(spreads) if spreads else None


METHOD = (
    "Each run grades the reference's utils.py and vae.py as a submission: the grader's training phase (the "
    "provided loop in the sandboxed worker, the given seed and thread count) and its trusted evaluation (the "
    "reference bound on the 10,000 binarized test images, 10 passes). Runs of one seed at different thread counts "
    "follow almost the same path (statistics.thread_effect_max: the largest difference), so they are not independent "
    "samples: each seed counts once, with its worst NELBO over the thread counts, and a normal distribution is fitted "
    "to those per-seed values (statistics.runs counts seeds). full_at_or_below = "
    f"mean + z * sd_upper rounded up to {BAND_STEP}, where z = Phi^-1(1 - {TARGET_FALSE_FAIL:g}) and sd_upper is the "
    f"{SIGMA_CONFIDENCE:.0%} upper confidence bound of the standard deviation (chi-square, few runs); never less than "
    f"{WORST_RUN_MARGIN:g} nat above the worst run (the tail is heavier than normal: statistics.max_in_sd). "
    f"review_below is the mirror image below the mean (at least {WORST_RUN_MARGIN:g} nat below the best run). "
    "zero_at_or_above = "
    f"full_at_or_below + {PARTIAL_CREDIT_NATS:g} nats (policy: about what 2,000 iterations of a right model reach). "
    "false_fail_probability is the fitted normal's tail above full_at_or_below: the chance that a correct "
    "submission, trained once, loses any training points."
)


def placed(placements: list[dict], band: NelboBand) -> list[dict]:
    """Each placement with where its NELBO falls and the points of check 4.2 it would get under ``band``."""
    result = []
    for run in placements:
        nelbo = run["nelbo"]
        if not math.isfinite(nelbo) or nelbo >= band.zero_at_or_above:
            where = "zero points"
        elif nelbo <= band.full_at_or_below:
            where = "inside the band: full points"
        else:
            where = "partial credit"
        result.append({**run, "where": where, "points": band.points(nelbo, NELBO_POINTS), "of": NELBO_POINTS})
    return result


def write_calibration(runs: list[dict], config: CalibrationConfig, failures: list[dict] | None = None,
                      placements: list[dict] | None = None) -> NelboBand | None:
    """Rewrite calibration.json (and the plot) from the runs so far; the band once there are enough runs.

    Only runs at ``config.iterations`` (20,000 unless testing) count towards the band.
    """
    full = [run for run in runs if run["iterations"] == config.iterations and math.isfinite(run["nelbo"])]
    document: dict = {"method": METHOD, "runs": runs, "failed_runs": list(failures or []), "environment": environment()}
    band: NelboBand | None = None
    try:
        band, statistics = derive_band(per_seed_worst(full))
    except ValueError as error:
        document["band_note"] = f"no band derived: {error}; the grader uses its defaults"
        document["band"] = vars(NelboBand())
    else:
        effect = thread_effect(full)
        statistics.update(
            graded_runs=len(full),
            thread_effect_max=None if effect is None else round(effect, 4),
            reference_runs_losing_points=sum(1 for run in full if run["nelbo"] > band.full_at_or_below),
        )
        document["band"] = vars(band)
        document["statistics"] = statistics
        document["by_threads"] = {
            str(threads): summary([run["nelbo"] for run in full if run["threads"] == threads])
            for threads in sorted({run["threads"] for run in full})
        }
        for name in ("kl", "rec"):
            document[f"{name}_summary"] = summary([run[name] for run in full])
    document["placements"] = placed(list(placements or []), band or NelboBand())
    write_json_atomically(document, config.out)
    config.out.chmod(0o644)  # a committed file: readable like the rest of the repository
    if band is not None:
        plot_calibration(full, band, document["statistics"], config.plot, document["placements"])
    return band


def summary(values: list[float]) -> dict:
    return {"runs": len(values), "mean": round(fmean(values), 4) if values else None,
            "sd": round(stdev(values), 4) if len(values) > 1 else None,
            "min": round(min(values), 4) if values else None, "max": round(max(values), 4) if values else None}


def environment() -> dict:
    return {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine()}


def plot_calibration(runs: list[dict], band: NelboBand, statistics: dict, path: Path,
                     placements: list[dict] | None = None) -> None:
    """Histogram of the reference NELBOs by thread count, the fitted normal, the band's edges; KL against Rec;
    the placed variants' NELBOs against the band's edges."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    placements = [run for run in placements or [] if math.isfinite(run["nelbo"])]
    columns = 3 if placements else 2
    figure, axes = plt.subplots(1, columns, figsize=(6 * columns, 4.5))
    histogram, scatter = axes[0], axes[1]
    nelbos = per_seed_worst(runs)
    low = min(min(nelbos), band.review_below) - 0.3
    high = max([*nelbos, band.full_at_or_below]) + 0.6
    bins = [low + k * (high - low) / 30 for k in range(31)]
    thread_counts = sorted({run["threads"] for run in runs})
    histogram.hist(nelbos, bins=bins, color="tab:blue",
                   label=f"{len(nelbos)} seeds (worst over thread counts {', '.join(map(str, thread_counts))})")
    mean, sd = statistics["mean"], statistics["sd"]
    if sd > 0:
        width = bins[1] - bins[0]
        xs = [low + k * (high - low) / 300 for k in range(301)]
        density = NormalDist(mean, sd)
        histogram.plot(xs, [len(nelbos) * width * density.pdf(x) for x in xs], color="black", lw=1,
                       label=f"normal fit: {mean:.2f} ± {sd:.2f}")
    histogram.axvline(band.full_at_or_below, color="green", ls="--",
                      label=f"full points at or below {band.full_at_or_below}")
    histogram.axvline(band.review_below, color="orange", ls=":", label=f"staff review below {band.review_below}")
    histogram.set_xlabel("test NELBO (grader's evaluator, nats)")
    histogram.set_ylabel("seeds")
    histogram.set_title(f"Reference: {len(nelbos)} seeds, {len(runs)} runs; zero points from {band.zero_at_or_above}\n"
                        f"P(false fail) ≈ {statistics['false_fail_probability']:.1g} (fitted sd), "
                        f"{statistics['false_fail_probability_sd_upper_95']:.1g} (95 % upper sd)", fontsize=9)
    histogram.legend(fontsize=8)
    for t in thread_counts:
        chosen = [run for run in runs if run["threads"] == t]
        scatter.scatter([run["kl"] for run in chosen], [run["rec"] for run in chosen], s=18,
                        label=f"{t} thread{'s' if t > 1 else ''}")
    scatter.set_xlabel("KL")
    scatter.set_ylabel("Rec")
    scatter.set_title("KL against Rec per run", fontsize=9)
    scatter.legend(fontsize=8)
    if placements:
        plot_placements(axes[2], placements, band, statistics["mean"])
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_placements(axis: object, placements: list[dict], band: NelboBand, reference_mean: float) -> None:
    """One bar per placed variant: its NELBO, with the band's edges and the reference's mean."""
    names = [run["id"] for run in placements]
    values = [run["nelbo"] for run in placements]
    colours = ["tab:green" if run["points"] == run["of"] else "tab:orange" if run["points"] > 0 else "tab:red"
               for run in placements]
    axis.barh(names, values, color=colours)
    axis.axvline(reference_mean, color="black", lw=1, label=f"reference mean {reference_mean:.2f}")
    axis.axvline(band.full_at_or_below, color="green", ls="--", label=f"full points up to {band.full_at_or_below}")
    axis.axvline(band.zero_at_or_above, color="red", ls="--", label=f"zero from {band.zero_at_or_above}")
    axis.set_xlim(min([*values, reference_mean]) - 2, max([*values, band.zero_at_or_above]) + 3)
    for index, run in enumerate(placements):
        axis.text(run["nelbo"], index, f" {run['nelbo']:.1f} ({run['points']:g}/{run['of']})", va="center", fontsize=7)
    axis.set_xlabel("test NELBO after 20,000 iterations")
    axis.set_title("almost-right variants, one full training each", fontsize=9)
    axis.tick_params(axis="y", labelsize=7)
    axis.legend(fontsize=7, loc="lower right")


def run_calibration(config: CalibrationConfig) -> int:
    runs: list[dict] = []
    placements: list[dict] = []
    if not config.fresh and config.out.exists():
        previous = json.loads(config.out.read_text())
        runs = list(previous.get("runs", []))
        placements = [{k: v for k, v in run.items() if k not in ("where", "points", "of")}
                      for run in previous.get("placements", [])]
    variants = load_variants(config.catalogue, config.place) if config.place else []
    done = {(run["seed"], run["threads"], run["iterations"]) for run in runs}
    placed_done = {(run["id"], run["seed"], run["threads"], run["iterations"]) for run in placements}
    failures: list[dict] = []  # runs the machine could not complete (a crashed or timed-out worker); retried later
    plan: list[tuple[Variant | None, int, int]] = [
        (None, seed, threads) for seed in range(config.first_seed, config.first_seed + config.seeds)
        for threads in config.threads if (seed, threads, config.iterations) not in done]
    plan += [(variant, config.placement_seed, config.placement_threads) for variant in variants
             if (variant.id, config.placement_seed, config.placement_threads, config.iterations) not in placed_done]
    print(f"{len(plan)} runs of {config.iterations:,} iterations to do; {len(runs)} reference runs and "
          f"{len(placements)} placements kept from {config.out}", flush=True)
    finished = 0

    def record(label: str, variant: Variant | None, run: dict | None, error: BaseException | None) -> None:
        nonlocal finished
        finished += 1
        if error is not None:  # the machine, or a variant that cannot train: say so, go on
            failures.append({"run": label, "error": f"{type(error).__name__}: {error}"[:500]})
            write_calibration(runs, config, failures, placements)
            print(f"[{finished}/{len(plan)}] {label}: FAILED ({failures[-1]['error']})", flush=True)
            return
        assert run is not None
        (runs if variant is None else placements).append(run)
        band = write_calibration(runs, config, failures, placements)
        print(f"[{finished}/{len(plan)}] {label}: NELBO {run['nelbo']:.3f} KL {run['kl']:.3f} Rec {run['rec']:.3f} "
              f"({run['wall_seconds']:.0f} s); band {band}", flush=True)

    # Each run in its own process (one grading session each, as on Gradescope); the parent alone writes the file.
    cores = os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    for threads in sorted({threads for _, _, threads in plan}):
        group = [item for item in plan if item[2] == threads]
        with ProcessPoolExecutor(max_workers=config.jobs or max(1, cores // threads), mp_context=context) as pool:
            futures = {
                pool.submit(measure, seed, threads, config.iterations) if variant is None
                else pool.submit(measure_variant, variant, seed, threads, config.iterations):
                (f"{variant.id if variant else 'reference'} seed {seed} threads {threads}", variant)
                for variant, seed, threads in group
            }
            for future in as_completed(futures):
                label, variant = futures[future]
                try:
                    run, error = future.result(), None
                except (WorkerFailure, WrongAnswer) as failure:
                    run, error = None, failure
                record(label, variant, run, error)
    if not plan:
        write_calibration(runs, config, failures, placements)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="seeds per thread count (default 20)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, nargs="+", default=list(DEFAULT_THREADS))
    parser.add_argument("--iterations", type=int, default=FULL_ITERATIONS)
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    parser.add_argument("--plot", type=Path, default=PLOT_FILE)
    parser.add_argument("--fresh", action="store_true",
                        help="start over; by default the runs already in --out are kept and not run again")
    parser.add_argument("--jobs", type=int, default=0,
                        help="runs at once (default: cores // threads of the runs; 1 for undisturbed timings)")
    parser.add_argument("--place", nargs="*", default=[], metavar="ID",
                        help="catalogue ids of almost-right variants to train once each and place against the band")
    parser.add_argument("--catalogue", type=Path, default=DEFAULT_CATALOGUE, help="the mutant catalogue (TOML)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.iterations < 1 or any(t < 1 for t in args.threads) or args.jobs < 0:
        parser.error("--seeds, --iterations and --threads must be positive, --jobs not negative")
    # A terminated calibration still closes its grading session, so no training worker is left behind.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    config = CalibrationConfig(seeds=args.seeds, first_seed=args.first_seed, threads=tuple(args.threads),
                               iterations=args.iterations, out=args.out, plot=args.plot, fresh=args.fresh,
                               jobs=args.jobs, place=tuple(args.place), catalogue=args.catalogue)
    try:
        return run_calibration(config)
    except ValueError as error:  # an unknown or stale catalogue id
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
