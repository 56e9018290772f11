"""The ANTs backend's pure steps (gla_model.preprocess.steps) on phantoms with known answers."""

import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from gla_model import resources, vocabulary
from gla_model.preprocess import steps
from gla_model.preprocess.spatial import resample


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def _head(radius_vox=14, shape=(48, 48, 48)):
    """Sphere of 'brain' (GM shell around WM) in dark CSF/skull, inside a bright scalp shell."""
    distance = np.linalg.norm(np.indices(shape) - (np.array(shape) // 2)[:, None, None, None],
                              axis=0)
    rng = np.random.default_rng(0)
    t1 = np.where(distance < radius_vox - 4, 1.0, 0.6) * (distance < radius_vox)
    t1 = t1 + 0.2 * ((distance >= radius_vox) & (distance < radius_vox + 1))  # CSF
    t1 = t1 + 1.15 * ((distance >= radius_vox + 4) & (distance < radius_vox + 7))  # scalp
    t1 = t1 + 0.06 * ((distance >= radius_vox + 1) & (distance < radius_vox + 4))  # skull
    return (t1 + rng.normal(0, 0.02, shape)).astype(np.float32), distance < radius_vox


def test_rough_brain_drops_scalp_and_skull():
    t1, brain = _head()
    mask = steps.rough_brain(t1=t1, voxel_mm=1.5)
    assert _dice(mask, brain) > 0.95


def test_extract_brain_corrects_a_misplaced_template_mask():
    t1, brain = _head()
    shifted = np.roll(brain, 2, axis=0).astype(np.float32)
    refined = steps.extract_brain(t1=t1, template_mask=shifted, voxel_mm=1.5, band_mm=3.0)
    assert _dice(refined, brain) > _dice(shifted > 0.5, brain)


def test_normalize_t1_maps_brain_percentile_to_one():
    t1, brain = _head()
    out = steps.normalize_t1(t1=t1 * 800, mask=brain)
    assert out.min() >= 0 and out.max() == 1.0
    assert np.all(out[~brain] == 0)
    gm = out[brain & (t1 < 0.8)]
    assert np.median(gm) == pytest.approx(0.6 / 1.05, abs=0.05)  # WM + 2.5 sd noise -> 1


def test_segment_tissues_recovers_classes_with_flat_priors():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, size=(30, 30, 30))
    t1 = np.array([0.2, 0.6, 1.0])[truth] + rng.normal(0, 0.05, truth.shape)
    mask = np.ones(truth.shape, dtype=bool)
    flat = {name: np.full(truth.shape, 1 / 3) for name in steps.TISSUES}
    probs = steps.segment_tissues(t1=t1, mask=mask, priors=flat)
    labels = np.argmax(np.stack([probs[name] for name in steps.TISSUES]), axis=0)
    assert (labels == truth).mean() > 0.98
    total = sum(probs.values())
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


def test_segment_tissues_follows_priors_for_ambiguous_intensity():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, size=(20, 20, 20))
    t1 = np.array([0.2, 0.6, 1.0])[truth] + rng.normal(0, 0.05, truth.shape)
    t1[0, 0, 0] = 0.8  # half-way between GM and WM
    priors = {name: np.full(truth.shape, 1 / 3) for name in steps.TISSUES}
    priors["GM"][0, 0, 0], priors["WM"][0, 0, 0], priors["CSF"][0, 0, 0] = 0.9, 0.05, 0.05
    mask = np.ones(truth.shape, dtype=bool)
    mask[-1] = False
    probs = steps.segment_tissues(t1=t1, mask=mask, priors=priors)
    assert probs["GM"][0, 0, 0] > probs["WM"][0, 0, 0]
    assert all(np.all(p[-1] == 0) for p in probs.values())


def test_register_affine_recovers_a_known_affine():
    template = resources.mni_template(resolution_mm=2)
    truth = np.eye(4)
    truth[:3, :3] = Rotation.from_euler("xyz", [6, -4, 5], degrees=True).as_matrix() * 1.05
    truth[:3, 3] = [4.0, -6.0, 3.0]
    # moving = the template seen through the inverse map, on a shifted grid
    moving_affine = template.affine.copy()
    moving_affine[:3, 3] += 5
    moving = nib.Nifti1Image(resample(image=template, shape=template.shape,
                                      affine=moving_affine, pull=np.linalg.inv(truth)),
                             moving_affine)
    found = steps.register_affine(fixed=template, moving=moving, kind="Affine", spacing_mm=4,
                                  fixed_mask=resources.mni_brain_mask(resolution_mm=2))
    brain = np.argwhere(resources.mni_brain_mask(resolution_mm=2).get_fdata() > 0)[::20]
    points = brain @ template.affine[:3, :3].T + template.affine[:3, 3]
    error = points @ (found - truth)[:3, :3].T + (found - truth)[:3, 3]
    assert np.linalg.norm(error, axis=1).mean() < 1.5


