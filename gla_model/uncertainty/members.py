"""The estimator's members: which trained models may score a subject, and the test-time
augmentations each of them runs.

A member is one (model, augmentation) pair. A model is valid for a subject only if the
subject was neither a training nor a validation subject of it (the ``training_subjects``
and ``validation_subjects`` its ``model.pt`` records): a test-fold subject is scored by its
fold's model alone, since every other fold's model trained on it; an MRI-only subject by
every fold model and the full model. :func:`check_valid_members` enforces this for every
subject and model handed to the estimator, so an invalid member cannot be used.

Augmentations act on arrays of the model grid, whose axis 0 is MNI x (left-right, the
grid's affine is diagonal and symmetric about x = 0, see
:func:`gla_model.resources.model_grid`):

- ``identity``: always a member (for the primary model it is the PET that is written);
- ``flip``: the input mirrored left-right, the output mirrored back (an exact voxel
  mirror about the midsagittal plane x = 0);
- ``shift``: the input moved by +s or -s voxels along one axis (6 members), the voxels
  moved in filled with 0 (the brain lies in a zero background, so nothing wraps around);
  the output is moved back and the s border slices it cannot cover are NaN, which the SD
  leaves out (every voxel keeps at least the identity and, with ``flip``, the mirror).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gla_model.errors import ConfigError, LeakageError

log = logging.getLogger(__name__)
#: The axis of the model grid that runs left-right (MNI x).
LEFT_RIGHT_AXIS = 0


@dataclass(frozen=True)
class Augmentation:
    """One test-time augmentation: a mirror of axis 0 or a shift by ``offset`` voxels along
    ``axis`` (both None and 0: the identity)."""

    name: str
    flip: bool = False
    axis: int | None = None
    offset: int = 0

    def forward(self, volume: np.ndarray) -> np.ndarray:
        """The augmented input (zeros moved in at a shifted border)."""
        if self.flip:
            return np.flip(volume, axis=LEFT_RIGHT_AXIS).copy()
        if self.axis is None:
            return volume
        return _shift(volume, axis=self.axis, offset=self.offset, fill=0.0)

    def inverse(self, volume: np.ndarray) -> np.ndarray:
        """An output brought back onto the input's voxels (NaN where it cannot be)."""
        if self.flip:
            return np.flip(volume, axis=LEFT_RIGHT_AXIS).copy()
        if self.axis is None:
            return volume
        return _shift(volume, axis=self.axis, offset=-self.offset, fill=np.nan)


IDENTITY = Augmentation(name="identity")


def augmentations(*, flip: bool, shift: int) -> tuple[Augmentation, ...]:
    """The identity, then the mirror (``flip``), then +-``shift`` along each axis
    (``shift`` > 0): ``uncertainty.tta_flip`` and ``uncertainty.tta_shift``."""
    if shift < 0:
        raise ConfigError(f"uncertainty.tta_shift must be >= 0, got {shift}")
    members = [IDENTITY]
    if flip:
        members.append(Augmentation(name="flip", flip=True))
    if shift:
        members += [Augmentation(name=f"shift{'xyz'[axis]}{sign * shift:+d}", axis=axis,
                                 offset=sign * shift)
                    for axis in range(3) for sign in (1, -1)]
    return tuple(members)


def _shift(volume: np.ndarray, *, axis: int, offset: int, fill: float) -> np.ndarray:
    """``volume`` moved by ``offset`` voxels along ``axis``; vacated voxels get ``fill``."""
    result = np.full(volume.shape, fill, dtype=volume.dtype)
    size = volume.shape[axis]
    if abs(offset) >= size:
        return result
    target = [slice(None)] * volume.ndim
    source = [slice(None)] * volume.ndim
    target[axis] = slice(max(offset, 0), size + min(offset, 0))
    source[axis] = slice(max(-offset, 0), size - max(offset, 0))
    result[tuple(target)] = volume[tuple(source)]
    return result


def trained_subjects(record: Mapping[str, Any]) -> set[str]:
    """Every subject whose data a ``model.pt`` saw: its training and validation subjects."""
    return {str(s) for s in (*record["training_subjects"], *record["validation_subjects"])}


def check_valid_members(*, subjects: Iterable[str], records: Sequence[Mapping[str, Any]],
                        names: Sequence[str]) -> None:
    """Raise :class:`LeakageError` if any model in ``records`` (files ``names``) trained or
    validated on any of ``subjects``: an estimator member must never have seen the subject
    it scores."""
    wanted = {str(s) for s in subjects}
    problems = [f"{name} trained on {sorted(wanted & trained_subjects(record))}"
                for name, record in zip(names, records, strict=True)
                if wanted & trained_subjects(record)]
    if problems:
        raise LeakageError(
            "estimator members must never have seen the subjects they score: "
            + "; ".join(problems) + ". A test-fold subject takes its own fold's model only; "
            "MRI-only subjects take every fold model and the full model")


def guard_members(*, subjects: Iterable[str], records: Sequence[Mapping[str, Any]],
                  names: Sequence[str], strict: bool) -> None:
    """:func:`check_valid_members` when ``strict`` (subjects of the cohort); otherwise a
    logged warning (subjects named by files, who may be other people of the same ids)."""
    if strict:
        check_valid_members(subjects=subjects, records=records, names=names)
        return
    for name, record in zip(names, records, strict=True):
        seen = sorted(set(subjects) & trained_subjects(record))
        if seen:
            log.warning("%s trained on subjects named %s: if these are the same people, "
                        "their PET is not a held-out prediction and their uncertainty "
                        "is too low", name, seen)
