"""`gla-model synthesize --t1w`: a raw T1w preprocessed with the settings model.pt records,
its PET on the grid and in native space, end to end on a trained model and a demo subject."""

from __future__ import annotations

import dataclasses
import re
import stat

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from gla_model import __version__
from gla_model.checkpoint import FORMAT, MODEL_KIND, load_checkpoint
from gla_model.cli import main
from gla_model.demo_cohort.write import write_demo_cohort
from gla_model.folds import make_folds
from gla_model.layout import preprocessed_path
from gla_model.nets import build_model
from gla_model.niftiio import current_umask
from gla_model.preprocess.xfm import read_xfm
from gla_model.settings import LossWeights, ModelSpec, job_settings, without_resources
from gla_model.synthesize_raw import raw_synthesis_paths

GRID = 32
SPEC = ModelSpec(arch="glagan", k_patches=2, width=0.125, losses=LossWeights(l1=1.0))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.sum(a & b) / (np.sum(a) + np.sum(b))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, default_settings):
    """A demo cohort (2 paired subjects, 1 MRI-only), the paired ones preprocessed with the
    tiny preset's settings, and a model trained one epoch on them by `gla-model train`."""
    root = tmp_path_factory.mktemp("raw")
    plan = write_demo_cohort(out_dir=root / "bids", n_paired=2, n_mri_only=1, seed=5,
                             t1_voxel_mm=3.0, pet_voxel_mm=3.0)
    paired = [s for s in plan if s.pet is not None]
    preprocessing = without_resources(default_settings.preprocessing)
    assert preprocessing["grid"] == GRID
    for subject in paired:
        assert main(["preprocess", "--settings", job_settings(preprocessing=preprocessing),
                     "--threads", "1", "--participant-id", subject.participant_id,
                     "--t1w", str(root / "bids" / subject.t1w),
                     "--pet", str(root / "bids" / subject.pet),
                     "--out-dir", str(root / "preprocess" / f"sub-{subject.participant_id}")]
                    ) == 0
    # a fold that trains on the two paired subjects; its test subjects are never read
    table = pd.DataFrame({"participant_id": [s.participant_id for s in paired] + ["x1", "x2"],
                          "diagnosis": [s.diagnosis for s in paired] * 2})
    folds = next(folds for seed in range(50)
                 if len(set((folds := make_folds(subjects=table, n_folds=2, val_fraction=0.0,
                                                 seed=seed))["fold"].iloc[2:])) == 1)
    fold = str(folds["fold"].iloc[2])
    train = sorted(folds.loc[folds[f"role_fold{fold}"] == "train", "participant_id"])
    assert train == sorted(s.participant_id for s in paired)
    folds.to_csv(root / "folds.tsv", sep="\t", index=False)
    training = dataclasses.replace(default_settings.training, epochs=1, batch_size=2,
                                   device="cpu", precision="fp32", preload=True)
    settings = job_settings(**{"models__variants__v": SPEC,
                               "training": without_resources(training),
                               "preprocessing": preprocessing})
    assert main(["train", "--settings", settings, "--threads", "1", "--variant", "v",
                 "--folds", str(root / "folds.tsv"), "--fold", fold,
                 "--preproc-dir", str(root / "preprocess"),
                 "--atlas", str(root / "unused_atlas.nii.gz"),  # no ROI loss: never read
                 "--checkpoint", str(root / "model.pt"),
                 "--history", str(root / "history.tsv")]) == 0
    mri_only = next(s for s in plan if s.pet is None)
    return root, mri_only


