"""Affine point maps, ANTs <-> nibabel conversion and one-shot resampling.

Convention: a transform is a 4x4 matrix in RAS+ world millimetres that maps a point
of the *target* space to the matching point of the *source* space (a "pull" map),
so ``mni_to_native`` pulls native data onto MNI. Composing transforms is a matrix
product, so every output is made by one resampling of the composed map.
"""

from __future__ import annotations

import ants
import nibabel as nib
import numpy as np
from scipy import ndimage

_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def to_ants(image: nib.Nifti1Image) -> ants.ANTsImage:
    """An ANTsImage with ``image``'s data and geometry (ANTs works in LPS)."""
    affine = image.affine
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = _LPS[:3, :3] @ (affine[:3, :3] / spacing)
    origin = _LPS[:3, :3] @ affine[:3, 3]
    return ants.from_numpy(np.asarray(image.dataobj, dtype=np.float32), origin=tuple(origin),
                           spacing=tuple(spacing), direction=direction)


def from_ants(image: ants.ANTsImage) -> nib.Nifti1Image:
    """A float32 NIfTI image with ``image``'s data and geometry."""
    affine = np.eye(4)
    affine[:3, :3] = _LPS[:3, :3] @ np.asarray(image.direction) * np.asarray(image.spacing)
    affine[:3, 3] = _LPS[:3, :3] @ np.asarray(image.origin)
    return nib.Nifti1Image(image.numpy().astype(np.float32), affine)


def ants_transform_to_matrix(transform: ants.ANTsTransform) -> np.ndarray:
    """The RAS pull map (4x4) of an ANTs affine transform (which maps fixed to moving)."""
    parameters = np.asarray(transform.parameters, dtype=float)
    center = np.asarray(transform.fixed_parameters, dtype=float)
    linear = parameters[:9].reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = linear
    lps[:3, 3] = parameters[9:12] + center - linear @ center
    return _LPS @ lps @ _LPS


def matrix_to_ants_transform(matrix: np.ndarray) -> ants.ANTsTransform:
    """The ANTs affine transform of a RAS pull map (inverse of ants_transform_to_matrix)."""
    lps = _LPS @ np.asarray(matrix, dtype=float) @ _LPS
    return ants.create_ants_transform(transform_type="AffineTransform", dimension=3,
                                      matrix=lps[:3, :3], translation=lps[:3, 3])


def resample(*, image: nib.Nifti1Image, shape: tuple[int, int, int], affine: np.ndarray,
             pull: np.ndarray, order: int = 1, smooth_to_mm: float | None = None
             ) -> np.ndarray:
    """Sample ``image`` on the target grid (``shape``, ``affine``) through ``pull``.

    Args:
        pull: RAS map from target world points to ``image`` world points.
        order: spline order (0 nearest, 1 linear).
        smooth_to_mm: when the target voxels are coarser than the source's, Gaussian
            pre-filter the source to this resolution (FWHM) first, against aliasing.
    """
    data = np.asarray(image.dataobj, dtype=np.float32)
    if smooth_to_mm is not None:
        source_mm = np.linalg.norm(image.affine[:3, :3], axis=0)
        fwhm_vox = np.sqrt(np.clip(smooth_to_mm**2 - source_mm**2, 0, None)) / source_mm
        if fwhm_vox.max() > 0:
            data = ndimage.gaussian_filter(data, fwhm_vox / 2.3548)
    voxel_map = np.linalg.inv(image.affine) @ np.asarray(pull, dtype=float) @ affine
    return ndimage.affine_transform(data, voxel_map[:3, :3], offset=voxel_map[:3, 3],
                                    output_shape=tuple(shape), order=order, mode="constant",
                                    cval=0.0).astype(np.float32)


def voxel_size_mm(affine: np.ndarray) -> float:
    """The largest voxel edge (mm) of an affine."""
    return float(np.linalg.norm(affine[:3, :3], axis=0).max())

