"""The T1w-to-MNI transform that preprocessing writes (``xfm``), and resampling with it.

Convention: the file ``sub-<id>_from-MNI152grid_to-T1w_mode-image_xfm.txt`` holds one 4x4
RAS+ world-to-world affine in millimetres (whitespace-separated text, ``numpy.loadtxt``
reads it) that maps a point of MNI space (the model grid's world coordinates) to the
matching point of the subject's native T1w world space (the world coordinates of the BIDS
T1w file, whatever its voxel order). It is the direction needed to bring a model-grid image
back to native space: a native voxel's world point, mapped through ``inv(xfm)``, lands
where that voxel is in the grid image (:func:`resample_to_native`).

Light on purpose (numpy, scipy, nibabel): every stage's environment can import it.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from gla_model.niftiio import write_text_atomic


def read_xfm(*, path: Path | str) -> np.ndarray:
    """The 4x4 MNI-to-native-T1w affine of an ``xfm`` file, or ValueError naming the file."""
    try:
        matrix = np.loadtxt(path, dtype=float, ndmin=2)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable transform ({error}); rerun the "
                         "subject's preprocessing.") from error
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)) \
            or not np.allclose(matrix[3], [0, 0, 0, 1]) \
            or abs(np.linalg.det(matrix[:3, :3])) < 1e-6:
        raise ValueError(f"{path} does not hold an invertible 4x4 affine with last row "
                         f"0 0 0 1 (got shape {matrix.shape}); rerun the subject's "
                         "preprocessing.")
    return matrix


def write_xfm(matrix: np.ndarray, *, path: Path | str) -> Path:
    """Write a 4x4 affine as text (18 significant digits), atomically; returns ``path``."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (4, 4):
        raise ValueError(f"a transform is a 4x4 matrix, got shape {matrix.shape}")
    rows = "\n".join(" ".join(f"{value:.18e}" for value in row) for row in matrix)
    return write_text_atomic(rows + "\n", path)


def resample_to_native(*, image: nib.Nifti1Image, reference: nib.Nifti1Image,
                       xfm: np.ndarray, order: int = 1) -> nib.Nifti1Image:
    """A model-grid ``image`` resampled onto the native ``reference`` image's voxels.

    Args:
        image: a 3D image on the model grid (MNI world coordinates).
        reference: the native T1w (or any image in its world space); only its shape
            (first three axes) and affine are used.
        xfm: the subject's MNI -> native T1w map (:func:`read_xfm`).
        order: 1 trilinear (default), 0 nearest neighbour (label images).
    Returns:
        float32 image with ``reference``'s shape and affine; 0 outside ``image``'s box.
    """
    data = np.asarray(image.dataobj, dtype=np.float32)
    if data.ndim != 3:
        raise ValueError(f"resample_to_native needs a 3D image, got shape {data.shape}")
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (trilinear), got {order}")
    shape = tuple(int(n) for n in reference.shape[:3])
    voxel_map = (np.linalg.inv(image.affine) @ np.linalg.inv(np.asarray(xfm, dtype=float))
                 @ reference.affine)
    out = ndimage.affine_transform(data, voxel_map[:3, :3], offset=voxel_map[:3, 3],
                                   output_shape=shape, order=order, mode="constant", cval=0.0)
    result = nib.Nifti1Image(out.astype(np.float32), reference.affine)
    result.header.set_xyzt_units("mm")
    return result
