"""ROI features: the one-pass bincount against a slow loop and nilearn; tissue density and
T1w intensity by hand; the CLI."""

from __future__ import annotations

import json
import re
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.maskers import NiftiLabelsMasker

from gla_model.cli import main
from gla_model.errors import InputImageError
from gla_model.features import (
    feature_columns,
    region_means,
    roi_features,
    tissue_classes,
    tissue_labels,
)
from gla_model.layout import preprocessed_path, synthetic_pet_path
from gla_model.resources import AAL_REGION_COUNT
from gla_model.vocabulary import TISSUES

SHAPE = (10, 9, 8)


def _random_case(seed: int, n_regions: int = 7):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_regions + 1, SHAPE)
    labels[labels == 4] = 0  # region 4 absent: its means must be 0.0
    tissue = rng.integers(-1, 3, SHAPE)
    images = rng.random((2, *SHAPE))
    return images, labels, tissue, n_regions


def test_region_means_equal_a_slow_loop_and_empty_regions_are_zero():
    images, labels, tissue, n_regions = _random_case(0)
    got = region_means(images=images, labels=labels, tissue=tissue, n_regions=n_regions)
    assert got.shape == (2, 2, n_regions)
    for i in range(2):
        for t in range(2):
            for region in range(1, n_regions + 1):
                voxels = (labels == region) & (tissue == t)
                expected = images[i][voxels].mean() if voxels.any() else 0.0
                assert got[i, t, region - 1] == pytest.approx(expected, abs=1e-12)
    assert np.all(got[:, :, 3] == 0.0)


def test_region_means_equal_nilearn_labels_masker():
    images, labels, tissue, n_regions = _random_case(1)
    got = region_means(images=images, labels=labels, tissue=tissue, n_regions=n_regions)
    four_d = nib.Nifti1Image(np.moveaxis(images, 0, -1).astype(np.float32), np.eye(4))
    for t in range(2):
        label_image = nib.Nifti1Image(np.where(tissue == t, labels, 0).astype(np.int16),
                                      np.eye(4))
        masker = NiftiLabelsMasker(labels_img=label_image, strategy="mean")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = masker.fit_transform(four_d)
        ids = np.array([masker.region_ids_[i] for i in range(values.shape[1])])
        np.testing.assert_allclose(got[:, t, ids - 1], values, atol=1e-6)


def test_region_means_reject_out_of_range_labels_and_grid_mismatch():
    images, labels, tissue, n_regions = _random_case(2)
    shifted = labels + 10
    with pytest.raises(InputImageError, match=re.escape(
            f"atlas labels must lie in 0..{n_regions}, found {shifted.min()}..{shifted.max()}")):
        region_means(images=images, labels=shifted, tissue=tissue, n_regions=n_regions)
    with pytest.raises(InputImageError, match=re.escape(
            f"images {images[:, :5].shape[1:]}, atlas {labels.shape} and tissue {tissue.shape} "
            "are on different grids")):
        region_means(images=images[:, :5], labels=labels, tissue=tissue, n_regions=n_regions)


def test_tissue_is_the_argmax_inside_the_mask():
    gm = np.array([0.6, 0.3, 0.2, 0.4, 0.0, 0.9])
    wm = np.array([0.3, 0.5, 0.2, 0.4, 0.0, 0.1])
    csf = np.array([0.1, 0.2, 0.6, 0.2, 0.0, 0.0])
    mask = np.array([1, 1, 1, 1, 1, 0])
    got = tissue_labels(probsegs={"GM": gm, "WM": wm, "CSF": csf}, mask=mask)
    # GM, WM, CSF, tie -> GM, no probability -> none, outside mask -> none.
    np.testing.assert_array_equal(got, [0, 1, 2, 0, -1, -1])


def test_tissue_classes_count_mask_voxels_without_tissue_as_other_brain():
    gm = np.array([0.6, 0.3, 0.2, 0.0, 0.9])
    wm = np.array([0.3, 0.5, 0.2, 0.0, 0.1])
    csf = np.array([0.1, 0.2, 0.6, 0.0, 0.0])
    mask = np.array([1, 1, 1, 1, 0])
    got = tissue_classes(probsegs={"GM": gm, "WM": wm, "CSF": csf}, mask=mask)
    np.testing.assert_array_equal(got, [0, 1, 2, 2, -1])


def _tiny_subject():
    """Two regions on 8 voxels; region 3 of 3 is empty."""
    labels = np.array([1, 1, 1, 1, 2, 2, 2, 0])
    mask = np.array([1, 1, 1, 0, 1, 1, 1, 1])
    probsegs = {"GM": np.array([0.7, 0.2, 0.0, 0.9, 0.5, 0.1, 0.3, 0.8]),
                "WM": np.array([0.2, 0.7, 0.0, 0.1, 0.3, 0.8, 0.1, 0.1]),
                "CSF": np.array([0.1, 0.1, 0.0, 0.0, 0.2, 0.1, 0.6, 0.1])}
    t1w = np.array([60.0, 100.0, 5.0, 70.0, 62.0, 98.0, 20.0, 1.0])
    pet = np.array([1.4, 0.5, 0.1, 1.5, 1.2, 0.6, 0.2, 2.0])
    return dict(t1w=t1w, probsegs=probsegs, mask=mask, pet=pet, labels=labels, n_regions=3)


