"""The reference anatomy in MNI space that every synthetic subject is drawn from.

Built once per run from nilearn's MNI152 tissue priors and the AAL atlas: tissue
maps on a reference grid, distance maps for the head shells and the ventricles,
and smooth spatial patterns of Alzheimer's atrophy (MRI) and hypometabolism (PET), whose
regional weights are :mod:`gla_model.demo_cohort.disease`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import ndimage

from gla_model import resources
from gla_model.demo_cohort.disease import (
    ATROPHY_WEIGHTS,
    HYPO_PARIETAL_WEIGHTS,
    HYPO_TEMPORAL_WEIGHTS,
)

#: Outermost extent of the synthetic head beyond the brain mask (mm): meninges, skull, scalp.
HEAD_MAX_MM = 17.0
_MARGIN_MM = HEAD_MAX_MM + 5.0


@dataclass(frozen=True)
class ReferenceAnatomy:
    """Maps on an axis-aligned MNI grid (voxel size ``mm``, corner voxel at ``origin``)."""

    mm: float
    origin: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    depth_mm: np.ndarray
    outside_mm: np.ndarray
    ventricle_mm: np.ndarray
    labels: np.ndarray
    atrophy: np.ndarray
    hypo_temporal: np.ndarray
    hypo_parietal: np.ndarray
    head_points: np.ndarray
    brain_box_mm: np.ndarray  # (2, 3): lowest and highest MNI mm of the brain mask

    @property
    def affine(self) -> np.ndarray:
        affine = np.diag([self.mm, self.mm, self.mm, 1.0])
        affine[:3, 3] = self.origin
        return affine


@cache
def reference_anatomy(*, mm: float) -> ReferenceAnatomy:
    """The reference anatomy at ``mm`` voxels (cached per process)."""
    priors = resources.tissue_priors(resolution_mm=1)
    mask_image = resources.mni_brain_mask(resolution_mm=1)
    mask_1mm = mask_image.get_fdata() > 0
    corners = np.argwhere(mask_1mm)
    low = _world(mask_image.affine, corners.min(axis=0)) - _MARGIN_MM
    high = _world(mask_image.affine, corners.max(axis=0)) + _MARGIN_MM
    shape = tuple(int(n) for n in np.ceil((high - low) / mm).astype(int) + 1)
    origin = low
    grid_mm = [origin[axis] + mm * np.arange(shape[axis]) for axis in range(3)]

    def resample(image, order):
        """``image`` on the reference grid (both grids are axis-aligned: a diagonal map)."""
        scale = np.diag(image.affine)[:3]
        return ndimage.affine_transform(
            np.asarray(image.dataobj, dtype=np.float32), np.diag(mm / scale),
            offset=(origin - image.affine[:3, 3]) / scale, output_shape=shape, order=order,
            cval=0.0, output=np.float32)

    gm, wm = resample(priors["GM"], 1), resample(priors["WM"], 1)
    brain = resample(mask_image, 1)
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    mask = brain >= 0.5
    corners = np.argwhere(mask)
    depth_mm = ndimage.distance_transform_edt(mask).astype(np.float32) * mm
    outside_mm = ndimage.distance_transform_edt(~mask).astype(np.float32) * mm
    ventricles = _ventricle_mask(csf=csf, depth_mm=depth_mm, grid_mm=grid_mm)
    ventricle_mm = ndimage.distance_transform_edt(~ventricles).astype(np.float32) * mm

    atlas = resources.aal_atlas()
    labels = np.rint(resample(atlas.image, 0)).astype(np.int16) * mask
    sigma = 4.0 / mm
    return ReferenceAnatomy(
        mm=float(mm), origin=origin, gm=gm, wm=wm, csf=csf, depth_mm=depth_mm,
        outside_mm=outside_mm, ventricle_mm=ventricle_mm, labels=labels.astype(np.int16),
        atrophy=_pattern(labels, atlas.labels, ATROPHY_WEIGHTS, sigma),
        hypo_temporal=_pattern(labels, atlas.labels, HYPO_TEMPORAL_WEIGHTS, sigma),
        hypo_parietal=_pattern(labels, atlas.labels, HYPO_PARIETAL_WEIGHTS, sigma),
        head_points=_head_points(outside_mm=outside_mm, origin=origin, mm=mm),
        brain_box_mm=np.stack([corners.min(axis=0), corners.max(axis=0)]) * mm + origin,
    )


def _world(affine: np.ndarray, voxel: np.ndarray) -> np.ndarray:
    return affine[:3, :3] @ voxel + affine[:3, 3]


def _ventricle_mask(*, csf: np.ndarray, depth_mm: np.ndarray, grid_mm: list[np.ndarray]
                    ) -> np.ndarray:
    """Deep CSF near the midline: the lateral and third ventricles."""
    x, y, z = np.meshgrid(*grid_mm, indexing="ij", sparse=True)
    central = (np.abs(x) < 32) & (y > -50) & (y < 32) & (z > -10) & (z < 36)
    return (csf > 0.5) & (depth_mm > 12.0) & central


def _pattern(labels: np.ndarray, names: dict[int, str], weights: dict[str, float],
             sigma: float) -> np.ndarray:
    """A smooth map in [0, 1] that weights AAL regions by name prefix (the weights are
    absolute: a region of weight w is w inside, away from its border)."""
    table = np.zeros(max(names) + 1, dtype=np.float32)
    for index, name in names.items():
        table[index] = next((w for prefix, w in weights.items() if name.startswith(prefix)), 0.0)
    pattern = ndimage.gaussian_filter(table[labels], sigma)
    return np.clip(pattern, 0.0, 1.0).astype(np.float32)


def _head_points(*, outside_mm: np.ndarray, origin: np.ndarray, mm: float) -> np.ndarray:
    """A few thousand points (MNI mm) on the outer rim of the head, for field-of-view sizing."""
    rim = np.argwhere((outside_mm > HEAD_MAX_MM - 2 * mm) & (outside_mm <= HEAD_MAX_MM))
    step = max(1, len(rim) // 4000)
    return (rim[::step] * mm + origin).astype(np.float64)
