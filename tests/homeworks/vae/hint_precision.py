"""Hint precision of the flagship's feedback on the catalogue's multi-mistake submissions: of the hints a grading shows
("Likely mistake: ..." lines), how many name a true mistake of that submission, per check.

Two steps, so that any version of the grader can be measured on today's catalogue:

    # grade the entries unit-only with the grader of a checkout (default: this one), through its command line
    python -m tests.homeworks.vae.hint_precision grade --out after.json
    python -m tests.homeworks.vae.hint_precision grade --grader-root /tmp/old-checkout --out before.json
    # compare
    python -m tests.homeworks.vae.hint_precision report before.json after.json

The submissions are today's reference with each entry's edits; a checkout from before the layered reference
(no reference/common/hyperparameters.py) gets vae.py with the latent size written in, as that vae.py had it.

A hint names the mistakes whose words it contains: today's words (grader/homeworks/vae/diagnose.py, MISTAKES) and the
words the grader used before (OLD_WORDS), read only among the mistakes of the check's own function. It names a true
mistake when one of those is among the entry's ``mistakes``; it names a wrong one when one is not.
"""

import argparse
import json
import re
import subprocess
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CLAIM = "Likely mistake: "
HOMEWORK = "vae"
INHERITED = "(found by check"  # a hint that names the mistake another check found
SETTINGS_MODULE = "hyperparameters"  # the layered reference's settings (Z_DIM)
GRADING_TIMEOUT = 600.0  # seconds, one unit-only grading
ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = ROOT / "grader" / "homeworks" / HOMEWORK / "mutants.toml"
SECTIONS = {"1": "sample_gaussian", "2": "kl_normal", "3": "negative_elbo_bound"}
# Words of the grader's earlier messages (base commit 421206f) that name a mistake, by tag.
OLD_WORDS: dict[str, tuple[str, ...]] = {
    "bound_rec_averaged_over_pixels": ("averaged over the 784 pixels",),
    "bound_rec_summed_over_batch": ("rec was summed over the batch",),
    "bound_rec_sign_flipped": ("the sign of rec is flipped",),
    "bound_sigmoid_twice": ("through a sigmoid before log_bernoulli_with_logits",),
    "bound_rec_arguments_swapped": ("arguments of log_bernoulli_with_logits are swapped",),
    "bound_no_sampling": ("z was not sampled (z = qm)",),
    "bound_z_from_prior": ("z was drawn from the prior",),
    "bound_variance_as_std": ("qv was used as a standard deviation when sampling z",),
    "bound_std_passed_as_variance": ("sample_gaussian was given the standard deviation",),
    "bound_variance_exponentiated": ("log-variance (exponentiated) when sampling z",),
    "bound_kl_log_variance": ("log-variance (exponentiated); the encoder already returns",),
    "bound_kl_and_rec_swapped": ("kl and rec are swapped",),
    "bound_kl_summed_over_batch": ("the KL was summed over the batch",),
    "bound_kl_averaged_over_latent": ("averaged over the latent dimensions too",),
    "bound_kl_reversed_arguments": ("KL(p(z) || q(z|x))",),
    "bound_kl_sign_flipped": ("the sign of the KL is flipped",),
    "bound_kl_scaled": ("times the reference: a factor", "or weight on the KL"),
    "bound_kl_clipped": ("no clamp, clip",),
    "bound_kl_free_bits": ("floor (free bits)",),
    "bound_logits_clamped": ("(no clamp and no sigmoid)",),
    "bound_decoder_sample_as_logits": ("does not depend on the decoder's weights",),
    "bound_inline_sampling": ("never called ut.sample_gaussian",),  # no longer a mistake: sampling inline is fine
    "bound_nelbo_rec_minus_kl": ("nelbo = rec - kl",),
    "bound_nelbo_kl_weight": ("the KL has weight", "no beta, no KL annealing", "weights its terms differently"),
    "bound_kl_detached": ("kl is detached",),
    "bound_z_detached": ("through z: z must not be detached",),
    "bound_hard_coded_batch_size": ("hard-coded batch size",),
    "bound_hard_coded_z_dim": ("or latent size (10)",),
    "bound_state_between_calls": ("keeps state between calls",),
    "bound_vector_terms": ("averaged over the batch: a 0-dimensional tensor",),
    "bound_returns_python_floats": ("not a Python number from .item()",),
    "bound_trainable_prior": ("made a trainable nn.Parameter",),
    "bound_vae_changed": ("the VAE class was changed",),
    "bound_prior_swapped": ("check the prior",),
    "sg_variance_as_std": ("v was used as a standard deviation",),
    "sg_variance_as_log_variance": ("v was treated as a log-variance",),
    "sg_no_noise": ("there is no noise",),
    "sg_uniform_noise": ("uniform on [0, 1)",),
    "sg_torch_normal": ("torch.normal(m, std) draws without",),
    "sg_detached_sample": ("cut the graph; write",),
    "sg_scale_detached": ("sqrt(v) was detached",),
    "sg_noise_shared_across_batch": ("one noise vector was shared by every row",),
    "sg_noise_shared_across_dims": ("one noise value was shared across a row",),
    "sg_reseeds_generator": ("re-seeded inside the function",),
    "sg_noise_reused_across_calls": ("or the noise is fixed",),
    "sg_hard_coded_shape": ("a size hard-coded for (batch, 10)",),
    "sg_casts_dtype": ("a tensor created with a fixed dtype",),
    "sg_in_place": ("an in-place operation such as v.sqrt_()",),
    "kl_missing_half": ("the factor 0.5 is missing",),
    "kl_sign_flipped": ("the sign is flipped: KL(q || p)",),
    "kl_mean_over_latent": ("averaged over the latent dimension instead",),
    "kl_missing_minus_one": ("the '- 1' term",),
    "kl_reversed": ("this is KL(p || q)",),
    "kl_log_std": ("log of the standard deviation",),
    "kl_mean_term_not_scaled": ("not divided by the prior variance",),
    "kl_variances_as_std": ("treated as standard deviations (squared again)",),
    "kl_variance_ratio_inverted": ("qv / pv is inverted",),
    "kl_log_ratio_inverted": ("the log-ratio has the wrong sign", "or the log-ratio is off"),
    "kl_mean_difference_not_squared": ("is not squared",),
    "kl_standard_normal_only": ("pm and pv were ignored",),
    "kl_log_constant": ("inside the log",),
    "kl_summed_over_everything": ("sum over the last dimension only",),
    "kl_sum_over_wrong_dim": ("a reduction over a fixed dimension",),
    "kl_detached": ("numpy, math.log, .item() or .detach() cut the graph",),
    "kl_in_place": ("an in-place operation such as qm.sub_(pm)",),
}


