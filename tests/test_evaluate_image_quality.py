"""Image-quality metrics in the brain mask, the mean-PET baseline and the CLI."""

from __future__ import annotations

import json
import math
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from gla_model.cli import main
from gla_model.evaluate.image_quality import (
    image_metrics,
    mae_in_mask,
    metric_spec,
    psnr_in_mask,
)
from gla_model.folds import make_folds
from gla_model.layout import preprocessed_path, synthetic_pet_path

SHAPE = (16, 16, 16)


def _volume(rng: np.random.Generator) -> np.ndarray:
    a = gaussian_filter(rng.random(SHAPE), 1.5)
    return (a - a.min()) / (a.max() - a.min())


def _mask() -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[3:13, 2:14, 4:12] = 1
    return mask


def test_psnr_and_mae_follow_their_formulas_inside_the_mask():
    rng = np.random.default_rng(0)
    target, prediction, mask = _volume(rng), _volume(rng), _mask()
    inside = mask > 0
    difference = prediction[inside] - target[inside]
    assert mae_in_mask(prediction=prediction, target=target, mask=mask) == pytest.approx(
        np.abs(difference).mean(), rel=1e-12)
    assert psnr_in_mask(prediction=prediction, target=target, mask=mask) == pytest.approx(
        10 * np.log10(1.0 / np.mean(difference**2)), rel=1e-12)


def test_metrics_ignore_voxels_outside_the_mask_and_ssim_is_the_masked_skimage_map():
    rng = np.random.default_rng(1)
    target, prediction, mask = _volume(rng), _volume(rng), _mask()
    spoiled = prediction.copy()
    spoiled[mask == 0] = 5.0
    base = image_metrics(prediction=prediction, target=target, mask=mask)
    other = image_metrics(prediction=spoiled, target=target, mask=mask)
    assert other["mae"] == base["mae"] and other["psnr"] == base["psnr"]
    _, full = structural_similarity(prediction, target, data_range=1.0, gaussian_weights=True,
                                    sigma=1.5, use_sample_covariance=False, full=True)
    assert base["ssim"] == pytest.approx(full[mask > 0].mean(), abs=1e-6)


def test_identical_images_score_perfectly():
    target = _volume(np.random.default_rng(2))
    metrics = image_metrics(prediction=target, target=target, mask=_mask())
    assert metrics["ssim"] == pytest.approx(1.0, abs=1e-9)
    assert metrics["ms_ssim"] == pytest.approx(1.0, abs=1e-9)
    assert metrics["mae"] == 0.0 and math.isinf(metrics["psnr"])


def test_empty_mask_and_shape_mismatch_are_rejected():
    target = _volume(np.random.default_rng(3))
    with pytest.raises(ValueError, match=r"^the mask is empty$"):
        image_metrics(prediction=target, target=target, mask=np.zeros(SHAPE))
    with pytest.raises(ValueError, match=re.escape(
            f"prediction {target[:8].shape} and target {target.shape} must be equal 3D shapes")):
        image_metrics(prediction=target[:8], target=target, mask=_mask())


def test_metric_spec_names_every_setting():
    spec = metric_spec()
    assert spec["dimensionality"] == "3D"
    assert spec["ssim"]["window_voxels"] == 11 and spec["ssim"]["gaussian_sigma_voxels"] == 1.5
    assert spec["ssim"]["data_range"] == 1.0 and spec["ssim"]["k2"] == 0.03
    assert spec["ms_ssim"]["scales"] == len(spec["ms_ssim"]["weights"]) == 3
    assert spec["psnr"]["MAX"] == 1.0 and "mask" in spec["mae"]["definition"]


def _write(data: np.ndarray, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), path)


