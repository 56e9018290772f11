"""Transforms and resampling of gla_model.preprocess.spatial, checked against ANTs itself."""

import ants
import nibabel as nib
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gla_model.preprocess.spatial import (
    ants_transform_to_matrix,
    from_ants,
    matrix_to_ants_transform,
    resample,
    to_ants,
)


def _affine_map(seed=0):
    rng = np.random.default_rng(seed)
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_euler("xyz", rng.uniform(-10, 10, 3), degrees=True
                                         ).as_matrix() @ np.diag(rng.uniform(0.9, 1.1, 3))
    matrix[:3, 3] = rng.uniform(-5, 5, 3)
    return matrix


def _blob_image(affine):
    grid = np.indices((30, 34, 28)).astype(np.float32)
    center = np.array([15, 17, 14])[:, None, None, None]
    data = np.exp(-((grid - center) ** 2).sum(axis=0) / 60.0) + 0.3 * (grid[0] > 15)
    return nib.Nifti1Image(data.astype(np.float32), affine)


def test_nibabel_ants_round_trip_keeps_geometry():
    affine = np.array([[0, 0, -2.0, 30], [1.5, 0, 0, -20], [0, 1.0, 0, 4], [0, 0, 0, 1]])
    image = _blob_image(affine)
    back = from_ants(to_ants(image))
    np.testing.assert_allclose(back.affine, affine, atol=1e-5)
    np.testing.assert_array_equal(back.get_fdata(), image.get_fdata())


def test_matrix_ants_transform_round_trip():
    matrix = _affine_map()
    np.testing.assert_allclose(ants_transform_to_matrix(matrix_to_ants_transform(matrix)),
                               matrix, atol=1e-6)


def test_resample_with_pull_map_matches_ants_apply_transforms():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-30, -34, -28]
    image = _blob_image(affine)
    matrix = _affine_map(1)
    ours = resample(image=image, shape=image.shape, affine=affine, pull=matrix, order=1)
    reference = to_ants(image)
    theirs = ants.apply_ants_transform_to_image(matrix_to_ants_transform(matrix), reference,
                                                reference, interpolation="linear").numpy()
    inside = (ours > 0) & (theirs > 0)
    assert inside.mean() > 0.5
    np.testing.assert_allclose(ours[inside], theirs[inside], atol=0.02)


def test_resample_composition_is_one_resampling():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    image = _blob_image(affine)
    first, second = _affine_map(2), _affine_map(3)
    once = resample(image=image, shape=image.shape, affine=affine, pull=second @ first)
    direct = resample(image=image, shape=image.shape, affine=affine,
                      pull=np.linalg.inv(np.linalg.inv(first) @ np.linalg.inv(second)))
    np.testing.assert_allclose(once, direct, atol=1e-5)


def test_smoothing_before_downsampling_reduces_aliasing():
    fine = np.diag([1.0, 1.0, 1.0, 1.0])
    stripes = np.zeros((40, 40, 40), dtype=np.float32)
    stripes[::2] = 1.0
    image = nib.Nifti1Image(stripes, fine)
    coarse = np.diag([4.0, 4.0, 4.0, 1.0])
    aliased = resample(image=image, shape=(10, 10, 10), affine=coarse, pull=np.eye(4))
    smooth = resample(image=image, shape=(10, 10, 10), affine=coarse, pull=np.eye(4),
                      smooth_to_mm=4.0)
    assert abs(aliased[2:8, 2:8, 2:8].mean() - 0.5) > 0.3  # every sample hits a stripe
    assert smooth[2:8, 2:8, 2:8].mean() == pytest.approx(0.5, abs=0.05)
