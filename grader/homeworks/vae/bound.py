"""The trusted side of the bound's checks (3.x): the grader's case, what the reference and the known mistakes compute
on it, and what one grading's answer says about the student's bound as a whole.

A case is an untrained model with its encoder's last layer and its decoder's first and last layers scaled up, so
that it spans what training reaches (per-image KLs of about 4 to 50 nats, variances from 0.005 to 5, logits up to
about +-15), a batch of binarized test images and fixed noise. On it the reference computes (nelbo, kl, rec) and
the gradients, and so does every known mistake of each term, alone and combined with the others of that term
(``kl_hypotheses``, ``rec_hypotheses``): a value is explained by the mistakes all the hypotheses it matches share
(grader/homeworks/vae/diagnose.py). ``Analysis`` reads one answer once for all the checks: which terms are right,
what explains each wrong one, how nelbo was put together, so that a check whose failure follows from a mistake
another check names says so instead of inventing a cause of its own.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from grader.engine.homework import Homework
from grader.engine.oracle import reference
from grader.homeworks.vae.diagnose import (
    RIGHT,
    Diagnosis,
    Explanation,
    Hypothesis,
    combine,
    explain,
    tags,
)
from grader.homeworks.vae.trusted import binarized_test_set

ENCODER_OUTPUT_SCALE = 25.0  # spreads the encoder's means and variances over the range training reaches
DECODER_INPUT_SCALE = 3.0  # makes the logits depend strongly on z, so every way of drawing z shows
DECODER_OUTPUT_SCALE = 5.0  # logits up to about +-15, as a trained decoder's
TEST_OFFSET = 5_000  # batches come from the binarized test set, from this image on
IMAGE_PIXELS = 784
TRAINING_BATCH = 100  # the batch size the provided training loop uses: the one students hard-code
TRAINING_Z_DIM = 10
KL_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}  # a right kl or rec, as the checks accept it
REC_TOLERANCE = {"rtol": 1e-4, "atol": 1e-3}
GRAD_TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}
MATCH = {"rtol": 2e-5, "atol": 1e-5}  # a hypothesis computed in float32 on the same inputs, to rounding
KL_CAPS = (1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 100.0)  # clamp(max=...) students use
KL_FLOORS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0)  # free bits per image: clamp(min=...)
KL_DIMENSION_FLOORS = (0.05, 0.1, 0.125, 0.25, 0.5, 1.0, 2.0)  # free bits per latent dimension
LOGIT_CAPS = (5.0, 8.0, 10.0, 15.0, 20.0, 30.0)  # logits.clamp(-c, c)
KL_FACTORS = (2.0, 0.5)  # a beta folded into kl, the closed form's 0.5 missing or doubled
ANNEALING_LENGTHS = (1_000, 2_000, 5_000, 10_000, 20_000)  # warm-up schedules whose first weight is 1 / length
KL_WEIGHTS = (0.0, 0.5, 2.0, 0.1, 0.01, *(1.0 / length for length in ANNEALING_LENGTHS))  # weights real code uses


@dataclass(frozen=True)
class BoundCase:
    z_dim: int
    batch: int
    weights: dict[str, np.ndarray]
    x: np.ndarray  # (batch, 784)
    epsilon: np.ndarray  # (batch, z_dim)
    noise_seed: int  # the worker seeds torch's generator with it: torch.randn((batch, z_dim)) then draws epsilon
    nelbo: float
    kl: float
    rec: float
    grads: dict[str, np.ndarray]
    grad_variants: list[tuple[str, dict[str, np.ndarray]]]  # (the mistake, the gradients it produces)
    hypotheses: Callable[[], tuple[list[Hypothesis], list[Hypothesis]]]  # computed once, when a term is wrong

    @property
    def kl_hypotheses(self) -> list[Hypothesis]:
        return self.hypotheses()[0]

    @property
    def rec_hypotheses(self) -> list[Hypothesis]:
        return self.hypotheses()[1]


def parameter_grads(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, np.ndarray]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: (p.grad if p.grad is not None else torch.zeros_like(p)).numpy().copy()
            for name, p in model.named_parameters()}


def scalar(value: torch.Tensor) -> np.ndarray:
    return np.asarray(float(value.detach()), np.float64)


def _reductions(batch: int, z_dim: int, over_latent: bool) -> list[tuple[frozenset[str], Callable]]:
    """Ways of turning per-image values (batch,) into the returned scalar."""
    found: list[tuple[frozenset[str], Callable]] = [
        (RIGHT, lambda rows: rows.mean()),
        (tags("bound_kl_summed_over_batch" if over_latent else "bound_rec_summed_over_batch"), lambda rows: rows.sum()),
        (tags("bound_hard_coded_batch_size"), lambda rows: rows.sum() / TRAINING_BATCH),
    ]
    if over_latent:
        found.append((tags("bound_kl_averaged_over_latent"), lambda rows: rows.mean() / z_dim))
    else:
        found.append((tags("bound_rec_averaged_over_pixels"), lambda rows: rows.mean() / IMAGE_PIXELS))
    return found


def kl_hypotheses(ut: object, qm: torch.Tensor, qv: torch.Tensor, z: torch.Tensor, prior: tuple[torch.Tensor, ...],
                  batch: int, z_dim: int) -> list[Hypothesis]:
    """The kl a bound returns with each known mistake of its KL term, and each combination of a form, a reduction,
    a constant factor and a sign (float64 scalars)."""
    prior_m, prior_v = prior
    dimensions = 0.5 * (torch.log(prior_v) - torch.log(qv) + qv / prior_v + (qm - prior_m).pow(2) / prior_v - 1)
    rows = dimensions.sum(-1)  # (batch,)
    forms = [
        (RIGHT, rows),
        (tags("bound_kl_reversed_arguments"), ut.kl_normal(prior_m.expand_as(qm), prior_v.expand_as(qv), qm, qv)),
        (tags("bound_kl_log_variance"), ut.kl_normal(qm, torch.exp(qv), prior_m, prior_v)),
        (tags("bound_kl_monte_carlo"), ut.log_normal(z, qm, qv) - ut.log_normal(z, prior_m, prior_v)),
        (tags("bound_kl_log_q_only"), ut.log_normal(z, qm, qv)),
        (tags("bound_kl_log_p_only"), -ut.log_normal(z, prior_m, prior_v)),
        *[(tags("bound_kl_clipped"), rows.clamp(max=cap)) for cap in KL_CAPS],
        *[(tags("bound_kl_free_bits"), rows.clamp(min=floor)) for floor in KL_FLOORS],
        *[(tags("bound_kl_free_bits"), dimensions.clamp(min=floor).sum(-1)) for floor in KL_DIMENSION_FLOORS],
    ]
    factors = [(RIGHT, 1.0), *[(tags("bound_kl_scaled"), factor) for factor in KL_FACTORS]]
    signs = [(RIGHT, 1.0), (tags("bound_kl_sign_flipped"), -1.0)]
    return [(found, scalar(sign * factor * reduce(form)))
            for found, (form, reduce, factor, sign) in combine(forms, _reductions(batch, z_dim, True), factors, signs)]


def rec_hypotheses(ut: object, decoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, qm: torch.Tensor,
                   qv: torch.Tensor, epsilon: torch.Tensor, uniform: torch.Tensor, batch: int,
                   z_dim: int) -> list[Hypothesis]:
    """The rec a bound returns with each known mistake of its reconstruction term, and each combination of a way of
    drawing z, a treatment of the logits, a reduction and a sign (float64 scalars)."""
    draws = [
        (RIGHT, qm + torch.sqrt(qv) * epsilon),
        (tags("bound_no_sampling"), qm),
        (tags("bound_z_from_prior"), epsilon),
        (tags("bound_variance_as_std"), qm + qv * epsilon),
        (tags("bound_std_passed_as_variance"), qm + qv.pow(0.25) * epsilon),
        (tags("bound_variance_exponentiated"), qm + torch.exp(0.5 * qv) * epsilon),
        (tags("bound_uniform_noise"), qm + torch.sqrt(qv) * uniform),
    ]
    treatments: list[tuple[frozenset[str], Callable[[torch.Tensor], torch.Tensor]]] = [
        (RIGHT, lambda logits: -ut.log_bernoulli_with_logits(x, logits)),
        (tags("bound_sigmoid_twice"), lambda logits: -ut.log_bernoulli_with_logits(x, torch.sigmoid(logits))),
        (tags("bound_rec_arguments_swapped"), lambda logits: -ut.log_bernoulli_with_logits(logits, x)),
        *[(tags("bound_logits_clamped"), lambda logits, cap=cap: -ut.log_bernoulli_with_logits(
            x, logits.clamp(-cap, cap))) for cap in LOGIT_CAPS],
    ]
    rows_by_draw = []
    for found, z in draws:
        logits = decoder(z)
        rows_by_draw.append((found, [(more, treat(logits)) for more, treat in treatments]))
    per_image = [(found | more, rows) for found, treated in rows_by_draw for more, rows in treated]
    signs = [(RIGHT, 1.0), (tags("bound_rec_sign_flipped"), -1.0)]
    return [(found, scalar(sign * reduce(rows)))
            for found, (rows, reduce, sign) in combine(per_image, _reductions(batch, z_dim, False), signs)]


@functools.cache
def bound_case(homework: Homework, z_dim: int, batch: int, seed: int) -> BoundCase:
    ref = reference(homework)
    ut = ref.utils
    torch.manual_seed(seed)
    model = ref.vae.VAE(z_dim=z_dim)
    with torch.no_grad():
        model.enc.net[-1].weight.mul_(ENCODER_OUTPUT_SCALE)
        model.dec.net[0].weight.mul_(DECODER_INPUT_SCALE)
        model.dec.net[-1].weight.mul_(DECODER_OUTPUT_SCALE)
    weights = {name: tensor.detach().numpy().copy() for name, tensor in model.state_dict().items()}
    images = binarized_test_set(homework.data_paths[0]).numpy()
    x = torch.from_numpy(images[TEST_OFFSET + seed % 1000:][:batch].copy())  # (batch, 784)
    generator = torch.Generator().manual_seed(seed)
    epsilon = torch.randn((batch, z_dim), generator=generator)  # (batch, z_dim): what the worker's torch draws first
    uniform = torch.rand((batch, z_dim), generator=torch.Generator().manual_seed(seed))  # torch.rand_like's, if used
    prior = (model.z_prior_m, model.z_prior_v)

    def terms(z_detached: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        qm, qv = model.enc(x)  # (batch, z_dim) each
        kl_rows = ut.kl_normal(qm, qv, *prior)  # (batch,)
        z = qm + torch.sqrt(qv) * epsilon  # (batch, z_dim)
        rec_rows = -ut.log_bernoulli_with_logits(x, model.dec(z.detach() if z_detached else z))  # (batch,)
        return kl_rows.mean(), rec_rows.mean()

    kl, rec = terms()
    grads = parameter_grads(model, kl + rec)
    kl_again, rec_again = terms()
    grads_kl_detached = parameter_grads(model, kl_again.detach() + rec_again)
    grads_z_detached = parameter_grads(model, sum(terms(z_detached=True)))

    @functools.cache
    def hypotheses() -> tuple[list[Hypothesis], list[Hypothesis]]:
        with torch.no_grad():
            qm, qv = model.enc(x)
            z = qm + torch.sqrt(qv) * epsilon
            return (kl_hypotheses(ut, qm, qv, z, prior, batch, z_dim),
                    rec_hypotheses(ut, model.dec, x, qm, qv, epsilon, uniform, batch, z_dim))

    grad_variants = [("bound_kl_detached", grads_kl_detached), ("bound_z_detached", grads_z_detached)]
    return BoundCase(z_dim, batch, weights, x.numpy(), epsilon.numpy(), seed, kl.item() + rec.item(), kl.item(),
                     rec.item(), grads, grad_variants, hypotheses)


# -- one answer, read once for every check ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TermReading:
    """One returned term against the reference: right, or what explains it."""

    name: str  # "kl" or "rec"
    check: str  # the check that compares it
    value: float
    expected: float
    right: bool
    explanation: Explanation = field(default_factory=Explanation)

    @property
    def mistakes(self) -> frozenset[str]:
        return self.explanation.certain


def read_term(name: str, check: str, value: float, expected: float,
              hypotheses: Callable[[], list[Hypothesis]], tolerance: dict[str, float]) -> TermReading:
    right = bool(np.isclose(value, expected, **tolerance))
    return TermReading(name, check, value, expected, right,
                       Explanation() if right else explain(np.asarray(value), hypotheses(), **MATCH))


@dataclass(frozen=True)
class NelboReading:
    """How the returned nelbo was put together, when a known way explains it."""

    identity: bool  # nelbo = kl + rec as returned
    right: bool  # nelbo equals the reference's kl + rec
    explained: bool = False
    mistakes: tuple[str, ...] = ()  # nelbo's own mistakes (a KL weight, rec - kl)
    used: tuple[str, ...] = ()  # wrong returned terms nelbo was computed from: their mistakes are nelbo's too
    hidden: tuple[str, ...] = ()  # wrong returned terms nelbo was not computed from (it used the right value)
    weight: float | None = None  # the KL's weight, when it is one real code uses and the only one that fits


def read_nelbo(nelbo: float, kl: TermReading, rec: TermReading) -> NelboReading:
    """nelbo against the ways known mistakes put it together; the first that matches explains it."""

    def near(value: float) -> bool:
        return bool(np.isclose(nelbo, value, rtol=1e-5, atol=1e-3))

    wrong = tuple(term.name for term in (kl, rec) if not term.right)
    identity = near(kl.value + rec.value)
    if near(kl.expected + rec.expected):
        return NelboReading(identity, True, True, hidden=wrong)
    if identity:
        return NelboReading(True, False, True, used=wrong)
    if near(kl.value + rec.expected):
        return NelboReading(False, False, True, used=("kl",), hidden=("rec",))
    if near(kl.expected + rec.value):
        return NelboReading(False, False, True, used=("rec",), hidden=("kl",))
    if near(rec.value - kl.value):
        return NelboReading(False, False, True, ("bound_nelbo_rec_minus_kl",), wrong)
    if near(kl.value - rec.value):
        return NelboReading(False, False, True, ("bound_nelbo_kl_minus_rec",), wrong)
    if near(kl.value):
        return NelboReading(False, False, True, ("bound_nelbo_without_rec",), tuple(t for t in wrong if t == "kl"))
    weights = [weight for weight in KL_WEIGHTS if abs(kl.value) > 1e-6 and near(weight * kl.value + rec.value)]
    if weights:  # one known weight, or several too close to tell apart on this batch (0 and 1 / 5000, say)
        return NelboReading(False, False, True, ("bound_nelbo_kl_weight",), wrong,
                            weight=weights[0] if len(weights) == 1 else None)
    return NelboReading(False, False)


@dataclass(frozen=True)
class Analysis:
    """What the main case's answer says: each term, nelbo, and the mistakes each check can name or inherit."""

    case: BoundCase
    result: dict
    nelbo_value: float
    kl: TermReading
    rec: TermReading
    nelbo: NelboReading
    swapped: bool  # kl and rec returned in each other's place

    def term(self, name: str) -> TermReading:
        return self.kl if name == "kl" else self.rec

    def term_mistakes(self, name: str) -> tuple[str, ...]:
        if self.swapped:
            return ("bound_kl_and_rec_swapped",)
        return tuple(sorted(self.term(name).mistakes))

    def inherited(self, *names: str) -> tuple[tuple[str, str], ...]:
        """The mistakes checks 3.2 and 3.3 name for these terms, as (check, mistake)."""
        return tuple((self.term(name).check, mistake) for name in names if not self.term(name).right
                     for mistake in self.term_mistakes(name))

    def nelbo_causes(self) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
        """The mistakes that make nelbo's value wrong, when known: nelbo's own, and those checks 3.2 and 3.3 name in
        the returned terms nelbo was computed from."""
        if self.nelbo.right or not self.nelbo.explained:
            return (), ()
        return self.nelbo.mistakes, self.inherited(*self.nelbo.used)

    def values_right(self) -> bool:
        return self.kl.right and self.rec.right

    def nelbo_right(self) -> bool:
        return bool(np.isclose(self.nelbo_value, self.case.nelbo, rtol=1e-5, atol=1e-3))