@pytest.fixture
def run_tree(tmp_path):
    """Six paired subjects (preprocessed PET + mask), 2 folds, a near-perfect synthesis."""
    rng = np.random.default_rng(4)
    ids = [f"{i:02d}" for i in range(6)]
    folds = make_folds(subjects=pd.DataFrame({"participant_id": ids,
                                              "diagnosis": ["AD", "CN"] * 3}),
                       n_folds=2, val_fraction=0.0, seed=0)
    folds.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    pets = {}
    for pid, fold in zip(folds["participant_id"], folds["fold"], strict=True):
        pets[pid] = _volume(rng)
        _write(pets[pid], preprocessed_path(preproc_dir=tmp_path / "pre", participant_id=pid,
                                       field="pet"))
        _write(_mask(), preprocessed_path(preproc_dir=tmp_path / "pre", participant_id=pid,
                                     field="mask"))
        _write(np.clip(pets[pid] + rng.normal(0, 0.01, SHAPE), 0, 1),
               synthetic_pet_path(synth_dir=tmp_path / "syn" / f"fold-{fold}", participant_id=pid))
    return tmp_path, folds, pets


def test_cli_scores_each_test_subject_once_and_beats_the_mean_pet_baseline(run_tree):
    root, folds, pets = run_tree
    common = ["--folds", str(root / "folds.tsv"), "--preproc-dir", str(root / "pre")]
    assert main(["evaluate", "--variant", "good", "--synth-dir", str(root / "syn"),
                 *common, "--out", str(root / "good.tsv"),
                 "--spec-out", str(root / "spec.json")]) == 0
    assert main(["evaluate", "--variant", "mean_train_pet", *common,
                 "--out", str(root / "base.tsv")]) == 0
    good = pd.read_csv(root / "good.tsv", sep="\t", dtype={"participant_id": str})
    base = pd.read_csv(root / "base.tsv", sep="\t", dtype={"participant_id": str})
    assert list(good.columns) == ["participant_id", "variant", "fold", "ssim", "ms_ssim",
                                  "psnr", "mae"]
    assert sorted(good["participant_id"]) == sorted(folds["participant_id"])
    assert dict(zip(good["participant_id"], good["fold"], strict=True)) == dict(
        zip(folds["participant_id"], folds["fold"], strict=True))
    assert (good["mae"].mean() < base["mae"].mean()) and (good["ssim"].mean()
                                                          > base["ssim"].mean())
    # The baseline for a fold-0 test subject is the mean PET of fold 0's training subjects.
    train = folds.loc[folds["role_fold0"] == "train", "participant_id"]
    subject = folds.loc[folds["fold"] == 0, "participant_id"].iloc[0]
    expected = mae_in_mask(prediction=np.mean([pets[p] for p in train], axis=0),
                           target=pets[subject], mask=_mask())
    got = base.loc[base["participant_id"] == subject, "mae"].item()
    assert got == pytest.approx(expected, rel=1e-5)
    assert json.loads((root / "spec.json").read_text())["psnr"]["MAX"] == 1.0


def test_cli_reports_missing_synthesis_and_bad_flags(run_tree, capsys):
    root, folds, _ = run_tree
    pid, fold = folds["participant_id"].iloc[0], folds["fold"].iloc[0]
    synthetic_pet_path(synth_dir=root / "syn" / f"fold-{fold}", participant_id=pid).unlink()
    common = ["--folds", str(root / "folds.tsv"), "--preproc-dir", str(root / "pre"),
              "--out", str(root / "x.tsv")]
    assert main(["evaluate", "--variant", "good", "--synth-dir", str(root / "syn"),
                 *common]) == 2
    assert f"sub-{pid}_desc-synth_pet" in capsys.readouterr().err
    assert main(["evaluate", "--variant", "mean_train_pet", "--synth-dir",
                 str(root / "syn"), *common]) == 2
    assert main(["evaluate", "--variant", "good", "--out", str(root / "x.tsv")]) == 2
    assert not (root / "x.tsv").exists()


def test_cli_writes_the_spec_alone(tmp_path):
    assert main(["evaluate", "--spec-out", str(tmp_path / "spec.json")]) == 0
    assert json.loads((tmp_path / "spec.json").read_text()) == json.loads(
        json.dumps(metric_spec()))
