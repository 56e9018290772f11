"""PET SUVR and fixed scaling (gla_model.preprocess.pet)."""

import nibabel as nib
import numpy as np
import pytest

from gla_model import resources
from gla_model.errors import GlaModelError
from gla_model.preprocess import pet
from gla_model.preprocess.atlas import resample_atlas


@pytest.fixture(scope="module")
def grid():
    atlas = resources.aal_atlas()
    image = resample_atlas(size=32, atlas=atlas)
    labels = np.asarray(image.dataobj)
    return image.affine, labels, atlas.labels


def test_cerebellum_gm_is_cerebellar_labels_within_gm(grid):
    affine, labels, names = grid
    gm = np.zeros(labels.shape)
    gm[:, :, : labels.shape[2] // 3] = 1.0  # GM only in the lower third
    brain = labels > 0
    mask = pet.reference_mask(region="cerebellum_gm", affine=affine, atlas=labels, labels=names,
                              gm=gm, brain_mask=brain)
    assert mask.sum() > 50
    assert all(names[int(v)].startswith(("Cerebelum_", "Vermis_")) for v in np.unique(labels[mask]))
    assert not mask[:, :, labels.shape[2] // 3:].any()


def test_pons_is_a_small_sphere_at_the_documented_centre(grid):
    affine, labels, names = grid
    brain = np.ones(labels.shape, dtype=bool)
    mask = pet.reference_mask(region="pons", affine=affine, atlas=labels, labels=names,
                              gm=np.zeros(labels.shape), brain_mask=brain)
    centre = np.argwhere(mask).mean(axis=0) @ affine[:3, :3].T + affine[:3, 3]
    np.testing.assert_allclose(centre, pet.PONS_CENTER_MM, atol=3.0)
    voxel_ml = abs(np.linalg.det(affine[:3, :3])) / 1000
    assert mask.sum() * voxel_ml == pytest.approx(4 / 3 * np.pi * 0.8**3, rel=0.5)


def test_whole_brain_is_the_brain_mask(grid):
    affine, labels, names = grid
    brain = labels > 0
    mask = pet.reference_mask(region="whole_brain", affine=affine, atlas=labels, labels=names,
                              gm=np.zeros(labels.shape), brain_mask=brain)
    np.testing.assert_array_equal(mask, brain)


def test_unknown_region_is_rejected(grid):
    affine, labels, names = grid
    with pytest.raises(ValueError, match="cerebellum_gm"):
        pet.reference_mask(region="thalamus", affine=affine, atlas=labels, labels=names,
                           gm=labels * 0, brain_mask=labels > 0)


def test_suvr_divides_by_reference_mean():
    image = np.full((8, 8, 8), 4.0, dtype=np.float32)
    image[:2] = 2.0
    reference = np.zeros(image.shape, dtype=bool)
    reference[:2] = True
    ratio, mean = pet.suvr(pet=image, reference=reference)
    assert mean == 2.0
    assert ratio[5, 5, 5] == 2.0


def test_suvr_rejects_empty_or_non_positive_reference():
    image = np.ones((8, 8, 8), dtype=np.float32)
    with pytest.raises(GlaModelError, match="reference region has 0 voxels"):
        pet.suvr(pet=image, reference=np.zeros(image.shape, dtype=bool))
    with pytest.raises(GlaModelError, match="not positive"):
        pet.suvr(pet=-image, reference=np.ones(image.shape, dtype=bool))


def test_scale_uses_the_fixed_factor_not_the_volume_maximum():
    ratio = np.array([0.5, 1.25, 2.5, 5.0]).reshape(1, 1, 4).astype(np.float32)
    brain = np.ones(ratio.shape, dtype=bool)
    scaled, clipped = pet.scale_suvr(suvr_image=ratio, brain_mask=brain)
    np.testing.assert_allclose(scaled.ravel(), [0.2, 0.5, 1.0, 1.0])
    assert clipped == 0.25
    half, _ = pet.scale_suvr(suvr_image=ratio / 2, brain_mask=brain)
    np.testing.assert_allclose(half.ravel(), [0.1, 0.25, 0.5, 1.0])  # not re-stretched


def _cerebellar(labels, names):
    return np.isin(labels, [i for i, n in names.items() if n.startswith(("Cerebelum_", "Vermis_"))])


def test_normalize_pet_divides_by_the_cerebellar_gm_mean_and_scales(grid):
    affine, labels, names = grid
    cerebellum, brain = _cerebellar(labels, names), labels > 0
    image = np.where(brain, 4.0, 0.0).astype(np.float32)
    image[cerebellum] = 2.0
    scaled, metrics = pet.normalize_pet(
        pet=nib.Nifti1Image(image, affine), gm=brain.astype(float), brain_mask=brain,
        region="cerebellum_gm", atlas=resources.aal_atlas())
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[cerebellum], 2.0 / 2.0 / pet.SUVR_SCALE)
    np.testing.assert_allclose(scaled[brain & ~cerebellum], 4.0 / 2.0 / pet.SUVR_SCALE)
    assert np.all(scaled[~brain] == 0)
    assert metrics == {"pet_reference_mean": 2.0, "pet_reference_voxels": int(cerebellum.sum()),
                       "pet_clipped_fraction": 0.0}


def test_normalize_pet_reports_the_clipped_fraction(grid):
    affine, labels, _ = grid
    brain = labels > 0
    image = np.where(brain, 1.0, 0.0).astype(np.float32)
    hot = brain & (np.indices(labels.shape)[0] < 10)
    image[hot] = 20.0  # a small hot region: its SUVR is above SUVR_SCALE
    scaled, metrics = pet.normalize_pet(pet=nib.Nifti1Image(image, affine),
                                        gm=np.zeros(labels.shape), brain_mask=brain,
                                        region="whole_brain", atlas=resources.aal_atlas())
    mean = float(image[brain].mean())
    assert metrics["pet_reference_mean"] == pytest.approx(mean)
    assert 0 < metrics["pet_clipped_fraction"] == pytest.approx(hot.sum() / brain.sum())
    assert np.all(scaled[hot] == 1.0) and scaled.max() == 1.0


def test_normalize_pet_rejects_an_unknown_region(grid):
    affine, labels, _ = grid
    with pytest.raises(ValueError, match="reference region must be one of"):
        pet.normalize_pet(pet=nib.Nifti1Image(np.ones(labels.shape, np.float32), affine),
                          gm=np.ones(labels.shape), brain_mask=labels > 0, region="thalamus",
                          atlas=resources.aal_atlas())
