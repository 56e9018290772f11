"""`gla-model uncertainty`: a variant's per-subject and per-region uncertainty and its
calibration, on synthesis folders whose errors are drawn with a known SD, every number
recomputed here independently."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gla_model.cli import main
from gla_model.cohort.table import Cohort, Subject, write_cohort_table
from gla_model.evaluate.image_quality import mae_in_mask
from gla_model.folds import make_folds
from gla_model.layout import (
    preprocessed_path,
    synthesis_uncertainty_table,
    synthetic_pet_path,
    synthetic_sd_path,
    uncertainty_path,
)
from gla_model.resources import AAL_REGION_COUNT, model_grid
from gla_model.uncertainty.calibration import within_group_ranks
from gla_model.uncertainty.estimator import write_uncertainty_table

GRID = 16
PAIRED = [f"{d}{i}" for d in ("cn", "ad") for i in range(3)]
MRI_ONLY = ["mo0", "mo1"]
#: Atlas labels present on the grid (the others have no voxel).
REGIONS = (1, 2, 3, 4)


def _save(data, path: Path, affine) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), affine), path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Preprocessed subjects, an atlas, folds, and one variant's synthesis folders: each
    synthetic PET is the real PET plus Gaussian noise of the SD written beside it."""
    root = tmp_path_factory.mktemp("unc")
    rng = np.random.default_rng(0)
    _, affine = model_grid(size=GRID)
    zz, yy, xx = (np.mgrid[:GRID, :GRID, :GRID] + 0.5) / GRID - 0.5
    mask = (xx ** 2 + yy ** 2 + zz ** 2) < 0.4 ** 2
    atlas = np.where(mask, 1 + (xx > 0) + 2 * (yy > 0), 0)
    _save(atlas, root / "atlas.nii.gz", affine)
    pd.DataFrame({"index": range(1, AAL_REGION_COUNT + 1),
                  "name": [f"R{i}" for i in range(1, AAL_REGION_COUNT + 1)]}).to_csv(
        root / "labels.tsv", sep="\t", index=False)
    preproc = root / "preprocess"
    for pid in [*PAIRED, *MRI_ONLY]:
        gm = rng.random(mask.shape)
        wm = rng.random(mask.shape) * (1 - gm)
        images = {"t1w": mask * rng.random(mask.shape), "mask": mask, "gm": gm, "wm": wm,
                  "csf": 1 - gm - wm}
        if pid in PAIRED:
            images["pet"] = mask * (0.3 + 0.4 * rng.random(mask.shape))
        for field, data in images.items():
            _save(data, preprocessed_path(preproc_dir=preproc, participant_id=pid,
                                          field=field), affine)
    folds = make_folds(subjects=pd.DataFrame({"participant_id": PAIRED,
                                              "diagnosis": ["CN"] * 3 + ["AD"] * 3}),
                       n_folds=2, val_fraction=0.0, seed=0)
    folds.to_csv(root / "folds.tsv", sep="\t", index=False)
    subjects = [Subject(participant_id=pid, diagnosis="CN", group=group, session=None,
                        t1w=Path(f"{pid}_T1w.nii.gz"),
                        pet=Path(f"{pid}_pet.nii.gz") if group == "paired" else None)
                for pid, group in [*((p, "paired") for p in PAIRED),
                                   *((p, "mri_only") for p in MRI_ONLY)]]
    write_cohort_table(cohort=Cohort(subjects=tuple(subjects)), path=root / "cohort.tsv")
    variant = root / "synthesize" / "v"
    groups = {f"fold-{k}": sorted(folds.loc[folds[f"role_fold{k}"] == "test",
                                            "participant_id"]) for k in (0, 1)}
    groups["full"] = MRI_ONLY
    for folder, ids in groups.items():
        rows = []
        for pid in ids:
            sd = mask * 0.05 * rng.uniform(0.5, 1.5) * (0.1 + (xx + 0.5) ** 2)  # SD varies a lot
            real = (preprocessed_path(preproc_dir=preproc, participant_id=pid, field="pet")
                    if pid in PAIRED else None)
            base = (nib.load(real).get_fdata() if real else mask * 0.5)
            _save(base + rng.normal(0, 1, mask.shape) * sd,
                  synthetic_pet_path(synth_dir=variant / folder, participant_id=pid), affine)
            _save(sd, synthetic_sd_path(synth_dir=variant / folder, participant_id=pid),
                  affine)
            rows.append({"participant_id": pid, "model": folder, "n_members": 8,
                         "sd_mean": float(sd[mask].mean()), "sd_primary": float(sd[mask].mean()),
                         "sd_fold_models": float(sd[mask].mean()),
                         "input_typicality": 0.5, "typicality_threshold": 1.5,
                         "out_of_distribution": False})
        write_uncertainty_table(rows=rows,
                                path=synthesis_uncertainty_table(synth_dir=variant / folder))
    return root


