"""The built-in synthetic cohort: plan, files, geometry, determinism and disease signal
(CN, MCI and AD)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gla_model import resources
from gla_model.cli import main
from gla_model.cohort.discover import discover_cohort
from gla_model.demo_cohort.disease import MCI_PROGRESS_RANGE, SEVERITY_RANGE, TARGETS
from gla_model.demo_cohort.measure import cohens_d, effect_table, truth_values
from gla_model.demo_cohort.plan import mci_count, plan_demo_cohort
from gla_model.demo_cohort.write import DIAGNOSIS_LEVELS, SIMULATOR, write_demo_cohort

COARSE = dict(t1_voxel_mm=3.0, pet_voxel_mm=4.0)
#: 2 CN, 2 MCI and 2 AD paired; 1 CN and 1 MCI MRI-only.
TINY = dict(n_paired=6, n_mri_only=2, seed=7, mci_fraction=0.34)
LABELS = {"CN": ["CN"], "MCI": ["MCI"], "AD": ["AD"]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    write_demo_cohort(out_dir=out, **TINY, **COARSE)
    return out


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_plan_is_balanced_and_names_bids_files():
    plan = plan_demo_cohort(n_paired=40, n_mri_only=12, seed=0)
    assert [s.participant_id for s in plan] == [f"demo{i:03d}" for i in range(1, 53)]
    for group, count in (("paired", 40), ("mri_only", 12)):
        members = [s for s in plan if s.group == group]
        assert len(members) == count
        assert sum(s.diagnosis == "AD" for s in members) == count // 2
    paired = [s for s in plan if s.group == "paired"]
    assert all(s.pet == f"sub-{s.participant_id}/pet/sub-{s.participant_id}_trc-FDG_pet.nii.gz"
               for s in paired)
    assert all(s.pet is None and s.pet_frames == 0 for s in plan if s.group == "mri_only")
    frames = [s.pet_frames for s in paired]
    assert sum(f > 1 for f in frames) == len(paired) // 3
    assert all(f == 1 or 3 <= f <= 6 for f in frames)
    assert plan == plan_demo_cohort(n_paired=40, n_mri_only=12, seed=0)
    other = plan_demo_cohort(n_paired=40, n_mri_only=12, seed=1)
    assert [s.diagnosis for s in other] != [s.diagnosis for s in plan]


@pytest.mark.parametrize(("n_paired", "n_mri_only", "fraction", "paired", "mri_only"), [
    # (CN, MCI, AD) per group: MCI is the rounded share, CN gets the odd one of the rest
    (40, 10, 0.3, (14, 12, 14), (4, 3, 3)),  # config.yaml
    (12, 3, 0.34, (4, 4, 4), (1, 1, 1)),  # workflow/presets/tiny.yaml
    (10, 2, 0.25, (4, 3, 3), (1, 1, 0)),  # 2.5 and 0.5 round up
    (7, 1, 0.0, (4, 0, 3), (1, 0, 0)),
])
def test_plan_makes_the_mci_share_of_each_group(n_paired, n_mri_only, fraction, paired,
                                                mri_only):
    plan = plan_demo_cohort(n_paired=n_paired, n_mri_only=n_mri_only, seed=3,
                            mci_fraction=fraction)
    for group, expected in (("paired", paired), ("mri_only", mri_only)):
        diagnoses = [s.diagnosis for s in plan if s.group == group]
        assert tuple(diagnoses.count(d) for d in ("CN", "MCI", "AD")) == expected, group
        assert expected[1] == mci_count(count=len(diagnoses), mci_fraction=fraction)
    assert plan == plan_demo_cohort(n_paired=n_paired, n_mri_only=n_mri_only, seed=3,
                                    mci_fraction=fraction)


def test_mci_are_shuffled_among_the_others_and_no_mci_keeps_the_cn_ad_plan():
    with_mci = plan_demo_cohort(n_paired=40, n_mri_only=0, seed=0, mci_fraction=0.3)
    positions = [i for i, s in enumerate(with_mci) if s.diagnosis == "MCI"]
    assert positions != list(range(28, 40)) and positions != list(range(12))
    assert plan_demo_cohort(n_paired=40, n_mri_only=12, seed=0) == plan_demo_cohort(
        n_paired=40, n_mri_only=12, seed=0, mci_fraction=0.0)


@pytest.mark.parametrize(("arguments", "message"), [
    (dict(n_paired=0, n_mri_only=0), "need a non-empty cohort, got n_paired=0, n_mri_only=0"),
    (dict(n_paired=4, n_mri_only=0, mci_fraction=1.0), "mci_fraction must be in [0, 1), got 1.0"),
    (dict(n_paired=4, n_mri_only=0, mci_fraction=-0.1), "mci_fraction must be in [0, 1)"),
])
def test_plan_rejects_an_empty_cohort_and_a_bad_mci_fraction(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        plan_demo_cohort(seed=0, **arguments)


def test_files_match_the_plan_and_bids_discovery(tiny):
    plan = plan_demo_cohort(**TINY)
    participants = pd.read_csv(tiny / "participants.tsv", sep="\t")
    assert list(participants["participant_id"]) == [f"sub-{s.participant_id}" for s in plan]
    assert list(participants["diagnosis"]) == [s.diagnosis for s in plan]
    assert set(participants["diagnosis"]) == {"CN", "MCI", "AD"}
    levels = json.loads((tiny / "participants.json").read_text())["diagnosis"]["Levels"]
    assert levels == DIAGNOSIS_LEVELS and set(levels) == {"CN", "MCI", "AD"}
    assert json.loads((tiny / "dataset_description.json").read_text())["BIDSVersion"]
    images = sorted(str(p.relative_to(tiny)) for p in tiny.glob("sub-*/*/*.nii.gz"))
    assert images == sorted([s.t1w for s in plan] + [s.pet for s in plan if s.pet])
    cohort = discover_cohort(bids_dir=tiny, diagnosis_column="diagnosis",
                             diagnosis_labels=LABELS, n_folds=2, val_fraction=0.0)
    assert {(s.participant_id, s.group, s.diagnosis) for s in cohort.subjects} == {
        (s.participant_id, s.group, s.diagnosis) for s in plan}
    for subject in plan:  # sidecars say the data are simulated; PET timing fits its frames
        t1w_sidecar = json.loads((tiny / subject.t1w.replace(".nii.gz", ".json")).read_text())
        assert t1w_sidecar["Manufacturer"] == SIMULATOR
        if subject.pet:
            pet = json.loads((tiny / subject.pet.replace(".nii.gz", ".json")).read_text())
            shape = nib.load(tiny / subject.pet).shape
            frames = shape[3] if len(shape) == 4 else 1
            assert pet["Manufacturer"] == SIMULATOR and frames == subject.pet_frames
            assert len(pet["FrameTimesStart"]) == len(pet["FrameDuration"]) == frames


def test_images_are_native_and_grids_differ(tiny):
    plan = plan_demo_cohort(**TINY)
    for subject in plan:
        t1w = nib.load(tiny / subject.t1w)
        truth = json.loads((tiny / subject.truth_dir /
                            f"sub-{subject.participant_id}_truth.json").read_text())
        assert t1w.get_data_dtype() == np.int16
        np.testing.assert_allclose(t1w.header.get_zooms(), [3.0] * 3)
        pose = np.array(truth["mni_to_t1w_world"])
        assert not np.allclose(pose[:3, :3], np.eye(3), atol=0.02)  # not MNI-aligned
        assert "".join(nib.aff2axcodes(t1w.affine)) == truth["t1w_axcodes"]
        assert 0.8 <= truth["displacement_rms_mm"] <= 2.0
        assert truth["displacement_max_mm"] <= 4.0 + 1e-6
        if subject.pet is None:
            continue
        pet = nib.load(tiny / subject.pet)
        assert pet.shape[:3] != t1w.shape
        assert not np.allclose(pet.affine, t1w.affine)
        assert pet.ndim == (4 if subject.pet_frames > 1 else 3)
        if subject.pet_frames > 1:
            assert pet.shape[3] == subject.pet_frames
            frames = pet.get_fdata()
            assert not np.allclose(frames[..., 0], frames[..., 1])  # frame-to-frame noise


def test_t1w_has_contrast_skull_and_truth_is_consistent(tiny):
    subject = plan_demo_cohort(**TINY)[0]
    truth = tiny / subject.truth_dir
    prefix = f"sub-{subject.participant_id}_space-T1w"
    t1w = nib.load(tiny / subject.t1w).get_fdata()
    mask = nib.load(truth / f"{prefix}_desc-brain_mask.nii.gz").get_fdata() > 0
    tissue = {name: nib.load(truth / f"{prefix}_label-{name}_probseg.nii.gz").get_fdata()
              for name in ("GM", "WM", "CSF")}
    means = {name: t1w[(p > 0.5) & mask].mean() for name, p in tissue.items()}
    assert means["WM"] > means["GM"] > means["CSF"]
    shell = ndimage.binary_dilation(mask, iterations=4) & ~mask  # skull and scalp
    assert shell.sum() > 0.3 * mask.sum()
    assert t1w[shell].max() > means["WM"]  # bright scalp fat
    assert np.percentile(t1w[shell], 10) < means["CSF"]  # dark bone
    xfm = nib.load(truth / f"{prefix}_desc-truth_xfm.nii.gz")
    assert xfm.shape == (*mask.shape, 3) and xfm.get_data_dtype() == np.float32
    coords = xfm.get_fdata()
    assert np.isfinite(coords[mask]).all() and np.isnan(coords[~mask]).all()
    low, high = coords[mask].min(axis=0), coords[mask].max(axis=0)
    assert np.all(low > [-80, -115, -80]) and np.all(high < [80, 80, 90])
    # the truth transform points at the MNI voxel each native voxel was drawn from
    prior = resources.tissue_priors(resolution_mm=1)["GM"]
    to_prior = np.linalg.inv(prior.affine)
    voxels = to_prior[:3, :3] @ coords[mask].T + to_prior[:3, 3:4]
    expected = ndimage.map_coordinates(prior.get_fdata(), voxels, order=1)
    assert np.corrcoef(expected, tissue["GM"][mask])[0, 1] > 0.9


def test_same_seed_same_bytes_other_seed_differs(tmp_path, tiny):
    again = tmp_path / "again"
    write_demo_cohort(out_dir=again, **TINY, jobs=2, **COARSE)
    assert digest(again) == digest(tiny)
    other = tmp_path / "other"
    write_demo_cohort(out_dir=other, **{**TINY, "seed": 8}, **COARSE)
    changed = {k for k, v in digest(other).items() if digest(tiny).get(k) != v}
    assert "sub-demo001/anat/sub-demo001_T1w.nii.gz" in changed


def test_cli_writes_a_cohort(tmp_path):
    out = tmp_path / "bids"
    settings = json.dumps({"cohort.demo": {"n_paired": 4, "n_mri_only": 0, "seed": 3,
                                           "mci_fraction": 0.25, "t1_voxel_mm": 3,
                                           "pet_voxel_mm": 4}})
    assert main(["demo-cohort", "--settings", settings, "--out", str(out)]) == 0
    assert len(list(out.glob("sub-*/pet/*_pet.nii.gz"))) == 4
    diagnoses = pd.read_csv(out / "participants.tsv", sep="\t")["diagnosis"]
    assert sorted(diagnoses) == ["AD", "CN", "CN", "MCI"]


def test_cli_rejects_settings_outside_their_range(tmp_path, capsys):
    settings = json.dumps({"cohort.demo": {"n_paired": 2, "n_mri_only": 0, "seed": 3,
                                           "mci_fraction": 0.0, "t1_voxel_mm": 3,
                                           "pet_voxel_mm": 4}})
    assert main(["demo-cohort", "--settings", settings, "--out", str(tmp_path / "b")]) == 2
    assert "'cohort.demo.n_paired': 2 must be >= 4" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.fixture(scope="module")
def calibration_cohort(tmp_path_factory) -> tuple[Path, list]:
    """24 paired subjects (8 CN, 8 MCI, 8 AD) at coarse voxels."""
    out = tmp_path_factory.mktemp("calibration")
    plan = write_demo_cohort(out_dir=out, n_paired=24, n_mri_only=0, seed=11, jobs=2,
                             mci_fraction=1 / 3, **COARSE)
    return out, plan


@pytest.fixture(scope="module")
def calibration_effects(calibration_cohort) -> pd.DataFrame:
    """effect_table of the calibration cohort's ground truth, by region."""
    folder, plan = calibration_cohort
    atlas = resources.aal_atlas()
    values = {s.participant_id: truth_values(bids_dir=folder, subject=s, atlas=atlas)
              for s in plan}
    return effect_table(values=values, diagnoses={s.participant_id: s.diagnosis for s in plan},
                        targets=TARGETS, names=atlas.labels).set_index("region")


