"""PET intensity normalization on the model grid: SUVR and a fixed scale to [0, 1].

Reference regions (``--reference-region``):

* ``cerebellum_gm`` (default): AAL cerebellar labels (``Cerebelum_*`` and ``Vermis_*``)
  intersected with the subject's GM probability >= 0.5.
* ``pons``: not an AAL region; a sphere of radius 8 mm centred at MNI (0, -25, -32) mm,
  inside the brain mask.
* ``whole_brain``: the brain mask.

SUVR = PET / mean(PET in the reference). The network input is SUVR / 2.5 clipped to
[0, 1] (a fixed factor, never a per-volume maximum); the clipped fraction is reported.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

from gla_model import resources
from gla_model.errors import GlaModelError
from gla_model.preprocess.atlas import resample_atlas

REFERENCE_REGIONS = ("cerebellum_gm", "pons", "whole_brain")
SUVR_SCALE = 2.5
PONS_CENTER_MM = (0.0, -25.0, -32.0)
PONS_RADIUS_MM = 8.0
GM_THRESHOLD = 0.5
MIN_REFERENCE_VOXELS = 5
CEREBELLUM_PREFIXES = ("Cerebelum_", "Vermis_")


def reference_mask(*, region: str, affine: np.ndarray, atlas: np.ndarray,
                   labels: dict[int, str], gm: np.ndarray, brain_mask: np.ndarray
                   ) -> np.ndarray:
    """The reference region on the grid (boolean); see the module docstring."""
    if region == "cerebellum_gm":
        cerebellar = [index for index, name in labels.items()
                      if name.startswith(CEREBELLUM_PREFIXES)]
        mask = np.isin(atlas, cerebellar) & (gm >= GM_THRESHOLD)
    elif region == "pons":
        ijk = np.indices(brain_mask.shape).reshape(3, -1).T
        world = ijk @ affine[:3, :3].T + affine[:3, 3]
        distance = np.linalg.norm(world - np.asarray(PONS_CENTER_MM), axis=1)
        mask = (distance <= PONS_RADIUS_MM).reshape(brain_mask.shape)
    elif region == "whole_brain":
        mask = np.ones(brain_mask.shape, dtype=bool)
    else:
        raise ValueError(f"reference region must be one of {REFERENCE_REGIONS}, got {region!r}")
    return mask & (brain_mask > 0)


def suvr(*, pet: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, float]:
    """PET divided by its mean in ``reference``; returns (SUVR, reference mean)."""
    count = int(reference.sum())
    if count < MIN_REFERENCE_VOXELS:
        raise GlaModelError(
            f"the PET reference region has {count} voxels on the grid (< {MIN_REFERENCE_VOXELS}); "
            "use a finer preprocessing.grid or another preprocessing.reference_region.")
    mean = float(pet[reference].mean())
    if mean <= 0:
        raise GlaModelError(
            f"the PET mean in the reference region is {mean:.3g} (not positive); the PET does "
            "not overlap the brain after registration; check the PET image and its header.")
    return (pet / mean).astype(np.float32), mean


def scale_suvr(*, suvr_image: np.ndarray, brain_mask: np.ndarray) -> tuple[np.ndarray, float]:
    """SUVR / SUVR_SCALE clipped to [0, 1], 0 outside the brain; returns (image, clipped fraction
    of brain voxels)."""
    scaled = suvr_image / SUVR_SCALE
    brain = brain_mask > 0
    clipped = float(((scaled < 0) | (scaled > 1))[brain].mean()) if brain.any() else 0.0
    return (np.clip(scaled, 0.0, 1.0) * brain).astype(np.float32), clipped


def normalize_pet(*, pet: nib.Nifti1Image, gm: np.ndarray, brain_mask: np.ndarray,
                  region: str, atlas: resources.AalAtlas
                  ) -> tuple[np.ndarray, dict[str, float]]:
    """The network's PET: SUVR in the reference ``region`` / SUVR_SCALE, clipped to [0, 1].

    Args:
        pet: PET on the model grid, in its input units.
        gm, brain_mask: GM probability and brain mask on the same grid.
        region: one of REFERENCE_REGIONS.
        atlas: the AAL atlas (in MNI space; put on the grid here).
    Returns:
        The scaled PET (float32) and its metrics: ``pet_reference_mean`` (input units),
        ``pet_reference_voxels`` and ``pet_clipped_fraction`` (of brain voxels).
    """
    labels = resample_atlas(size=pet.shape[0], atlas=atlas)
    reference = reference_mask(region=region, affine=pet.affine,
                               atlas=np.asarray(labels.dataobj), labels=atlas.labels, gm=gm,
                               brain_mask=brain_mask)
    ratio, mean = suvr(pet=pet.get_fdata(dtype=np.float32), reference=reference)
    scaled, clipped = scale_suvr(suvr_image=ratio, brain_mask=brain_mask)
    return scaled, {"pet_reference_mean": mean, "pet_reference_voxels": int(reference.sum()),
                    "pet_clipped_fraction": clipped}