def _command(root: Path, *, synth: str = "synthesize", out: str = "uncertainty") -> list[str]:
    return ["uncertainty", "--variant", "v", "--synth-dir", str(root / synth),
            "--folds", str(root / "folds.tsv"), "--cohort", str(root / "cohort.tsv"),
            "--preproc-dir", str(root / "preprocess"), "--atlas", str(root / "atlas.nii.gz"),
            "--atlas-labels", str(root / "labels.tsv"), "--out-dir", str(root / out)]


@pytest.fixture(scope="module")
def tables(run):
    assert main(_command(run)) == 0
    return {kind: pd.read_csv(uncertainty_path(uncertainty_dir=run / "uncertainty",
                                               variant="v", kind=kind),
                              sep="\t", dtype={"participant_id": str},
                              float_precision="round_trip")
            for kind in ("subjects", "regions", "calibration", "reliability")}


def _maps(root: Path, pid: str) -> dict[str, np.ndarray]:
    folder = next(p.parent for p in (root / "synthesize" / "v").glob(f"*/sub-{pid}_desc-synth_*"))
    load = lambda path: nib.load(path).get_fdata(dtype=np.float32)  # noqa: E731
    preproc = {f: load(preprocessed_path(preproc_dir=root / "preprocess", participant_id=pid,
                                         field=f))
               for f in ("mask", "gm", "wm", "csf", *(("pet",) if pid in PAIRED else ()))}
    return {**preproc, "sd": load(synthetic_sd_path(synth_dir=folder, participant_id=pid)),
            "synth": load(synthetic_pet_path(synth_dir=folder, participant_id=pid))}


def test_subjects_table_recomputed(run, tables):
    subjects = tables["subjects"].set_index("participant_id")
    assert sorted(subjects.index) == sorted([*PAIRED, *MRI_ONLY])
    assert (subjects.loc[PAIRED, "group"] == "paired").all()
    assert (subjects.loc[MRI_ONLY, "model"] == "full").all()
    for pid in PAIRED:
        maps = _maps(run, pid)
        brain = maps["mask"] != 0
        # Table I's MAE, to the last bit
        assert subjects.loc[pid, "mae"] == mae_in_mask(prediction=maps["synth"],
                                                       target=maps["pet"], mask=maps["mask"])
        rho = stats.spearmanr(maps["sd"][brain], np.abs(maps["synth"] - maps["pet"])[brain])
        assert subjects.loc[pid, "spearman"] == pytest.approx(rho.statistic, abs=1e-6)
        assert subjects.loc[pid, "spearman"] > 0.2  # the noise grows with the SD
    assert subjects.loc[MRI_ONLY, ["mae", "spearman"]].isna().all().all()


def test_regions_are_the_grey_matter_of_each_aal_region(run, tables):
    regions = tables["regions"]
    assert len(regions) == (len(PAIRED) + len(MRI_ONLY)) * AAL_REGION_COUNT
    atlas = np.rint(nib.load(run / "atlas.nii.gz").get_fdata()).astype(int)
    for pid in (PAIRED[0], MRI_ONLY[0]):
        maps = _maps(run, pid)
        grey = (maps["mask"] != 0) & (np.argmax(np.stack([maps["gm"], maps["wm"], maps["csf"]]),
                                                axis=0) == 0)
        rows = regions.loc[regions["participant_id"] == pid].set_index("region")
        for label in REGIONS:
            voxels = grey & (atlas == label)
            assert rows.loc[label, "n_voxels"] == voxels.sum() > 0
            assert rows.loc[label, "sd_mean"] == pytest.approx(maps["sd"][voxels].mean(),
                                                               rel=1e-6)
            if pid in PAIRED:
                error = np.abs(maps["synth"].astype(np.float64) - maps["pet"])[voxels].mean()
                assert rows.loc[label, "abs_error_mean"] == pytest.approx(error, rel=1e-6)
            else:
                assert math.isnan(rows.loc[label, "abs_error_mean"])
        assert rows.loc[10, "n_voxels"] == 0 and math.isnan(rows.loc[10, "sd_mean"])


