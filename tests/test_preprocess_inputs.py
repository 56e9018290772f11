"""Input validation of gla_model.preprocess.inputs: every bad input is a clear error."""

import gzip
import logging

import nibabel as nib
import numpy as np
import pytest

from gla_model.errors import InputImageError
from gla_model.preprocess.inputs import load_pet, load_t1w


def _write(path, data, affine=None):
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32),
                             np.eye(4) if affine is None else affine), path)
    return path


def _volume(shape=(12, 14, 10)):
    return np.random.default_rng(0).random(shape).astype(np.float32) + 0.1


def test_not_nifti_names_subject_and_file(tmp_path):
    path = tmp_path / "t1.nii.gz"
    path.write_text("not an image")
    with pytest.raises(InputImageError, match=r"sub-01: T1w image .*t1\.nii\.gz"):
        load_t1w(path=path, participant_id="01")


def test_truncated_gzip(tmp_path):
    path = _write(tmp_path / "t1.nii.gz", _volume())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputImageError, match="sub-01"):
        load_t1w(path=path, participant_id="01")


@pytest.mark.parametrize(("shape", "match"), [((12, 14), "shape"), ((12, 14, 10, 3), "4D")])
def test_t1w_must_be_3d(tmp_path, shape, match):
    path = _write(tmp_path / "t1.nii.gz", np.ones(shape) + np.arange(shape[-1]))
    with pytest.raises(InputImageError, match=match):
        load_t1w(path=path, participant_id="01")


def test_constant_image_is_an_error(tmp_path):
    path = _write(tmp_path / "t1.nii.gz", np.full((12, 14, 10), 5.0))
    with pytest.raises(InputImageError, match="constant"):
        load_t1w(path=path, participant_id="01")


def test_all_nan_is_an_error(tmp_path):
    path = _write(tmp_path / "t1.nii.gz", np.full((12, 14, 10), np.nan))
    with pytest.raises(InputImageError, match="no finite voxel"):
        load_t1w(path=path, participant_id="01")


def test_nan_and_inf_become_zero_and_are_logged(tmp_path, caplog):
    data = _volume()
    data[0, 0, 0], data[1, 1, 1] = np.nan, np.inf
    path = _write(tmp_path / "t1.nii.gz", data)
    with caplog.at_level(logging.WARNING):
        image = load_t1w(path=path, participant_id="01")
    out = image.get_fdata()
    assert np.isfinite(out).all() and out[0, 0, 0] == 0 and out[1, 1, 1] == 0
    assert "2 NaN/Inf voxels" in caplog.text


def test_odd_orientation_is_reoriented_keeping_world_positions(tmp_path):
    data = _volume()
    affine = np.array([[0, 0, -2.0, 10], [-1.0, 0, 0, 5], [0, 1.5, 0, -3], [0, 0, 0, 1]])
    path = _write(tmp_path / "t1.nii.gz", data, affine)
    image = load_t1w(path=path, participant_id="01")
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
    voxel = np.array([3, 4, 5])
    world = affine @ [*voxel, 1]
    new_voxel = np.rint(np.linalg.inv(image.affine) @ world).astype(int)[:3]
    assert image.get_fdata()[tuple(new_voxel)] == pytest.approx(data[tuple(voxel)])


def test_4d_pet_frames_are_averaged_and_logged(tmp_path, caplog):
    frames = np.stack([_volume(), _volume() * 3], axis=-1)
    path = _write(tmp_path / "pet.nii.gz", frames)
    with caplog.at_level(logging.INFO):
        image = load_pet(path=path, participant_id="01")
    np.testing.assert_allclose(image.get_fdata(), frames.mean(axis=-1), rtol=1e-5)
    assert "2 frames" in caplog.text


def test_single_frame_4d_t1w_is_accepted(tmp_path):
    path = _write(tmp_path / "t1.nii.gz", _volume()[..., None])
    assert load_t1w(path=path, participant_id="01").shape == (12, 14, 10)


def test_gzip_file_that_is_not_nifti(tmp_path):
    path = tmp_path / "t1.nii.gz"
    path.write_bytes(gzip.compress(b"hello world" * 100))
    with pytest.raises(InputImageError, match="sub-01"):
        load_t1w(path=path, participant_id="01")
