"""Input validation of gla_model.preprocess.inputs: every bad input is a clear error."""

import gzip
import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from gla_model.errors import InputImageError
from gla_model.preprocess.inputs import load_pet, load_t1w
from gla_model.preprocess.interfaces.common import LoadInputs


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


def test_4d_pet_without_sidecar_gets_equal_weights_and_says_so(tmp_path, caplog):
    frames = np.stack([_volume(), _volume() * 3], axis=-1)
    path = _write(tmp_path / "pet.nii.gz", frames)
    with caplog.at_level(logging.INFO):
        image, selection = load_pet(path=path, participant_id="01")
    np.testing.assert_allclose(image.get_fdata(), frames.mean(axis=-1), rtol=1e-5)
    assert "2 frame(s)" in caplog.text and "equal weights" in caplog.text
    assert selection.frames_used == (0, 1) and selection.weights == (1.0, 1.0)


def _dynamic_pet(tmp_path, starts, durations, sidecar=True):
    """A 4D PET whose frame k holds the value k + 1 everywhere but one noisy voxel."""
    data = np.stack([np.full((12, 14, 10), k + 1.0) for k in range(len(starts))], axis=-1)
    data[0, 0, 0, :] = np.arange(len(starts)) * 7.0
    path = _write(tmp_path / "sub-01_trc-FDG_pet.nii.gz", data)
    if sidecar:
        (tmp_path / "sub-01_trc-FDG_pet.json").write_text(json.dumps(
            {"FrameTimesStart": starts, "FrameDuration": durations}))
    return path


def test_frames_are_weighted_by_their_duration(tmp_path, caplog):
    path = _dynamic_pet(tmp_path, starts=[0, 60, 360], durations=[60, 300, 600])
    with caplog.at_level(logging.INFO):
        image, selection = load_pet(path=path, participant_id="01")
    expected = (1 * 60 + 2 * 300 + 3 * 600) / 960
    assert image.get_fdata()[5, 5, 5] == pytest.approx(expected)
    assert selection.weights == (60.0, 300.0, 600.0)
    assert "0 (0-60 s, weight 60)" in caplog.text and "FrameDuration" in caplog.text


@pytest.mark.parametrize(("window", "used"), [
    ((30, 60), (6, 7, 8, 9, 10, 11)),   # six 5-min frames from 30 to 60 min
    ((32, 60), (7, 8, 9, 10, 11)),      # frame 30-35 min overlaps in part: left out
    ((30, 57), (6, 7, 8, 9, 10)),       # frame 55-60 min overlaps in part: left out
    ((0, 90), tuple(range(12))),
])
def test_only_frames_inside_the_window_count(tmp_path, window, used):
    starts = [300 * k for k in range(12)]
    path = _dynamic_pet(tmp_path, starts=starts, durations=[300] * 12)
    image, selection = load_pet(path=path, participant_id="01", window_min=window)
    assert selection.frames_used == used and selection.window_min == window
    assert image.get_fdata()[5, 5, 5] == pytest.approx(np.mean(used) + 1)


def test_window_times_count_from_the_injection(tmp_path):
    path = _dynamic_pet(tmp_path, starts=[600, 900, 1200], durations=[300] * 3)
    sidecar = tmp_path / "sub-01_trc-FDG_pet.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "InjectionStart": 600}))
    _, selection = load_pet(path=path, participant_id="01", window_min=(5, 10))
    assert selection.frames_used == (1,) and selection.starts_s == (0.0, 300.0, 600.0)


def test_a_window_without_frames_is_an_error_with_the_numbers(tmp_path):
    path = _dynamic_pet(tmp_path, starts=[1800, 2100], durations=[300, 300])
    with pytest.raises(InputImageError, match=r"sub-01: PET .*no frame lies inside .*"
                       r"pet_window_min.* \[40\.0, 50\.0\] min = 2400-3000 s.*1800-2100 s, "
                       r"2100-2400 s"):
        load_pet(path=path, participant_id="01", window_min=(40.0, 50.0))


def test_a_window_needs_frame_times(tmp_path):
    path = _dynamic_pet(tmp_path, starts=[0, 60], durations=[60, 60], sidecar=False)
    with pytest.raises(InputImageError, match=r"pet_window_min.*no sidecar .*\.json"):
        load_pet(path=path, participant_id="01", window_min=(0, 10))


@pytest.mark.parametrize(("sidecar", "match"), [
    ({"FrameTimesStart": [0, 60], "FrameDuration": [60, 60, 60]}, "FrameDuration has 3 values"),
    ({"FrameTimesStart": [0], "FrameDuration": [60, 60]}, "FrameTimesStart has 1 values"),
    ({"FrameTimesStart": [0, 60], "FrameDuration": [60, 0]}, "must be positive"),
    ({"FrameTimesStart": [0, 60], "FrameDuration": "60"}, "list of numbers"),
])
def test_an_inconsistent_sidecar_is_an_error_naming_it(tmp_path, sidecar, match):
    path = _dynamic_pet(tmp_path, starts=[0, 60], durations=[60, 60])
    (tmp_path / "sub-01_trc-FDG_pet.json").write_text(json.dumps(sidecar))
    with pytest.raises(InputImageError, match=rf"sub-01: PET sidecar .*pet\.json: .*{match}"):
        load_pet(path=path, participant_id="01")


def test_load_inputs_passes_the_window_and_records_the_frames(tmp_path):
    path = _dynamic_pet(tmp_path, starts=[0, 600, 1200], durations=[600] * 3)
    t1w = _write(tmp_path / "t1.nii.gz", _volume())
    node = tmp_path / "node"
    node.mkdir()
    result = LoadInputs(participant_id="01", t1w=str(t1w), pet=str(path),
                        pet_window_min=[10.0, 30.0]).run(cwd=str(node))
    frames = json.loads(Path(result.outputs.pet_frames).read_text())
    assert frames["frames_used"] == [1, 2] and frames["window_min"] == [10.0, 30.0]
    assert nib.load(result.outputs.pet).get_fdata()[5, 5, 5] == pytest.approx(2.5)


def test_single_frame_4d_t1w_is_accepted(tmp_path):
    path = _write(tmp_path / "t1.nii.gz", _volume()[..., None])
    assert load_t1w(path=path, participant_id="01").shape == (12, 14, 10)


def test_gzip_file_that_is_not_nifti(tmp_path):
    path = tmp_path / "t1.nii.gz"
    path.write_bytes(gzip.compress(b"hello world" * 100))
    with pytest.raises(InputImageError, match="sub-01"):
        load_t1w(path=path, participant_id="01")