def function_of(tag: str) -> str:
    return "sample_gaussian" if tag.startswith("sg_") else "kl_normal" if tag.startswith("kl_") else (
        "negative_elbo_bound")


def words() -> dict[str, tuple[str, ...]]:
    """Every tag's words: today's text and the earlier ones."""
    from grader.homeworks.vae.diagnose import MISTAKES

    found = {tag: (mistake.text,) for tag, mistake in MISTAKES.items()}
    for tag, old in OLD_WORDS.items():
        found[tag] = found.get(tag, ()) + old
    return found


def named(line: str, function: str, table: dict[str, tuple[str, ...]]) -> set[str]:
    return {tag for tag, phrases in table.items()
            if function_of(tag) == function and any(phrase in line for phrase in phrases)}


# -- grading (with the command line of any checkout) ----------------------------------------------------------------


def entries(catalogue: Path, minimum_mistakes: int) -> list[str]:
    """The catalogue's submissions with at least ``minimum_mistakes`` true mistakes."""
    document = tomllib.loads(catalogue.read_text())
    return [entry["id"] for entry in document.get("mutant", []) if len(entry.get("mistakes", ())) >= minimum_mistakes]


def write_submissions(ids: list[str], catalogue: Path, folder: Path, flat_reference: bool) -> dict[str, Path]:
    """Each entry's student files, today's reference with its edits, in ``folder/<id>``."""
    from grader.engine.homework import load_homework
    from grader.instructor.catalogue import load_catalogue

    homework = load_homework(HOMEWORK)
    by_id = {mutant.id: mutant for mutant in load_catalogue(homework, catalogue)}
    written = {}
    for entry_id in ids:
        sources = by_id[entry_id].source(homework)
        if flat_reference:  # the vae.py of a checkout before the layered reference: no hyperparameters module
            sources["vae.py"] = sources["vae.py"].replace(f"from {SETTINGS_MODULE} import Z_DIM\n", "").replace(
                "DEFAULT_Z_DIM = Z_DIM", f"DEFAULT_Z_DIM = {homework_z_dim(homework)}")
        written[entry_id] = folder / entry_id
        written[entry_id].mkdir(parents=True, exist_ok=True)
        for name, text in sources.items():
            (written[entry_id] / name).write_text(text)
    return written


def homework_z_dim(homework: object) -> int:
    """The latent size the reference's settings module declares."""
    from grader.instructor.build.assemble import layered_sources

    settings = layered_sources(homework)[f"{SETTINGS_MODULE}.py"].read_text()
    return int(re.search(r"^Z_DIM = (\d+)", settings, re.MULTILINE).group(1))