def analyse(case: BoundCase, result: dict, values: list[np.ndarray]) -> Analysis:
    nelbo, kl, rec = (float(value) for value in values)
    kl_reading = read_term("kl", "3.2", kl, case.kl, lambda: case.kl_hypotheses, KL_TOLERANCE)
    rec_reading = read_term("rec", "3.3", rec, case.rec, lambda: case.rec_hypotheses, REC_TOLERANCE)
    swapped = (not kl_reading.right and not rec_reading.right and np.isclose(kl, case.rec, **REC_TOLERANCE)
               and np.isclose(rec, case.kl, **KL_TOLERANCE))
    return Analysis(case, result, nelbo, kl_reading, rec_reading, read_nelbo(nelbo, kl_reading, rec_reading), swapped)


def term_diagnosis(analysis: Analysis, name: str, fix: str) -> Diagnosis:
    """Checks 3.2 and 3.3: the term's own mistakes, else what was observed and the likely candidates."""
    reading = analysis.term(name)
    if analysis.swapped:
        return Diagnosis(("bound_kl_and_rec_swapped",), fix=fix)
    diagnosis = reading.explanation.diagnosis(fix)
    ratio = reading.value / reading.expected if reading.expected else float("nan")
    if not reading.explanation.matches:
        diagnosis = Diagnosis(observed=f"{name} = {reading.value:.6g}, the reference {reading.expected:.6g} "
                                       f"(a ratio of {ratio:.4g}, not one a known mistake gives)", fix=fix)
    return diagnosis
