"""Is a T1w like the ones the model was trained on? The out-of-distribution check.

The reference is the model's own training and validation subjects (what ``model.pt``
records), read from the run's preprocessing folder: per voxel, the mean and SD of their
preprocessed T1w, and the fraction of them whose brain mask covers the voxel.

**Score** (``input_typicality``; larger is *less* typical): the mean absolute z-score of the
T1w against that mean and SD, over the voxels inside both the subject's brain mask and the
reference brain (covered by at least half of the training subjects). Each voxel's SD is
floored at the median SD of the reference brain: after intensity normalization many white
matter voxels sit at the clip value 1 in every training T1w, and their near-zero SD would
otherwise let a few voxels decide the score.

**Flag** (``out_of_distribution``): the score is above :data:`MARGIN` times the median
leave-one-out score of the training subjects (each scored against the mean and SD of the
others, the same way; it needs at least 3 of them): a T1w is flagged when it lies three
times further from the training T1w than the typical training T1w lies from the rest.
Data-driven, no fixed z cut-off. The median, not the largest value: one training subject
whose preprocessing failed would otherwise set the bar (in a 10-subject demo cohort a T1w
whose registration failed, flagged by the preprocessing QC, scored 5.1 times the median and
as high as a contrast-inverted T1w; the other nine scored 0.9 to 2.0 times the median).

The reference also holds the first two voxelwise moments of the training subjects' real
PET, for :meth:`TypicalityReference.prior_rms` (see :mod:`gla_model.uncertainty.estimator`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gla_model.errors import ConfigError
from gla_model.layout import preprocessed_path
from gla_model.niftiio import load_image
from gla_model.uncertainty.members import trained_subjects

log = logging.getLogger(__name__)
#: A subject is out of distribution above this many times the median leave-one-out score
#: of the training subjects.
MARGIN = 3.0
#: A reference voxel is brain where at least this fraction of training masks cover it.
BRAIN_FRACTION = 0.5
#: Training subjects a leave-one-out threshold needs (an SD from at least 2 others).
MIN_SUBJECTS = 3


def typicality_score(*, t1w: np.ndarray, brain: np.ndarray, mean: np.ndarray,
                     sd: np.ndarray, reference_brain: np.ndarray) -> float:
    """Mean |z| of ``t1w`` against ``mean``/``sd`` (SD floored at its median inside
    ``reference_brain``) over ``brain & reference_brain``; inf when they do not overlap."""
    inside = np.asarray(brain, bool) & np.asarray(reference_brain, bool)
    if not inside.any():
        return float("inf")
    floor = max(float(np.median(sd[reference_brain])), float(np.finfo(np.float32).eps))
    z = np.abs(t1w[inside] - mean[inside]) / np.maximum(sd[inside], floor)
    return float(np.mean(z))


@dataclass(frozen=True)
class TypicalityReference:
    """The training subjects' T1w and PET moments, and the flag threshold."""

    subjects: tuple[str, ...]
    mean: np.ndarray
    sd: np.ndarray
    brain_fraction: np.ndarray
    pet_mean: np.ndarray
    pet_square_mean: np.ndarray
    #: Each training subject's score against the others (leave-one-out).
    loo_scores: tuple[float, ...]

    @property
    def threshold(self) -> float:
        """:data:`MARGIN` times the median leave-one-out score."""
        return MARGIN * float(np.median(self.loo_scores))

    def score(self, *, t1w: np.ndarray, brain: np.ndarray) -> float:
        """The ``input_typicality`` of a preprocessed T1w with its brain mask."""
        return typicality_score(t1w=np.asarray(t1w, np.float64), brain=brain,
                                mean=self.mean, sd=self.sd,
                                reference_brain=self.brain_fraction >= BRAIN_FRACTION)

    def is_outlier(self, score: float) -> bool:
        return score > self.threshold

    def prior_rms(self, pet: np.ndarray) -> np.ndarray:
        """Voxelwise root-mean-square difference between ``pet`` and the training subjects'
        real PETs: ``sqrt((pet - mean)^2 + var)``, the error a PET that knew nothing of the
        subject would make on a subject drawn from the training cohort."""
        pet = np.asarray(pet, np.float64)
        variance = np.maximum(self.pet_square_mean - self.pet_mean ** 2, 0.0)
        return np.sqrt((pet - self.pet_mean) ** 2 + variance)