def test_calibration_only_from_test_fold_subjects(tables):
    calibration, subjects = tables["calibration"], tables["subjects"]
    assert set(calibration["level"]) == {"subject", "region", "cohort", "cohort_within_fold"}
    per_subject = calibration.loc[calibration["level"] == "subject"]
    assert sorted(per_subject["unit"]) == sorted(PAIRED)
    assert per_subject["p_value"].isna().all()  # voxels are not independent
    paired = subjects.loc[subjects["group"] == "paired"].set_index("participant_id")
    np.testing.assert_allclose(per_subject.set_index("unit").loc[paired.index, "spearman"],
                               paired["spearman"])
    regions = calibration.loc[calibration["level"] == "region"].set_index("unit")
    assert len(regions) == AAL_REGION_COUNT
    assert (regions.loc[[f"R{i}" for i in REGIONS], "n"] == len(PAIRED)).all()
    assert regions.loc["R10", "n"] == 0 and math.isnan(regions.loc["R10", "spearman"])
    region_rows = tables["regions"].loc[(tables["regions"]["group"] == "paired")
                                        & (tables["regions"]["region"] == 2)]
    rho = stats.spearmanr(region_rows["sd_mean"], region_rows["abs_error_mean"])
    assert regions.loc["R2", "spearman"] == pytest.approx(rho.statistic)
    assert regions.loc["R2", "p_value"] == pytest.approx(rho.pvalue)
    (cohort,) = calibration.loc[calibration["level"] == "cohort"].itertuples()
    rho = stats.spearmanr(paired["sd_mean"], paired["mae"])
    assert (cohort.spearman, cohort.p_value, cohort.n) == (
        pytest.approx(rho.statistic), pytest.approx(rho.pvalue), len(PAIRED))


def test_reliability_of_gaussian_errors_lies_on_the_expected_line(tables, run):
    bins = tables["reliability"]
    assert list(bins["bin"]) == list(range(1, 11))
    brain_voxels = sum(int((_maps(run, pid)["mask"] != 0).sum()) for pid in PAIRED)
    assert bins["n_voxels"].sum() == brain_voxels
    assert (np.diff(bins["sd_mean"]) > 0).all()
    assert (bins["sd_low"] <= bins["sd_mean"]).all() and (bins["sd_mean"] <= bins["sd_high"]).all()
    np.testing.assert_allclose(bins["expected_abs_error"], math.sqrt(2 / math.pi) * bins["sd_mean"])
    # errors drawn as N(0, SD): calibrated by construction (within sampling noise)
    np.testing.assert_allclose(bins["abs_error_mean"], bins["expected_abs_error"], rtol=0.1)
    np.testing.assert_allclose(bins["rms_error"], bins["sd_mean"], rtol=0.1)


def test_a_subject_its_fold_did_not_hold_out_is_refused(run, capsys):
    """A fold folder scoring one of its own model's training subjects is leakage."""
    copy = run / "leaky"
    shutil.copytree(run / "synthesize", copy / "synthesize")
    folds = pd.read_csv(run / "folds.tsv", sep="\t")
    trained = sorted(folds.loc[folds["role_fold0"] == "train", "participant_id"])[0]
    table = synthesis_uncertainty_table(synth_dir=copy / "synthesize" / "v" / "fold-0")
    rows = pd.read_csv(table, sep="\t")
    rows.loc[len(rows)] = {**rows.iloc[0].to_dict(), "participant_id": trained}
    rows.to_csv(table, sep="\t", index=False)
    assert main(_command(run, synth="leaky/synthesize", out="leaky/out")) == 2
    assert f"scores ['{trained}'], which fold 0 did not hold out" in capsys.readouterr().err
    assert not (run / "leaky" / "out").exists()


def test_within_fold_ranks_leave_out_what_differs_between_fold_models():
    # Fold b's model is both more uncertain and worse than fold a's, but within each fold
    # the SD ranks the errors backwards: pooled, the ranks agree; within folds, they do not.
    folds = ["a"] * 4 + ["b"] * 4
    sd = np.array([1.0, 2.0, 3.0, 4.0, 11.0, 12.0, 13.0, 14.0])
    mae = np.array([4.0, 3.0, 2.0, 1.0, 14.0, 13.0, 12.0, 11.0])
    assert stats.spearmanr(sd, mae).statistic > 0.5
    sd_ranks, mae_ranks = (within_group_ranks(v, folds) for v in (sd, mae))
    np.testing.assert_allclose(sd_ranks, [0.125, 0.375, 0.625, 0.875] * 2)
    assert stats.spearmanr(sd_ranks, mae_ranks).statistic == pytest.approx(-1.0)
