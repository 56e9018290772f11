"""Files passed between nodes: images as float32 NIfTI (uncompressed) and transforms as
4x4 text matrices (RAS pull maps, see :mod:`gla_model.preprocess.spatial`)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np


def save_image(data: np.ndarray, affine: np.ndarray, *, folder: str, name: str) -> str:
    """``data`` as a float32 NIfTI ``folder/name``; returns its path."""
    path = str(Path(folder) / name)
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), path)
    return path


def same_voxels(*, reference: str, other: str) -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
    """Both images loaded, or ValueError naming them if ``other`` does not have the voxels
    (the shape) of ``reference`` (a header rewrite keeps them; a resampling does not)."""
    first, second = nib.load(reference), nib.load(other)
    if first.shape[:3] != second.shape[:3]:
        raise ValueError(f"{other} (shape {second.shape}) does not have the voxels of "
                         f"{reference} (shape {first.shape})")
    return first, second


def save_matrix(matrix: np.ndarray, *, folder: str, name: str) -> str:
    """A 4x4 matrix as text ``folder/name``; returns its path."""
    path = str(Path(folder) / name)
    np.savetxt(path, matrix)
    return path


def load_image(path: str) -> nib.Nifti1Image:
    """The image at ``path`` with its data read as float32."""
    image = nib.load(path)
    return nib.Nifti1Image(image.get_fdata(dtype=np.float32), image.affine)


def load_mask(path: str) -> np.ndarray:
    """The mask at ``path`` as a boolean array (voxels > 0)."""
    return np.asarray(nib.load(path).dataobj) > 0
