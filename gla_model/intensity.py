"""T1w intensities: the statistics ``model.pt`` records of its training T1w, and the check of
every T1w given to synthesis against them.

Preprocessing divides each T1w by its 99.5th percentile inside the brain and clips it to
[0, 1], and zeroes everything outside the brain, so the nonzero voxels are the brain. A
model has only seen such images: a T1w with other intensities (a raw image on the grid,
another normalization) gives a PET of the wrong brightness without any other sign.

- Error: a value outside [0, 1] by more than :data:`RANGE_TOLERANCE`, no brain voxels, or a
  brain median or 99th percentile below the training minimum divided by :data:`FAR_FACTOR`.
- Warning (logged, with the numbers): the brain median or 99th percentile outside the
  training range widened by :data:`WARN_MARGIN` on each side.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gla_model.errors import InputImageError

log = logging.getLogger(__name__)

#: How far outside [0, 1] a preprocessed T1w value may be (float rounding, resampling).
RANGE_TOLERANCE = 0.01
#: Widening of the training range, in normalized units, before a statistic is flagged.
WARN_MARGIN = 0.05
#: A statistic below the training minimum divided by this is an error, not a warning.
FAR_FACTOR = 2.0
#: The recorded statistics (brain median and 99th percentile) and their names in messages.
STATISTICS = {"median": "brain median", "p99": "99th percentile"}
_REMEDY = ("preprocess the raw T1w with `gla-model preprocess` (or give the raw image to "
           "`gla-model synthesize --t1w`, which preprocesses it with the model's settings)")


@dataclass(frozen=True)
class IntensityStats:
    """Brain (nonzero voxel) statistics of one T1w, and its extremes."""

    median: float
    p99: float
    minimum: float
    maximum: float
    brain_voxels: int

    def describe(self) -> str:
        return (f"brain median {self.median:.3g}, 99th percentile {self.p99:.3g}, "
                f"range [{self.minimum:.3g}, {self.maximum:.3g}]")


def intensity_stats(volume: np.ndarray) -> IntensityStats:
    """The statistics of one T1w array (its nonzero voxels are the brain)."""
    data = np.asarray(volume, dtype=np.float64)
    brain = data[data != 0]
    median, p99 = (np.percentile(brain, [50, 99]) if brain.size else (0.0, 0.0))
    return IntensityStats(median=float(median), p99=float(p99), minimum=float(data.min()),
                          maximum=float(data.max()), brain_voxels=int(brain.size))


def training_intensity(*, volumes: Iterable[np.ndarray]) -> dict[str, Any]:
    """The record ``model.pt`` keeps: per statistic of :data:`STATISTICS`, the [min, max]
    over the training T1w, and their number."""
    stats = [intensity_stats(volume) for volume in volumes]
    if not stats:
        raise ValueError("training_intensity needs at least one T1w")
    record: dict[str, Any] = {name: [min(getattr(s, name) for s in stats),
                                     max(getattr(s, name) for s in stats)]
                              for name in STATISTICS}
    return {**record, "subjects": len(stats)}


def check_t1w_intensity(volume: np.ndarray, *, training: Mapping[str, Any] | None,
                        source: str) -> IntensityStats:
    """Raise InputImageError when ``volume`` is far outside what the model was trained on,
    log a warning when it is moderately outside; ``source`` names it in messages.

    Args:
        training: the checkpoint's :func:`training_intensity` record; None (a checkpoint
            without one) checks the [0, 1] range only.
    """
    stats = intensity_stats(volume)
    if stats.brain_voxels == 0:
        raise InputImageError(f"{source} has no nonzero (brain) voxels; {_REMEDY}")
    if stats.maximum > 1 + RANGE_TOLERANCE or stats.minimum < -RANGE_TOLERANCE:
        raise InputImageError(
            f"{source} has intensities outside [0, 1] ({stats.describe()}): it is not a "
            f"T1w preprocessed by gla-model, whose values lie in [0, 1]; {_REMEDY}")
    if training is None:
        return stats
    far, moderate = [], []
    for name, label in STATISTICS.items():
        value, (low, high) = getattr(stats, name), training[name]
        if value < low / FAR_FACTOR:
            far.append(f"{label} {value:.3g}, under half the training minimum {low:.3g}")
        elif not low - WARN_MARGIN <= value <= high + WARN_MARGIN:
            moderate.append(f"{label} {value:.3g}, training {low:.3g} to {high:.3g}")
    trained = f"the {training['subjects']} training T1w"
    if far:
        raise InputImageError(
            f"{source} is far darker than {trained} ({'; '.join(far)}): the PET would be far "
            f"too dark. {_REMEDY[0].upper()}{_REMEDY[1:]}")
    if moderate:
        log.warning("%s: brain intensities outside those of %s by more than %g (%s); the PET "
                    "may be too bright or too dark. Check that it was preprocessed with the "
                    "model's preprocessing settings", source, trained, WARN_MARGIN,
                    "; ".join(moderate))
    return stats