def _grade_one(arguments: tuple[str, str, str, bool]) -> dict:
    """One unit-only grading with the checkout's own command line; its checks as {number: score, max, output}."""
    root, submission, out, layered = arguments
    command = [str(Path(root) / ".venv" / "bin" / "python"), "-m", "grader", "grade", submission, "--unit-only",
               "--threads", "1", "--out", out, *(["--homework", HOMEWORK] if layered else [])]
    subprocess.run(command, cwd=root, check=False, capture_output=True, timeout=GRADING_TIMEOUT)
    tests = json.loads((Path(out) / "results.json").read_text()).get("tests", [])
    return {test["number"]: {"score": test.get("score", 0.0), "max": test.get("max_score", 0.0),
                             "output": test.get("output", "")} for test in tests if "number" in test}


def grade_entries(root: Path, catalogue: Path, out: Path, scratch: Path, jobs: int, minimum_mistakes: int) -> None:
    layered = (root / "reference" / "common" / f"{SETTINGS_MODULE}.py").exists()
    ids = entries(catalogue, minimum_mistakes)
    submissions = write_submissions(ids, catalogue, scratch / "submissions", flat_reference=not layered)
    work = [(str(root), str(submissions[entry_id]), str(scratch / "out" / entry_id), layered) for entry_id in ids]
    with ThreadPoolExecutor(jobs) as pool:  # each grading is its own process
        graded = dict(zip(ids, pool.map(_grade_one, work), strict=True))
    out.write_text(json.dumps(graded, indent=1))
    print(f"graded {len(graded)} entries with the grader in {root} into {out}")


# -- the report ----------------------------------------------------------------------------------------------------


def tally(graded: dict, catalogue: dict[str, set[str]], table: dict[str, tuple[str, ...]]) -> dict[str, Counter]:
    """Per check: hints shown, naming a true mistake, naming a wrong one, naming none."""
    per_check: dict[str, Counter] = {}
    for entry_id, checks in graded.items():
        truth = catalogue[entry_id]
        for number, check in checks.items():
            if check["score"] >= check["max"] or number.split(".")[0] not in SECTIONS:
                continue
            counts = per_check.setdefault(number, Counter())
            for line in check["output"].splitlines():
                if not line.startswith(CLAIM):
                    continue
                tags = named(line, SECTIONS[number.split(".")[0]], table)
                counts["shown"] += 1
                counts["true"] += bool(tags & truth)
                counts["wrong"] += bool(tags - truth)
                counts["none"] += not tags
                counts["inherited"] += INHERITED in line
    return per_check


def report(before: Path, after: Path, catalogue: Path) -> str:
    document = tomllib.loads(catalogue.read_text())
    truth = {entry["id"]: set(entry.get("mistakes", ())) for entry in document.get("mutant", [])}
    table = words()
    tallies = [tally(json.loads(path.read_text()), truth, table) for path in (before, after)]
    graded = json.loads(after.read_text())
    lines = [f"{len(graded)} submissions; per check: hints naming a true mistake / hints shown (precision); hints "
             "naming a wrong one, naming none, pointing to another check's mistake", "| check | before | after |",
             "|---|---|---|"]

    def cell(counts: Counter) -> str:
        if not counts["shown"]:
            return "no hint"
        return (f"{counts['true']}/{counts['shown']} = {counts['true'] / counts['shown']:.2f} "
                f"(wrong {counts['wrong']}, none {counts['none']}, another check's {counts['inherited']})")

    for number in sorted(set(tallies[0]) | set(tallies[1]), key=lambda n: [int(p) for p in n.split(".")]):
        lines.append(f"| {number} | {cell(tallies[0].get(number, Counter()))} | "
                     f"{cell(tallies[1].get(number, Counter()))} |")
    totals = [sum(t.values(), Counter()) for t in tallies]
    lines.append(f"| all | {cell(totals[0])} | {cell(totals[1])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grading = commands.add_parser("grade")
    grading.add_argument("--grader-root", type=Path, default=ROOT, help="the checkout whose grader grades")
    grading.add_argument("--catalogue", type=Path, default=CATALOGUE)
    grading.add_argument("--out", type=Path, required=True)
    grading.add_argument("--scratch", type=Path, default=Path("/tmp/hint-precision"))
    grading.add_argument("--jobs", type=int, default=2)
    grading.add_argument("--minimum-mistakes", type=int, default=2)
    reporting = commands.add_parser("report")
    reporting.add_argument("before", type=Path)
    reporting.add_argument("after", type=Path)
    reporting.add_argument("--catalogue", type=Path, default=CATALOGUE)
    arguments = parser.parse_args(argv)
    if arguments.command == "grade":
        grade_entries(arguments.grader_root.resolve(), arguments.catalogue, arguments.out, arguments.scratch,
                      arguments.jobs, arguments.minimum_mistakes)
    else:
        print(report(arguments.before, arguments.after, arguments.catalogue))


if __name__ == "__main__":
    main()