def build_reference(*, preproc_dir: Path | str, subjects: Sequence[str]
                    ) -> TypicalityReference:
    """The reference of the training subjects ``subjects`` (preprocessed T1w, brain mask and
    PET under ``preproc_dir``), in two passes over their files (the moments, then the
    leave-one-out scores) so that memory does not grow with the cohort."""
    subjects = tuple(sorted(str(s) for s in subjects))
    if len(subjects) < MIN_SUBJECTS:
        raise ConfigError(f"the out-of-distribution check needs at least {MIN_SUBJECTS} "
                          f"training subjects, the model records {len(subjects)}")
    n = len(subjects)
    sums: dict[str, np.ndarray] = {}
    for pid in subjects:
        t1w, brain, pet = _read(preproc_dir=preproc_dir, participant_id=pid, pet=True)
        for name, value in (("t1w", t1w), ("t1w2", t1w ** 2), ("brain", brain),
                            ("pet", pet), ("pet2", pet ** 2)):
            sums[name] = sums.get(name, 0.0) + value
    mean = sums["t1w"] / n
    sd = np.sqrt(np.maximum(sums["t1w2"] - n * mean ** 2, 0.0) / (n - 1))
    loo = []
    for pid in subjects:
        t1w, brain, _ = _read(preproc_dir=preproc_dir, participant_id=pid, pet=False)
        others_mean = (sums["t1w"] - t1w) / (n - 1)
        others_sd = np.sqrt(np.maximum(sums["t1w2"] - t1w ** 2
                                       - (n - 1) * others_mean ** 2, 0.0) / (n - 2))
        loo.append(typicality_score(
            t1w=t1w, brain=brain, mean=others_mean, sd=others_sd,
            reference_brain=(sums["brain"] - brain) / (n - 1) >= BRAIN_FRACTION))
    return TypicalityReference(subjects=subjects, mean=mean, sd=sd,
                               brain_fraction=sums["brain"] / n, pet_mean=sums["pet"] / n,
                               pet_square_mean=sums["pet2"] / n, loo_scores=tuple(loo))


def reference_for(*, preproc_dir: Path | str | None, record: Mapping[str, Any],
                  checkpoint: Path | str) -> TypicalityReference | None:
    """The reference of the training subjects a ``model.pt`` records (``checkpoint``, for
    messages), from ``preproc_dir``; None with a logged warning without ``preproc_dir`` or
    with fewer than :data:`MIN_SUBJECTS` of them (the check is then skipped)."""
    subjects = sorted(trained_subjects(record))
    if preproc_dir is None:
        log.warning("no --preproc-dir with the preprocessed images of the model's training "
                    "subjects: the T1w are not compared with them (input_typicality and "
                    "out_of_distribution are n/a)")
        return None
    if len(subjects) < MIN_SUBJECTS:
        log.warning("%s trained on %d subjects, fewer than the %d the out-of-distribution "
                    "check needs: it is skipped", checkpoint, len(subjects), MIN_SUBJECTS)
        return None
    return build_reference(preproc_dir=preproc_dir, subjects=subjects)


def _read(*, preproc_dir: Path | str, participant_id: str, pet: bool
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A training subject's T1w, brain mask (0/1) and, with ``pet``, PET, in float64."""
    def image(field: str, role: str) -> np.ndarray:
        path = preprocessed_path(preproc_dir=preproc_dir, participant_id=participant_id,
                                 field=field)
        return np.asarray(load_image(path, role=f"training subject's {role}").dataobj,
                          dtype=np.float64)

    return (image("t1w", "T1w"), (image("mask", "brain mask") != 0).astype(np.float64),
            image("pet", "PET") if pet else None)