def test_register_affine_rejects_unknown_kind():
    template = resources.mni_template(resolution_mm=2)
    with pytest.raises(ValueError, match="Rigid"):
        steps.register_affine(fixed=template, moving=template, kind="SyN", spacing_mm=4)


def test_priors_in_native_sample_the_mni_priors_through_the_map():
    priors = resources.tissue_priors(resolution_mm=2)
    native = nib.Nifti1Image(np.zeros((20, 20, 20), np.float32), np.diag([3.0, 3, 3, 1]))
    native.affine[:3, 3] = -30
    mask = np.zeros(native.shape, dtype=bool)
    mask[5:15, 5:15, 5:15] = True
    shift = np.eye(4)
    shift[:3, 3] = [2.0, 0, 0]
    out = steps.priors_in_native(priors=priors, native=native, mask=mask, mni_to_native=shift)
    expected = resample(image=priors["GM"], shape=native.shape, affine=native.affine,
                        pull=np.linalg.inv(shift))
    np.testing.assert_allclose(out["GM"][mask], expected[mask], atol=1e-4)
    assert np.all(out["WM"][~mask] == 0)


REPRODUCIBILITY_SCRIPT = """
import nibabel as nib, numpy as np
from gla_model import resources
from gla_model.preprocess import steps
template = resources.mni_template(resolution_mm=2)
shifted = template.affine.copy()
shifted[:3, 3] += [3.0, -2.0, 1.0]
moving = nib.Nifti1Image(template.get_fdata(dtype=np.float32), shifted)
runs = [steps.register_affine(fixed=template, moving=moving, kind="Rigid", spacing_mm=6,
                              seed=7) for _ in range(2)]
print(np.array_equal(runs[0], runs[1]), abs(runs[0][:3, 3] - [3, -2, 1]).max() < 0.5)
"""


def test_register_affine_is_reproducible_with_a_seed_and_one_thread():
    # ITK reads its thread count once per process, as in `gla-model preprocess`
    result = subprocess.run([sys.executable, "-c", REPRODUCIBILITY_SCRIPT], check=True,
                            capture_output=True, text=True,
                            env={**os.environ, "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1"})
    assert result.stdout.split() == ["True", "True"]


def test_rough_skull_strip_keeps_the_brain_and_drops_the_scalp():
    t1, brain = _head()
    image = nib.Nifti1Image(t1, np.diag([1.5, 1.5, 1.5, 1.0]))
    stripped = steps.rough_skull_strip(t1w=image, margin_mm=3.0)
    assert stripped.dtype == np.float32 and stripped.shape == t1.shape
    np.testing.assert_array_equal(stripped[brain], t1[brain])  # brain voxels untouched
    kept = stripped != 0
    scalp = t1 > 1.0
    scalp[brain] = False
    assert not (kept & scalp).any()
    mask = steps.rough_brain(t1=t1, voxel_mm=1.5)
    np.testing.assert_array_equal(kept, ndimage.binary_dilation(mask, iterations=2) & (t1 != 0))


def test_to_model_grid_lands_on_the_model_grid_and_binarizes_masks():
    shape, affine = resources.model_grid(size=32)
    template = resources.mni_brain_mask(resolution_mm=2)
    mask = steps.to_model_grid(image=template, pull=np.eye(4), size=32, binarize=True)
    assert mask.shape == shape and np.allclose(mask.affine, affine)
    assert set(np.unique(np.asarray(mask.dataobj))) == {0.0, 1.0}
    soft = steps.to_model_grid(image=template, pull=np.eye(4), size=32, binarize=False)
    np.testing.assert_array_equal(np.asarray(mask.dataobj),
                                  np.asarray(soft.dataobj) >= 0.5)


def test_steps_tissues_are_the_vocabulary_tissues_in_intensity_order():
    assert sorted(steps.TISSUES) == sorted(vocabulary.TISSUES)
    assert steps.TISSUES == ("CSF", "GM", "WM")
