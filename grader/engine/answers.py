"""Declared shapes of the worker's answers, and the one validation every answer passes before a check reads it.

The worker is untrusted: its answer may be anything the wire can carry (dicts, lists, numbers, strings,
arrays, bytes), with any field missing, mistyped, non-finite or absurdly large. Each operation declares
the shape of its answer with the small vocabulary below; ``validate`` walks the answer against it and
returns it unchanged, or raises ``Malformed`` naming the first field that does not fit. The caller turns
that into the student's outcome (an error in their code), never a fault of the grader.

    Record({"z": TENSOR, "inputs_unchanged": BOOL}, optional={"grad_m": Optional(Array())})

Arrays may hold NaN or infinity (a wrong answer the checks report); numbers given as ``Number`` must
be finite and within their bounds.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

MAX_TEXT = 20_000
MAX_LIST = 10_000
FLOAT_DTYPES = ("float32", "float64")
ANY_DTYPE = ("float32", "float64", "int64", "int32", "uint8", "bool")


class Malformed(ValueError):
    """An answer that does not have its declared shape; the message names the field and what was wrong."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or 'the answer'}: {problem}")
        self.path = path
        self.problem = problem


def _kind(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {tuple(value.shape)} ({value.dtype.name})"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "a mapping", list: "a list", str: "a text", bytes: "bytes", type(None): "nothing (null)"}.get(
        type(value), type(value).__name__)


class Shape:
    """The declared shape of one value."""

    def check(self, value: object, path: str) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Boolean(Shape):
    def check(self, value: object, path: str) -> None:
        if not isinstance(value, bool):
            raise Malformed(path, f"expected true or false, got {_kind(value)}")

    def describe(self) -> str:
        return "a boolean"


@dataclass(frozen=True)
class Number(Shape):
    """A finite int or float (not a boolean) in [minimum, maximum]; ``integer`` refuses a float."""

    minimum: float = -1e300
    maximum: float = 1e300
    integer: bool = False

    def check(self, value: object, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Malformed(path, f"expected a number, got {_kind(value)}")
        if self.integer and not isinstance(value, int):
            raise Malformed(path, f"expected a whole number, got {value!r}")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise Malformed(path, "a whole number beyond 64 bits")
        if isinstance(value, float) and not math.isfinite(value):
            raise Malformed(path, f"expected a finite number, got {value}")
        if not self.minimum <= value <= self.maximum:
            raise Malformed(path, f"{value!r} is outside [{self.minimum:g}, {self.maximum:g}]")

    def describe(self) -> str:
        return "a whole number" if self.integer else "a number"


@dataclass(frozen=True)
class Text(Shape):
    max_length: int = MAX_TEXT

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, str):
            raise Malformed(path, f"expected a text, got {_kind(value)}")
        if len(value) > self.max_length:
            raise Malformed(path, f"a text of {len(value):,} characters, more than {self.max_length:,}")

    def describe(self) -> str:
        return "a text"


@dataclass(frozen=True)
class Array(Shape):
    """A numpy array with a dtype from ``dtypes``, ``ndim`` dimensions if given, at most ``max_elements``."""

    dtypes: tuple[str, ...] = FLOAT_DTYPES
    ndim: int | None = None
    max_elements: int = 50_000_000

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, np.ndarray):
            raise Malformed(path, f"expected an array, got {_kind(value)}")
        if value.dtype.name not in self.dtypes:
            raise Malformed(path, f"an array of dtype {value.dtype.name}; expected {' or '.join(self.dtypes)}")
        if self.ndim is not None and value.ndim != self.ndim:
            raise Malformed(path, f"an array with {value.ndim} dimensions; expected {self.ndim}")
        if value.size > self.max_elements:
            raise Malformed(path, f"an array of {value.size:,} elements, more than {self.max_elements:,}")

    def describe(self) -> str:
        return "an array"


@dataclass(frozen=True)
class Blob(Shape):
    max_bytes: int = 8 * 2**20

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, bytes):
            raise Malformed(path, f"expected bytes, got {_kind(value)}")
        if len(value) > self.max_bytes:
            raise Malformed(path, f"{len(value):,} bytes, more than {self.max_bytes:,}")

    def describe(self) -> str:
        return "bytes"


