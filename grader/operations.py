"""What each worker operation must answer: its declared shape, validated before any check reads it."""

from grader.answers import (
    BOOL,
    GRADIENT,
    TEXT,
    VALUE,
    Array,
    ListOf,
    MapOf,
    Number,
    Optional,
    Record,
    Shape,
)

MAX_ITERATIONS = 10**9
MAX_SECONDS = 10**7
REPORTED_NUMBER = Optional(Number())  # a figure the worker reports for information; None when not finite
FAILURE = Record({"ok": BOOL, "kind": TEXT, "error": TEXT, "traceback": TEXT})

ANSWERS: dict[str, Shape] = {
    "import": Record({"problems": MapOf(FAILURE)}),
    "sample_gaussian": Record({"z": VALUE, "inputs_unchanged": BOOL},
                              optional={"grad_m": GRADIENT, "grad_v": GRADIENT, "grad_error": TEXT}),
    "kl_normal": Record({"kl": VALUE, "inputs_unchanged": BOOL},
                        optional={"grad_qm": GRADIENT, "grad_qv": GRADIENT, "grad_error": TEXT}),
    "negative_elbo_bound": Record(
        {"returned": VALUE, "sample_gaussian_calls": ListOf(ListOf(Number(0, 2**31, integer=True), max_length=8),
                                                            max_length=1_000),
         "missing_weights": ListOf(TEXT), "repeated_terms": ListOf(ListOf(VALUE, max_length=100), max_length=100)},
        optional={"terms": ListOf(VALUE, length=3), "grads": MapOf(Array())},
    ),
    "train": Record(
        {"weights": MapOf(Array()), "iterations": Number(0, MAX_ITERATIONS, integer=True),
         "seconds": Number(0, MAX_SECONDS), "diverged_at": Optional(Number(0, MAX_ITERATIONS, integer=True)),
         "last": MapOf(REPORTED_NUMBER)},
        optional={"own_bound": MapOf(REPORTED_NUMBER), "own_bound_error": TEXT},
    ),
}
