"""Checks of the student's model as BetaVAE() builds it: its size, the shapes of encode and decode, a positive
variance, determinism in eval mode, and the time of a training iteration (grader/homeworks/beta_vae/trusted.py)."""

import numpy as np
from gradescope_utils.autograder_utils.decorators import number

from grader.engine.expect import require_finite, tensor_values
from grader.engine.feedback import WrongAnswer, preview, wrong
from grader.grading.session import GradingSession
from grader.homeworks.beta_vae import trusted

FLOAT = "torch.float32"


def pair(answer: dict, what: str) -> tuple[dict, dict]:
    """The two described parts of a returned (m, v), or a message saying what came back instead."""
    parts = answer.get("parts")
    if parts is None or len(parts) != 2:
        found = answer["returned"].get("type", "?")
        length = answer["returned"].get("length")
        raise wrong(f"{what} did not return a pair (m, v).", "a tuple of two tensors (m, v)",
                    f"a {found}" + (f" of length {length}" if length is not None else ""),
                    "return m, v (the variance itself, not its log, and not one concatenated tensor).")
    return parts[0], parts[1]


def z_dim_of(grading: GradingSession) -> int:
    answer = trusted.inspected(grading)
    z_dim = answer["z_dim"]
    max_z_dim = int(trusted.settings(grading)["max_z_dim"])
    if z_dim is None:
        m, _ = pair(answer["encoded"], "encode(x)")
        raise wrong("encode(x)'s mean is not a (batch, z_dim) tensor.",
                    f"shape ({trusted.CHECK_BATCH}, z_dim) with 1 <= z_dim <= {max_z_dim}",
                    f"{m.get('type')} of shape {tuple(m.get('shape', ()))}",
                    "one row per image: flatten nothing, keep the batch dimension first.")
    return int(z_dim)


def encoded_values(grading: GradingSession, key: str = "encoded") -> tuple[np.ndarray, np.ndarray]:
    answer = trusted.inspected(grading)
    shape = (trusted.CHECK_BATCH, z_dim_of(grading))
    m, v = pair(answer[key], "encode(x)")
    return (tensor_values(m, "encode(x)[0] (the mean m)", shape, FLOAT),
            tensor_values(v, "encode(x)[1] (the variance v)", shape, FLOAT, "v must have m's shape."))


def decoded_values(grading: GradingSession, key: str = "decoded") -> np.ndarray:
    answer = trusted.inspected(grading)
    z_dim_of(grading)
    if key not in answer:
        raise WrongAnswer("decode was not called: encode's answer was not usable (see above).")
    return tensor_values(answer[key]["returned"], "decode(z)", (trusted.CHECK_BATCH, trusted.IMAGE_PIXELS), FLOAT,
                         "one row of 784 logits per latent vector.")


@number("1.1")
def test_builds_within_budget(grading: GradingSession, note: list[str]) -> None:
    """model: BetaVAE() builds, within the parameter budget"""
    sizes = trusted.inspected(grading)["state_sizes"]
    total = sum(sizes.values())
    budget = int(trusted.settings(grading)["parameter_budget"])
    if total > budget:
        largest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
        raise wrong("The model is over the parameter budget.", f"at most {budget:,} numbers in the state_dict",
                    f"{total:,} (largest: {', '.join(f'{name} {size:,}' for name, size in largest)})",
                    "narrower hidden layers: a 784-300-300 network each way with z_dim 20 holds about 670,000.")
    if total == 0:
        raise wrong("The model has no parameters.", "an encoder and a decoder with weights", "an empty state_dict",
                    "layers assigned as attributes of self (self.encoder = nn.Sequential(...)) after "
                    "super().__init__().")
    z_dim = trusted.inspected(grading)["z_dim"]
    note.append(f"{total:,} numbers in the state_dict (budget {budget:,}); z_dim {z_dim}.")


@number("1.2")
def test_shapes(grading: GradingSession) -> None:
    """model: encode(x) gives (m, v) of shape (batch, z_dim), decode(z) logits of shape (batch, 784), float32"""
    encoded_values(grading)
    decoded_values(grading)


@number("1.3")
def test_positive_variance(grading: GradingSession) -> None:
    """model: v > 0, and m, v and the logits are finite"""
    m, v = encoded_values(grading)
    require_finite(m, "encode(x)'s mean", "a division by zero or a log of a non-positive number in the encoder.")
    require_finite(v, "encode(x)'s variance", "exp of a huge number, or a log of a non-positive number.")
    if not (v > 0).all():
        raise wrong("encode(x) returned variances that are not positive.", "v > 0 everywhere",
                    f"{int((v <= 0).sum())} of {v.size} values <= 0 (smallest {float(v.min()):.4g})",
                    "returning the raw network output or the log-variance as v; make it positive with "
                    "softplus(h) + 1e-6 or exp(h).")
    require_finite(decoded_values(grading), "decode(z)", "an overflow in the decoder.")


@number("1.4")
def test_deterministic_in_eval_mode(grading: GradingSession) -> None:
    """model: in eval mode, encode and decode give the same output twice (no dropout left on)"""
    for key, what in (("encoded", "encode(x)"),):
        first, again = encoded_values(grading, key), encoded_values(grading, f"{key}_again")
        for part, one, two in zip(("m", "v"), first, again, strict=True):
            if not np.array_equal(one, two):
                raise wrong(f"{what} gave a different {part} on the same input in eval mode.", "the same values",
                            f"{preview(one)} then {preview(two)}", "dropout that ignores eval mode: "
                            "F.dropout(h, p) is always on unless given training=self.training; use nn.Dropout, or "
                            "randomness drawn inside encode.")
    first_logits, again_logits = decoded_values(grading), decoded_values(grading, "decoded_again")
    if not np.array_equal(first_logits, again_logits):
        raise wrong("decode(z) gave different logits for the same z in eval mode.", "the same values",
                    f"{preview(first_logits)} then {preview(again_logits)}", "dropout that ignores eval mode "
                    "(F.dropout without training=self.training), or sampling inside decode: decode returns logits, "
                    "it does not draw pixels.")


@number("1.5")
def test_iteration_time(grading: GradingSession, note: list[str]) -> None:
    """model: a training iteration takes at most the allowed multiple of the reference's"""
    student, reference_seconds = trusted.step_times(grading)
    factor = float(trusted.settings(grading)["step_time_factor"])
    ratio = student / reference_seconds
    note.append(f"A training iteration (batch of 100, Adam) took {student * 1000:.1f} ms, the reference's "
                f"{reference_seconds * 1000:.1f} ms on the same machine: {ratio:.2f} times.")
    if ratio > factor:
        raise wrong("A training iteration of your model is too slow for the grading's time limit.",
                    f"at most {factor:g} times the reference's", f"{ratio:.1f} times",
                    "hidden layers much wider than 500 units, Python loops over the batch or the pixels, or .item() "
                    "and numpy round trips inside loss.")