def test_ground_truth_shows_the_calibrated_disease_effects(calibration_effects):
    table = calibration_effects
    # Lower hippocampal, parahippocampal and temporal GM density, larger ventricles ...
    assert table.loc["Hippocampus", "gm_d"] < -1.0, table
    assert table.loc[["ParaHippocampal", "Temporal_Inf"], "gm_d"].max() < -0.8, table
    assert table.loc["Ventricles", "gm_d"] > 0.5, table
    # ... lower PET SUVR in the posterior cingulate, precuneus and temporoparietal cortex ...
    pet = ["Cingulum_Post", "Precuneus", "Angular", "Parietal_Inf", "Temporal_Inf"]
    assert table.loc[pet, "pet_d"].max() < -1.0, table
    # ... and nothing in the spared sensorimotor cortex.
    assert abs(table.loc["Precentral", "gm_d"]) < 1.0 and \
        abs(table.loc["Precentral", "pet_d"]) < 1.0, table


def test_one_severity_drives_both_modalities_but_mri_shows_it_only_in_part(
        calibration_cohort):
    folder, plan = calibration_cohort
    truth = [json.loads((folder / s.truth_dir / f"sub-{s.participant_id}_truth.json")
                        .read_text()) for s in plan]
    ad = [t for t in truth if t["diagnosis"] == "AD"]
    cn = [t for t in truth if t["diagnosis"] == "CN"]
    assert all(t["severity"] == 0.0 and t["pet_hypometabolism_max"] == 0.0 for t in cn)
    assert all(0.15 <= t["severity"] <= 1.0 and t["mci_progress"] is None for t in ad)
    severity = np.array([t["severity"] for t in ad])
    atrophy = np.array([t["mri_atrophy"] for t in ad])
    assert 0.3 < np.corrcoef(severity, atrophy)[0, 1] < 0.97
    assert cohens_d(group=atrophy,
                    reference=np.array([t["mri_atrophy"] for t in cn])) > 1.0