@dataclass(frozen=True)
class Optional(Shape):
    """``inner`` or null."""

    inner: Shape

    def check(self, value: object, path: str) -> None:
        if value is not None:
            self.inner.check(value, path)

    def describe(self) -> str:
        return f"{self.inner.describe()} or nothing"


@dataclass(frozen=True)
class ListOf(Shape):
    item: Shape
    max_length: int = MAX_LIST
    length: int | None = None

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, list):
            raise Malformed(path, f"expected a list, got {_kind(value)}")
        if self.length is not None and len(value) != self.length:
            raise Malformed(path, f"a list of {len(value)} items; expected {self.length}")
        if len(value) > self.max_length:
            raise Malformed(path, f"a list of {len(value):,} items, more than {self.max_length:,}")
        for index, item in enumerate(value):
            self.item.check(item, f"{path}[{index}]")

    def describe(self) -> str:
        return f"a list of {self.item.describe()}"


@dataclass(frozen=True)
class MapOf(Shape):
    """A mapping from text keys to values of one shape (e.g. parameter name -> array)."""

    value: Shape
    max_length: int = MAX_LIST

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise Malformed(path, f"expected a mapping, got {_kind(value)}")
        if len(value) > self.max_length:
            raise Malformed(path, f"a mapping of {len(value):,} entries, more than {self.max_length:,}")
        for key, item in value.items():
            if not isinstance(key, str) or len(key) > 200:
                raise Malformed(path, "a key that is not a short text")
            self.value.check(item, f"{path}.{key}")

    def describe(self) -> str:
        return f"a mapping to {self.value.describe()}"


@dataclass(frozen=True)
class Record(Shape):
    """A mapping with required ``fields`` and ``optional`` ones; other keys are refused."""

    fields: Mapping[str, Shape]
    optional: Mapping[str, Shape] = field(default_factory=dict)

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise Malformed(path, f"expected a mapping, got {_kind(value)}")
        missing = [name for name in self.fields if name not in value]
        if missing:
            raise Malformed(path, f"lacks {', '.join(missing)}")
        unknown = [str(name)[:40] for name in value if name not in self.fields and name not in self.optional]
        if unknown:
            raise Malformed(path, f"has fields that were not asked for: {', '.join(unknown[:5])}")
        for name, shape in {**self.fields, **self.optional}.items():
            if name in value:
                shape.check(value[name], f"{path}.{name}" if path else name)

    def describe(self) -> str:
        return "a record"


@dataclass(frozen=True)
class ValueDescription(Shape):
    """What the worker says a student's function returned (``describe`` in the worker): a type name, and for
    a tensor its dtype, shape, requires_grad and values (an array of that shape); for a sequence its length."""

    max_elements: int = 50_000_000

    def check(self, value: object, path: str) -> None:
        Record({"type": Text(500), "is_tensor": Boolean()},
               optional={"length": Number(0, 2**31, integer=True), "dtype": Text(100),
                         "shape": ListOf(Number(0, 2**31, integer=True), max_length=8),
                         "requires_grad": Boolean(), "value": Array(ANY_DTYPE, max_elements=self.max_elements)},
               ).check(value, path)
        assert isinstance(value, dict)
        if value["is_tensor"]:
            for name in ("dtype", "shape", "requires_grad", "value"):
                if name not in value:
                    raise Malformed(path, f"a tensor description without its {name}")
            if tuple(value["value"].shape) != tuple(value["shape"]):
                raise Malformed(path, "tensor values that do not match the announced shape")

    def describe(self) -> str:
        return "a description of a returned value"


BOOL = Boolean()
TEXT = Text()
VALUE = ValueDescription()
GRADIENT = Optional(Array(FLOAT_DTYPES))


def validate(answer: object, shape: Shape) -> dict:
    """``answer`` if it has the declared ``shape`` (a Record), else ``Malformed``."""
    shape.check(answer, "")
    assert isinstance(answer, dict)
    return answer
