"""Reading and validating a subject's input images (every error names subject and file)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from gla_model.errors import InputImageError
from gla_model.niftiio import load_image
from gla_model.preprocess.frames import (
    FrameSelection,
    average_frames,
    read_frame_timing,
    select_frames,
)

LOGGER = logging.getLogger(__name__)


def load_t1w(*, path: Path | str, participant_id: str) -> nib.Nifti1Image:
    """The T1w image as float32 in RAS+ orientation, or InputImageError.

    A 4D image with one volume is accepted as 3D; more volumes are an error.
    Non-finite voxels are set to 0 (logged).
    """
    image = _load(path, participant_id, "T1w")
    data = _squeeze_to_3d(np.asarray(image.dataobj), path, participant_id, "T1w")
    return _finish(data, image, path, participant_id, "T1w")


def load_pet(*, path: Path | str, participant_id: str,
             window_min: Sequence[float] | None = None
             ) -> tuple[nib.Nifti1Image, FrameSelection]:
    """The PET image as float32 in RAS+, and how its frames were averaged.

    Frames are averaged with the weights of :func:`gla_model.preprocess.frames.select_frames`
    (by ``FrameDuration`` from the JSON sidecar, or equal without one; only frames inside
    ``window_min`` = [start, end] minutes after injection when given); logged.
    """
    image = _load(path, participant_id, "PET")
    data = np.asarray(image.dataobj)
    n_frames = data.shape[3] if data.ndim == 4 else 1
    try:
        starts, durations = read_frame_timing(pet=path, n_frames=n_frames)
        selection = select_frames(n_frames=n_frames, starts_s=starts, durations_s=durations,
                                  window_min=window_min, pet=path)
    except InputImageError as error:
        raise InputImageError(f"sub-{participant_id}: {error}") from error
    LOGGER.info("sub-%s: PET %s has %d frame(s); %s", participant_id, path, n_frames,
                selection.describe())
    if data.ndim == 4:
        data = average_frames(data=data, selection=selection)
    data = _squeeze_to_3d(data, path, participant_id, "PET")
    return _finish(data, image, path, participant_id, "PET"), selection


def _load(path: Path | str, participant_id: str, role: str) -> nib.Nifti1Image:
    try:
        return load_image(path, role=role)
    except InputImageError as error:
        raise InputImageError(f"sub-{participant_id}: {error}") from error


def _squeeze_to_3d(data: np.ndarray, path, participant_id: str, role: str) -> np.ndarray:
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim == 4:
        raise InputImageError(
            f"sub-{participant_id}: {role} image {path} is 4D with {data.shape[3]} volumes; "
            "give a single 3D T1w volume.")
    if data.ndim != 3 or min(data.shape) < 8:
        raise InputImageError(
            f"sub-{participant_id}: {role} image {path} has shape {data.shape}; "
            "a 3D volume of at least 8 voxels per axis is needed.")
    return data


def _finish(data: np.ndarray, image: nib.Nifti1Image, path, participant_id: str,
            role: str) -> nib.Nifti1Image:
    data = np.asarray(data, dtype=np.float32)
    finite = np.isfinite(data)
    if not finite.all():
        bad = int((~finite).sum())
        if bad == data.size:
            raise InputImageError(
                f"sub-{participant_id}: {role} image {path} has no finite voxel; re-export it.")
        LOGGER.warning("sub-%s: %s image %s has %d NaN/Inf voxels; setting them to 0",
                       participant_id, role, path, bad)
        data = np.where(finite, data, 0.0).astype(np.float32)
    if float(data.max()) - float(data.min()) <= 1e-6 * max(1.0, abs(float(data.max()))):
        raise InputImageError(
            f"sub-{participant_id}: {role} image {path} is constant ({float(data.max())}); "
            "it holds no image; check the file.")
    affine = image.affine
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputImageError(
            f"sub-{participant_id}: {role} image {path} has an invalid voxel-to-world affine; "
            "fix its header (qform/sform).")
    canonical = nib.as_closest_canonical(nib.Nifti1Image(data, affine))
    if nib.aff2axcodes(affine) != ("R", "A", "S"):
        LOGGER.info("sub-%s: %s orientation %s reoriented to RAS", participant_id, role,
                    "".join(nib.aff2axcodes(affine)))
    return nib.Nifti1Image(np.asarray(canonical.dataobj, dtype=np.float32), canonical.affine)
