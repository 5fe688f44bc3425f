"""Points for a scored metric of the retrained model: full inside the calibrated band, fewer beyond it.

A homework's bands come from its ``calibration.json`` (``make calibrate HOMEWORK=<id>``: the reference graded
over many seeds), one per scored metric under ``"bands"``. For a metric where lower is better (``order``
"asc", a bound in nats) the band is: full points at or below ``full``, none at or above ``zero``, staff review
below ``review``; where higher is better ("desc", an accuracy) the three edges mirror.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

from grader.engine.homework import Homework, HomeworkError


@dataclass(frozen=True)
class Band:
    full: float  # full points at or better than this
    zero: float  # no points at or worse than this
    review: float  # better than any reference run: worth a look by staff
    order: str = "asc"  # "asc": lower is better; "desc": higher is better

    def _better_or_equal(self, value: float, edge: float) -> bool:
        return value <= edge if self.order == "asc" else value >= edge

    def fraction(self, value: float) -> float:
        """The share of the points ``value`` earns: 1 inside the band, falling linearly to 0 at ``zero``."""
        if not math.isfinite(value) or self._better_or_equal(self.zero, value):
            return 0.0
        if self._better_or_equal(value, self.full):
            return 1.0
        return round((self.zero - value) / (self.zero - self.full), 4)

    def points(self, value: float, max_points: float) -> float:
        return round(max_points * self.fraction(value), 2)

    def inside(self, value: float) -> bool:
        return math.isfinite(value) and self._better_or_equal(value, self.full)

    def needs_review(self, value: float) -> bool:
        return math.isfinite(value) and not self._better_or_equal(self.review, value)

    def review_note(self, value: float, what: str) -> str | None:
        """What a check says of a value better than any reference run (worth a look by staff), else None."""
        if not self.needs_review(value):
            return None
        side = "lower" if self.order == "asc" else "higher"
        edge = "below" if self.order == "asc" else "above"
        return f"This {what} is {side} than any reference run ({edge} {self.review:g}); staff may review it."

    def describe(self) -> str:
        if self.order == "asc":
            return f"full points at or below {self.full:g}, none from {self.zero:g}"
        return f"full points at or above {self.full:g}, none from {self.zero:g} down"


def load_band(homework: Homework, metric: str, path: Path | None = None) -> Band:
    """The calibrated band of ``metric`` (from ``path``, default the homework's calibration.json); HomeworkError if
    the homework has not been calibrated for it."""
    path = path or homework.calibration_file
    order = homework.metric(metric).order
    try:
        bands = json.loads(path.read_text())["bands"]
        band = bands[metric]
        return Band(float(band["full"]), float(band["zero"]), float(band["review"]), order)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise HomeworkError(f"{path}: no calibrated band for {metric} ({type(error).__name__}: {error}); run "
                            f"make calibrate HOMEWORK={homework.id}") from None
