"""Points for the test NELBO of the retrained model: full inside the calibrated band, less beyond it.

The band comes from ``grader/calibration.json`` when ``make calibrate`` has written it (the reference
graded over many seeds), and from the defaults below otherwise.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

CALIBRATION_FILE = Path(__file__).resolve().parent / "calibration.json"


@dataclass(frozen=True)
class NelboBand:
    full_at_or_below: float = 101.0  # reference runs measured 99.6-100.2 over five seeds
    zero_at_or_above: float = 115.0  # ~2,000 iterations of a right model; wrong models land far above
    review_below: float = 97.0  # better than any reference run: worth a look by staff

    def points(self, nelbo: float, max_points: float) -> float:
        if not math.isfinite(nelbo) or nelbo >= self.zero_at_or_above:
            return 0.0
        if nelbo <= self.full_at_or_below:
            return max_points
        fraction = (self.zero_at_or_above - nelbo) / (self.zero_at_or_above - self.full_at_or_below)
        return round(max_points * fraction, 2)


def load_band(path: Path = CALIBRATION_FILE) -> NelboBand:
    if not path.exists():
        return NelboBand()
    band = json.loads(path.read_text())["band"]
    return NelboBand(float(band["full_at_or_below"]), float(band["zero_at_or_above"]), float(band["review_below"]))