def test_density_features_by_hand():
    subject = _tiny_subject()
    got = roi_features(mri="density", **subject).reshape(2, 2, 3)
    # Region 1: mask voxels 0-2 (voxel 2 has no tissue but is brain; voxel 3 is outside).
    # Region 2: voxels 4-6 (voxel 6 is CSF by argmax and still counts).
    np.testing.assert_allclose(got[0, 0], [(0.7 + 0.2 + 0.0) / 3, (0.5 + 0.1 + 0.3) / 3, 0.0])
    np.testing.assert_allclose(got[0, 1], [(0.2 + 0.7 + 0.0) / 3, (0.3 + 0.8 + 0.1) / 3, 0.0])
    # PET: mean in the region's argmax-GM and argmax-WM voxels only.
    np.testing.assert_allclose(got[1, 0], [1.4, 1.2, 0.0])
    np.testing.assert_allclose(got[1, 1], [0.5, 0.6, 0.0])


def test_intensity_features_by_hand_and_pet_features_do_not_depend_on_the_mri_kind():
    subject = _tiny_subject()
    got = roi_features(mri="intensity", **subject).reshape(2, 2, 3)
    np.testing.assert_allclose(got[0], [[60.0, 62.0, 0.0], [100.0, 98.0, 0.0]])
    density = roi_features(mri="density", **subject).reshape(2, 2, 3)
    np.testing.assert_array_equal(got[1], density[1])
    without_pet = roi_features(mri="density", **{**subject, "pet": None}).reshape(2, 2, 3)
    assert np.isnan(without_pet[1]).all()
    np.testing.assert_array_equal(without_pet[0], density[0])


def test_density_of_a_region_falls_with_gm_loss_and_ignores_intensity():
    subject = _tiny_subject()
    before = roi_features(mri="density", **subject).reshape(2, 2, 3)[0, 0, 0]
    atrophied = {**subject["probsegs"]}
    atrophied["GM"] = subject["probsegs"]["GM"] * np.array([0.5] * 4 + [1.0] * 4)
    atrophied["CSF"] = subject["probsegs"]["CSF"] + subject["probsegs"]["GM"] - atrophied["GM"]
    after = roi_features(mri="density", **{**subject, "probsegs": atrophied,
                                           "t1w": subject["t1w"] * 3}).reshape(2, 2, 3)
    assert after[0, 0, 0] == pytest.approx(before / 2)


def _write(data: np.ndarray, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), np.eye(4)), path)


@pytest.fixture
def tree(tmp_path):
    """Three paired and two MRI-only subjects on a tiny grid; AAL labels 1..116 tiled."""
    rng = np.random.default_rng(3)
    shape = (12, 12, 12)
    atlas = (np.arange(np.prod(shape)) % (AAL_REGION_COUNT + 1)).reshape(shape)
    _write(atlas, tmp_path / "atlas.nii.gz")
    cohort = pd.DataFrame({"participant_id": ["p1", "p2", "p3", "m1", "m2"],
                           "diagnosis": ["AD", "CN", "AD", "CN", "AD"],
                           "group": ["paired"] * 3 + ["mri_only"] * 2,
                           "session": "", "t1w": "t1w.nii.gz",
                           "pet": ["pet.nii.gz"] * 3 + [""] * 2})
    cohort.to_csv(tmp_path / "cohort.tsv", sep="\t", index=False)
    pre = tmp_path / "pre"
    for pid, group in zip(cohort["participant_id"], cohort["group"], strict=True):
        kinds = ["t1w", *TISSUES, *(["pet"] if group == "paired" else [])]
        for kind in kinds:
            _write(rng.random(shape), preprocessed_path(preproc_dir=pre, participant_id=pid,
                                                        field=kind))
        _write(rng.random(shape) > 0.15, preprocessed_path(preproc_dir=pre, participant_id=pid,
                                                           field="mask"))
        model = {"p1": "fold-0", "p2": "fold-1", "p3": "fold-0"}.get(pid, "full")
        _write(rng.random(shape) + 10.0, synthetic_pet_path(synth_dir=tmp_path / "syn" / model,
                                                            participant_id=pid))
    return tmp_path, atlas


def _settings(mri: str = "density") -> str:
    return json.dumps({"features.mri": mri})