@pytest.mark.slow
def test_raw_t1w_gives_pet_on_the_grid_and_over_the_native_t1w(trained):
    root, subject = trained
    pid = subject.participant_id
    raw = root / "bids" / subject.t1w
    out = root / "synth"
    fp32 = ["--settings", job_settings(training__device="cpu", training__precision="fp32",
                                       uncertainty__tta_flip=True, uncertainty__tta_shift=1)]
    assert main(["synthesize", "--checkpoint", str(root / "model.pt"), "--t1w", str(raw),
                 "--out-dir", str(out), *fp32]) == 0
    paths = raw_synthesis_paths(out_dir=out, participant_id=pid)
    preprocessed = {field: preprocessed_path(preproc_dir=paths["preproc_dir"],
                                             participant_id=pid, field=field)
                    for field in ("t1w", "mask", "xfm")}

    # the preprocessing ran with the settings the model records
    record = load_checkpoint(root / "model.pt", kind=MODEL_KIND)
    assert nib.load(preprocessed["t1w"]).shape == (record["preprocessing"]["grid"],) * 3

    # the grid PET is what --mri gives for the same preprocessed T1w
    by_mri = root / "by_mri.nii.gz"
    assert main(["synthesize", "--checkpoint", str(root / "model.pt"), "--mri",
                 str(preprocessed["t1w"]), "--out", str(by_mri), *fp32]) == 0
    grid = nib.load(paths["grid_pet"])
    np.testing.assert_array_equal(np.asarray(grid.dataobj), np.asarray(nib.load(by_mri).dataobj))

    # the native PET lies on the input T1w's voxels, over its brain
    native, t1w = nib.load(paths["native_pet"]), nib.load(raw)
    assert native.shape == t1w.shape and np.allclose(native.affine, t1w.affine)
    assert native.get_data_dtype() == np.float32
    truth = root / "bids" / subject.truth_dir / f"sub-{pid}_space-T1w_desc-brain_mask.nii.gz"
    brain = np.asarray(nib.load(truth).dataobj) > 0
    pet = np.asarray(native.dataobj)
    dice = _dice(pet > 0, brain)
    assert dice > 0.9, dice
    # the same uptake: trilinear values stay within the grid's, and the mean moves only by
    # the brain's edge voxels, which blend with the zero background
    grid_pet = np.asarray(grid.dataobj)
    assert pet.min() >= 0 and pet.max() <= grid_pet.max()
    assert pet[pet > 0].mean() == pytest.approx(grid_pet[grid_pet > 0].mean(), rel=0.1)

    # the transform used is the preprocessing's, and every file is readable by the group
    np.testing.assert_array_equal(read_xfm(path=paths["xfm"]),
                                  read_xfm(path=preprocessed["xfm"]))
    for field in ("grid_pet", "native_pet", "grid_sd", "native_sd", "uncertainty", "xfm"):
        assert stat.S_IMODE(paths[field].stat().st_mode) == 0o666 & ~current_umask()

    # the uncertainty: on the grid the SD map --mri writes, in native space over the same
    # voxels as the PET; one uncertainty.tsv row (no --preproc-dir: no typicality check)
    np.testing.assert_array_equal(
        np.asarray(nib.load(paths["grid_sd"]).dataobj),
        np.asarray(nib.load(root / "by_mri_desc-synthsd.nii.gz").dataobj))
    native_sd = nib.load(paths["native_sd"])
    assert native_sd.shape == t1w.shape and native_sd.get_data_dtype() == np.float32
    sd = np.asarray(native_sd.dataobj)
    assert sd.min() >= 0 and ((sd != 0) == (pet != 0)).mean() > 0.999
    row = pd.read_csv(paths["uncertainty"], sep="\t", keep_default_na=False).iloc[0]
    assert (row["participant_id"], row["n_members"]) == (pid, 8)
    assert row["model"] == f"fold-{record['fold']}"
    assert row["sd_mean"] > 0 and row["out_of_distribution"] == "n/a"


@pytest.fixture
def hand_made(tmp_path):
    """A model.pt without the preprocessing settings (as `gla-model train` wrote before
    recording them), and a raw T1w named like BIDS."""
    torch.manual_seed(0)
    record = {"kind": MODEL_KIND, "format": FORMAT, "code_version": __version__,
              "variant": "v", "spec": SPEC.as_dict(), "grid": GRID, "fold": "0",
              "generator_state": build_model(spec=SPEC, grid=GRID).generator.state_dict(),
              "epoch": 1, "val_loss": None, "selection": "test", "training_subjects": [],
              "validation_subjects": []}
    torch.save(record, tmp_path / "model.pt")
    t1w = tmp_path / "sub-01_T1w.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((20, 20, 20), np.float32), np.eye(4)), t1w)
    return tmp_path / "model.pt", t1w


def test_a_model_without_preprocessing_settings_cannot_take_a_raw_t1w(hand_made, capsys,
                                                                      tmp_path):
    checkpoint, t1w = hand_made
    assert main(["synthesize", "--checkpoint", str(checkpoint), "--t1w", str(t1w),
                 "--out-dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"{checkpoint} records no preprocessing settings" in error
    assert "`gla-model preprocess` and pass the result with --mri" in error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--mri", "a.nii.gz", "--out-dir", "o"], "--t1w takes one raw T1w and --out-dir; drop --mri"),
    (["--out", "x.nii.gz", "--out-dir", "o"], "drop --out$"),
    ([], "--t1w needs --out-dir"),
    (["--out-dir", "o", "--participant-id", "sub-01"], "letters and digits only"),
])
def test_raw_mode_options_are_checked_first(hand_made, capsys, extra, message):
    checkpoint, t1w = hand_made
    assert main(["synthesize", "--checkpoint", str(checkpoint), "--t1w", str(t1w),
                 *extra]) == 2
    assert re.search(message, capsys.readouterr().err.strip())


def test_the_subject_label_comes_from_the_name_or_the_option(hand_made, capsys, tmp_path):
    checkpoint, t1w = hand_made
    renamed = t1w.rename(tmp_path / "brain.nii.gz")
    args = ["synthesize", "--checkpoint", str(checkpoint), "--t1w", str(renamed),
            "--out-dir", str(tmp_path / "o")]
    assert main(args) == 2
    assert "pass --participant-id" in capsys.readouterr().err
    assert main([*args, "--participant-id", "01"]) == 2  # now it gets to the checkpoint
    assert "records no preprocessing settings" in capsys.readouterr().err
    assert main(["synthesize", "--checkpoint", str(checkpoint), "--mri", str(renamed),
                 "--participant-id", "01", "--out", str(tmp_path / "x.nii.gz")]) == 2
    assert "--participant-id goes with --t1w" in capsys.readouterr().err