def test_mci_is_the_ad_disease_part_of_the_way(calibration_cohort):
    """Each MCI subject's severity is its own fraction (MCI_PROGRESS_RANGE) of an AD
    severity: spread between CN and AD, and driving PET and MRI as in AD."""
    folder, plan = calibration_cohort
    truth = [json.loads((folder / s.truth_dir / f"sub-{s.participant_id}_truth.json")
                        .read_text()) for s in plan]
    mci = [t for t in truth if t["diagnosis"] == "MCI"]
    assert len(mci) == 8
    progress = np.array([t["mci_progress"] for t in mci])
    severity = np.array([t["severity"] for t in mci])
    assert np.all((progress >= MCI_PROGRESS_RANGE[0]) & (progress <= MCI_PROGRESS_RANGE[1]))
    ad_severity = severity / progress  # the AD severity each one is on the way to
    assert np.all((ad_severity >= SEVERITY_RANGE[0]) & (ad_severity <= SEVERITY_RANGE[1]))
    assert len(set(np.round(progress, 6))) == 8  # each subject draws its own
    np.testing.assert_allclose([t["pet_hypometabolism_max"] for t in mci], 0.29 * severity)
    ad_mean = np.mean([t["severity"] for t in truth if t["diagnosis"] == "AD"])
    assert 0.0 < severity.mean() < ad_mean
    atrophy = {d: np.array([t["mri_atrophy"] for t in truth if t["diagnosis"] == d])
               for d in ("CN", "MCI", "AD")}
    assert atrophy["CN"].mean() < atrophy["MCI"].mean() < atrophy["AD"].mean()


