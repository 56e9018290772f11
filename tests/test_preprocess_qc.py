"""QC metrics, flags and figure (gla_model.preprocess.qc)."""

import nibabel as nib
import numpy as np
import pytest

from gla_model import resources
from gla_model.preprocess import qc
from gla_model.preprocess.spatial import resample


def test_ncc_is_one_for_affine_related_images_and_minus_one_for_inverted():
    rng = np.random.default_rng(0)
    a = rng.random((10, 10, 10))
    mask = np.ones(a.shape, dtype=bool)
    assert qc.ncc(a=a, b=3 * a + 1, mask=mask) == pytest.approx(1.0)
    assert qc.ncc(a=a, b=-a, mask=mask) == pytest.approx(-1.0)
    assert qc.ncc(a=a, b=np.ones(a.shape), mask=mask) == 0.0


def test_qc_row_flags_only_failed_checks():
    good = {"t1w_template_ncc": 0.8, "brain_volume_ml": 1400.0, "gm_fraction": 0.45}
    assert qc.qc_row(participant_id="01", backend="ants", metrics=good)["flags"] == ""
    bad = {**good, "t1w_template_ncc": 0.2, "pet_clipped_fraction": 0.2}
    row = qc.qc_row(participant_id="01", backend="ants", metrics=bad)
    assert row["flags"] == "low_template_similarity;pet_clipped"
    assert row["participant_id"] == "01" and row["t1w_template_ncc"] == 0.2


def test_qc_figure_writes_a_png(tmp_path):
    volume = np.zeros((16, 16, 16))
    volume[4:12, 4:12, 4:12] = 1.0
    path = tmp_path / "qc.png"
    qc.qc_figure(path=path, participant_id="01", t1w=volume, gm=volume, template=volume,
                 pet=volume * 0.5)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _grid_subject():
    """The MNI template on the 32^3 grid as the T1w, a brain box as mask, halves as GM/WM."""
    shape, affine = resources.model_grid(size=32)
    template = resources.mni_template(resolution_mm=1)
    t1w = resample(image=template, shape=shape, affine=affine, pull=np.eye(4), order=1)
    mask = np.zeros(shape)
    mask[8:24, 8:24, 8:24] = 1.0
    gm = mask * (np.indices(shape)[0] < 16)
    wm = mask - gm
    native = nib.Nifti1Image(mask.astype(np.uint8), np.diag([2.0, 2.0, 2.0, 1.0]))
    return nib.Nifti1Image((t1w / t1w.max()).astype(np.float32), affine), gm, wm, mask, native


def test_quality_control_row_and_figure_of_an_mri_only_subject(tmp_path):
    t1w, gm, wm, mask, native = _grid_subject()
    figure = tmp_path / "qc.png"
    row = qc.quality_control(participant_id="01", backend="ants", t1w=t1w, gm=gm, wm=wm,
                             mask=mask, native_mask=native,
                             template=resources.mni_template(resolution_mm=1), pet=None,
                             pet_metrics=None, figure=figure)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert row["participant_id"] == "01" and row["backend"] == "ants"
    assert row["t1w_template_ncc"] == pytest.approx(1.0, abs=1e-3)  # the template itself
    assert row["brain_volume_ml"] == pytest.approx(16**3 * 8 / 1000)
    assert row["gm_fraction"] == row["wm_fraction"] == 0.5
    assert not {"pet_t1w_ncc", "pet_reference_mean"} & set(row)
    assert row["flags"] == "brain_volume_out_of_range"  # 33 ml


def test_quality_control_adds_the_pet_metrics_of_a_paired_subject(tmp_path):
    t1w, gm, wm, mask, native = _grid_subject()
    pet_metrics = {"pet_reference_mean": 2.5, "pet_reference_voxels": 40,
                   "pet_clipped_fraction": 0.0}
    row = qc.quality_control(participant_id="01", backend="fsl", t1w=t1w, gm=gm, wm=wm,
                             mask=mask, native_mask=native,
                             template=resources.mni_template(resolution_mm=1), pet=gm * 0.8,
                             pet_metrics=pet_metrics, figure=tmp_path / "qc.png")
    assert row["pet_t1w_ncc"] == pytest.approx(1.0)  # the PET follows the GM exactly
    assert {key: row[key] for key in pet_metrics} == pet_metrics
    assert "low_pet_mri_similarity" not in row["flags"]