def _features(root, *extra: str, mri: str = "density") -> pd.DataFrame:
    out = root / f"features_{mri}.tsv"
    assert main(["features", "--settings", _settings(mri), "--cohort", str(root / "cohort.tsv"),
                 "--preproc-dir", str(root / "pre"), "--atlas", str(root / "atlas.nii.gz"),
                 *extra, "--out", str(out)]) == 0
    return pd.read_csv(out, sep="\t", dtype={"participant_id": str}).set_index("participant_id")


def test_cli_real_source_keeps_mri_only_subjects_with_nan_pet(tree):
    root, atlas = tree
    table = _features(root, "--source", "real_pet")
    assert list(table.columns[4:]) == feature_columns() and len(feature_columns()) == 464
    assert table.loc["p1", "pet_origin"] == "real" and table.loc["m1", "pet_origin"] == "none"
    pet = feature_columns(modalities=("pet",))
    assert table.loc[["m1", "m2"], pet].isna().all().all()
    assert table.loc[["p1", "p2", "p3"], pet].notna().all().all()
    load = lambda kind: nib.load(preprocessed_path(  # noqa: E731
        preproc_dir=root / "pre", participant_id="p2", field=kind)).get_fdata()
    mask = load("mask") > 0
    region = mask & (atlas == 5)
    # Density (the default) by hand: mean GM / WM probability of p2 over AAL region 5.
    assert table.loc["p2", "mri_gm_5"] == pytest.approx(load("GM")[region].mean(), rel=1e-6)
    assert table.loc["p2", "mri_wm_5"] == pytest.approx(load("WM")[region].mean(), rel=1e-6)
    # Intensity by hand: mean T1w of p2 over the GM voxels of AAL region 5.
    intensity = _features(root, "--source", "real_pet", mri="intensity")
    gm = np.argmax(np.stack([load(t) for t in TISSUES]), axis=0) == 0
    expected = load("t1w")[gm & region].mean()
    assert intensity.loc["p2", "mri_gm_5"] == pytest.approx(expected, rel=1e-6)
    assert list(intensity.columns[4:]) == feature_columns()
    # PET features and the identity columns do not depend on the MRI kind.
    pd.testing.assert_frame_equal(intensity[[*table.columns[:4], *pet]],
                                  table[[*table.columns[:4], *pet]])
    mri = feature_columns(modalities=("mri",))
    assert not np.allclose(intensity[mri].to_numpy(), table[mri].to_numpy())


def test_cli_variant_source_uses_test_fold_and_full_model_images(tree):
    root, _ = tree
    real = _features(root, "--source", "real_pet")
    synth = _features(root, "--source", "v1", "--synth-dir", str(root / "syn"))
    assert synth["pet_origin"].to_dict() == {"p1": "fold-0", "p2": "fold-1", "p3": "fold-0",
                                             "m1": "full", "m2": "full"}
    assert (synth["source"] == "v1").all()
    # Synthetic PET was offset by +10: every non-empty PET feature sees it; MRI is unchanged.
    pet = synth[feature_columns(modalities=("pet",))].to_numpy()
    assert np.all((pet == 0.0) | (pet > 9.0)) and np.count_nonzero(pet > 9.0) > 0.9 * pet.size
    mri = feature_columns(modalities=("mri",))
    pd.testing.assert_frame_equal(synth.loc[real.index, mri], real[mri])


def test_cli_rejects_ambiguous_or_missing_synthesis(tree, capsys):
    root, _ = tree
    synthetic_pet_path(synth_dir=root / "syn" / "fold-1", participant_id="p1").parent.mkdir(
        parents=True, exist_ok=True)
    _write(np.ones((12, 12, 12)),
           synthetic_pet_path(synth_dir=root / "syn" / "fold-1", participant_id="p1"))
    args = ["features", "--settings", _settings(), "--cohort", str(root / "cohort.tsv"),
            "--preproc-dir",
            str(root / "pre"), "--atlas", str(root / "atlas.nii.gz"), "--out",
            str(root / "f.tsv")]
    assert main([*args, "--source", "v1", "--synth-dir", str(root / "syn")]) == 2
    assert "sub-p1" in capsys.readouterr().err
    assert main([*args, "--source", "real_pet", "--synth-dir", str(root / "syn")]) == 2
    assert main([*args, "--source", "v1"]) == 2
    assert not (root / "f.tsv").exists()


def test_cli_checks_the_mri_feature_setting(tree, capsys):
    root, _ = tree
    args = ["--cohort", str(root / "cohort.tsv"), "--preproc-dir", str(root / "pre"),
            "--atlas", str(root / "atlas.nii.gz"), "--source", "real_pet", "--out",
            str(root / "f.tsv")]
    assert main(["features", "--settings", _settings("volume"), *args]) == 2
    assert "features.mri" in capsys.readouterr().err
    assert main(["features", "--settings", json.dumps({"cv.seed": 0}), *args]) == 2
    assert "lacks 'features.mri'" in capsys.readouterr().err
    assert not (root / "f.tsv").exists()