def test_mci_effects_lie_between_cn_and_ad(calibration_effects):
    """Averaged over the FDG meta-ROI and over the medial temporal GM (single regions of 8
    subjects are noisy), MCI differs from CN in the AD direction but less than AD does."""
    table = calibration_effects
    pet = ["Cingulum_Post", "Precuneus", "Angular", "Parietal_Inf", "Temporal_Inf"]
    gm = ["Hippocampus", "ParaHippocampal", "Temporal_Inf"]
    for column, regions in (("pet", pet), ("gm", gm)):
        ad, mci = table.loc[regions, f"{column}_d"], table.loc[regions, f"{column}_d_mci"]
        assert ad.mean() < mci.mean() < 0.0, table
    assert table["gm_d_mci"].notna().all() and table["pet_d_mci"].drop("Ventricles").notna().all()


def test_cohens_d_by_hand():
    group, reference = np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0, 5.0, 6.0])
    pooled = np.sqrt((2 * 1.0 + 3 * np.var(reference, ddof=1)) / 5)
    assert cohens_d(group=group, reference=reference) == pytest.approx((2.0 - 4.5) / pooled)


def roi_features(folder: Path, subject, atlas) -> tuple[np.ndarray, np.ndarray]:
    """AAL ROI means of GM (true segmentation) and PET SUVR, placed by the truth transform."""
    truth = folder / subject.truth_dir
    prefix = f"sub-{subject.participant_id}"
    mask = nib.load(truth / f"{prefix}_space-T1w_desc-brain_mask.nii.gz").get_fdata() > 0
    mni = nib.load(truth / f"{prefix}_space-T1w_desc-truth_xfm.nii.gz").get_fdata()[mask]
    to_atlas = np.linalg.inv(atlas.affine)
    atlas_voxels = to_atlas[:3, :3] @ mni.T + to_atlas[:3, 3:4]
    labels = ndimage.map_coordinates(np.asarray(atlas.dataobj), atlas_voxels, order=0)
    t1w_image = nib.load(folder / subject.t1w)
    gm = nib.load(truth / f"{prefix}_space-T1w_label-GM_probseg.nii.gz").get_fdata()[mask]
    pet_image = nib.load(folder / subject.pet)
    pet = pet_image.get_fdata()
    pet = pet.mean(axis=3) if pet.ndim == 4 else pet
    pet_to_t1w = np.array(json.loads((truth / f"{prefix}_truth.json").read_text())
                          ["pet_to_t1w_world"])
    to_pet = np.linalg.inv(pet_image.affine) @ np.linalg.inv(pet_to_t1w) @ t1w_image.affine
    pet_voxels = to_pet[:3, :3] @ np.argwhere(mask).T + to_pet[:3, 3:4]
    pet = ndimage.map_coordinates(pet, pet_voxels, order=1)
    regions = np.arange(1, resources.AAL_REGION_COUNT + 1)

    def means(values):
        sums = np.bincount(labels, weights=values, minlength=regions[-1] + 1)
        counts = np.bincount(labels, minlength=regions[-1] + 1)
        return sums[regions] / np.maximum(counts[regions], 1)

    return means(gm), means(pet / pet.mean())


def cv_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    return float(cross_val_score(model, features, labels, cv=folds).mean())


@pytest.mark.slow
def test_both_modalities_carry_the_disease_signal_on_ground_truth(tmp_path):
    """On the ground truth (true segmentation, no registration error) MRI and PET each
    separate AD from CN well but not perfectly, as in ADNI, where hippocampal volume and
    FDG-PET reach similar effect sizes (gla_model.demo_cohort.disease). Which modality
    wins after preprocessing is for the workflow to report, not for the simulator to fix;
    that MRI shows the severity only in part is tested above."""
    plan = write_demo_cohort(out_dir=tmp_path, n_paired=40, n_mri_only=0, seed=12, jobs=2,
                             **COARSE)
    atlas = resources.aal_atlas().image
    features = [roi_features(tmp_path, subject, atlas) for subject in plan]
    labels = np.array([subject.diagnosis == "AD" for subject in plan])
    mri = np.array([f[0] for f in features])
    pet = np.array([f[1] for f in features])

    mri_accuracy = cv_accuracy(mri, labels)
    pet_accuracy = cv_accuracy(pet, labels)
    both_accuracy = cv_accuracy(np.hstack([mri, pet]), labels)

    # seeds 11-13 gave MRI 0.83-0.90, PET 0.83-0.93, both 0.83-0.93
    for accuracy in (mri_accuracy, pet_accuracy, both_accuracy):
        assert 0.7 <= accuracy <= 0.98, (mri_accuracy, pet_accuracy, both_accuracy)
