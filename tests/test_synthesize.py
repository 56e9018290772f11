"""Synthesis CLI: single, batch, fold and cohort modes; geometry checks; leakage guard;
the in-memory synthesizer the report uses; the uncertainty map beside every PET (its
members, computed again by hand) and its guard against members that saw the subject."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from gla_model.checkpoint import FORMAT, MODEL_KIND, load_model
from gla_model.cli import main
from gla_model.cohort.table import Cohort, Subject, write_cohort_table
from gla_model.errors import InputImageError
from gla_model.folds import make_folds
from gla_model.intensity import training_intensity
from gla_model.layout import preprocessed_path
from gla_model.nets import build_model
from gla_model.resources import model_grid
from gla_model.settings import LossWeights, ModelSpec, job_settings
from gla_model.synthesize import HAND_RUN_TTA, load_synthesizer, output_name, sd_path_beside
from gla_model.uncertainty.estimator import UNCERTAINTY_COLUMNS

GRID = 32
#: The augmentations of the workflow's synthesis settings (as config.yaml ships them).
TTA = {"uncertainty__tta_flip": True, "uncertainty__tta_shift": 1}
SPEC = ModelSpec(arch="glagan", k_patches=2, width=0.125, losses=LossWeights(l1=1.0))
IDS = [f"{d}{i}" for d in ("cn", "ad") for i in range(3)]


def _t1w(ws, pid):
    return preprocessed_path(preproc_dir=ws / "preprocess", participant_id=pid, field="t1w")


@pytest.fixture
def ws(tmp_path):
    _, affine = model_grid(size=GRID)
    rng, pet_rng = np.random.default_rng(0), np.random.default_rng(1)
    for pid in [*IDS, "mo1"]:
        path = _t1w(tmp_path, pid)
        path.parent.mkdir(parents=True)
        image = nib.Nifti1Image(rng.random((GRID,) * 3).astype(np.float32), affine)
        image.header["descrip"] = b"test header"
        nib.save(image, path)
        # the brain mask and the PET: the out-of-distribution check reads the training
        # subjects' (the mask is every voxel: the random T1w has no zero background)
        for field, data in (("mask", np.ones((GRID,) * 3, np.uint8)),
                            ("pet", pet_rng.random((GRID,) * 3).astype(np.float32))):
            target = preprocessed_path(preproc_dir=tmp_path / "preprocess", participant_id=pid,
                                       field=field)
            target.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(data, affine), target)
    folds = make_folds(subjects=pd.DataFrame({"participant_id": IDS,
                                              "diagnosis": ["CN"] * 3 + ["AD"] * 3}),
                       n_folds=3, val_fraction=0.0, seed=0)
    folds.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    train = sorted(folds.loc[folds["role_fold0"] == "train", "participant_id"])
    torch.manual_seed(0)
    bundle = build_model(spec=SPEC, grid=GRID)
    record = {"kind": MODEL_KIND, "format": FORMAT,
              "code_version": __import__("gla_model").__version__, "variant": "v",
              "spec": SPEC.as_dict(), "grid": GRID, "fold": "0",
              "generator_state": bundle.generator.state_dict(), "epoch": 1, "val_loss": None,
              "selection": "test", "training_subjects": train, "validation_subjects": [],
              "t1w_intensity": training_intensity(volumes=[
                  nib.load(_t1w(tmp_path, pid)).get_fdata() for pid in train])}
    torch.save(record, tmp_path / "model.pt")
    subjects = [Subject(participant_id=pid, diagnosis="CN" if pid.startswith("cn") else "AD",
                        group="paired", session=None, t1w=Path(f"{pid}_T1w.nii.gz"),
                        pet=Path(f"{pid}_pet.nii.gz")) for pid in IDS]
    subjects.append(Subject(participant_id="mo1", diagnosis="AD", group="mri_only",
                            session=None, t1w=Path("mo1_T1w.nii.gz"), pet=None))
    write_cohort_table(cohort=Cohort(subjects=tuple(subjects)), path=tmp_path / "cohort.tsv")
    return tmp_path


def test_single_image_keeps_geometry_and_header(ws):
    out = ws / "out" / "x.nii.gz"
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--mri",
                 str(_t1w(ws, "cn0")), "--out", str(out)]) == 0
    result, source = nib.load(out), nib.load(_t1w(ws, "cn0"))
    np.testing.assert_allclose(result.affine, source.affine)
    assert result.header["descrip"] == source.header["descrip"]
    data = result.get_fdata()
    assert data.shape == (GRID,) * 3 and data.min() > 0 and data.max() < 1


def test_batch_and_list_modes_name_outputs(ws):
    listing = ws / "list.txt"
    listing.write_text(f"{_t1w(ws, 'ad1')}\n\n")
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--mri",
                 str(_t1w(ws, "cn0")), str(_t1w(ws, "cn1")), "--mri-list", str(listing),
                 "--out-dir", str(ws / "batch")]) == 0
    assert sorted(p.name for p in (ws / "batch").iterdir()) == [
        *(f"sub-{pid}_desc-{desc}_pet.nii.gz" for pid in ("ad1", "cn0", "cn1")
          for desc in ("synth", "synthsd")), "uncertainty.tsv"]


def test_fold_mode_writes_test_subjects_and_guards_leakage(ws, capsys):
    folds = pd.read_csv(ws / "folds.tsv", sep="\t")
    test_ids = sorted(folds.loc[folds["role_fold0"] == "test", "participant_id"])
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--folds",
                 str(ws / "folds.tsv"), "--fold", "0", "--preproc-dir", str(ws / "preprocess"),
                 "--out-dir", str(ws / "f0")]) == 0
    assert sorted(p.name for p in (ws / "f0").iterdir()) == [
        *(f"sub-{i}_desc-{desc}_pet.nii.gz" for i in test_ids for desc in ("synth", "synthsd")),
        "uncertainty.tsv"]
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--folds",
                 str(ws / "folds.tsv"), "--fold", "1", "--preproc-dir", str(ws / "preprocess"),
                 "--out-dir", str(ws / "f1")]) == 2
    assert "were used to train" in capsys.readouterr().err


def test_cohort_mode_and_empty_selection(ws):
    args = ["synthesize", "--checkpoint", str(ws / "model.pt"), "--cohort",
            str(ws / "cohort.tsv"), "--preproc-dir", str(ws / "preprocess")]
    assert main([*args, "--out-dir", str(ws / "mo")]) == 0
    assert sorted(p.name for p in (ws / "mo").iterdir()) == [
        "sub-mo1_desc-synth_pet.nii.gz", "sub-mo1_desc-synthsd_pet.nii.gz", "uncertainty.tsv"]
    assert main([*args, "--group", "nobody", "--out-dir", str(ws / "empty")]) == 0
    assert [p.name for p in (ws / "empty").iterdir()] == ["uncertainty.tsv"]
    table = pd.read_csv(ws / "empty" / "uncertainty.tsv", sep="\t")
    assert table.empty and list(table.columns) == list(UNCERTAINTY_COLUMNS)


def test_wrong_grid_or_affine_is_a_clear_error(ws, capsys):
    _, affine = model_grid(size=GRID)
    nib.save(nib.Nifti1Image(np.zeros((48,) * 3, np.float32), affine), ws / "sub-big_T1w.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((GRID,) * 3, np.float32), np.eye(4)),
             ws / "sub-off_T1w.nii.gz")
    for name, message in (("sub-big_T1w.nii.gz", "model grid"), ("sub-off_T1w.nii.gz", "affine")):
        assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--mri",
                     str(ws / name), "--out-dir", str(ws / "o")]) == 2
        assert message in capsys.readouterr().err


def test_output_name_needs_subject_label(tmp_path):
    assert output_name(mri=tmp_path / "sub-01_space-MNI_T1w.nii.gz") == \
        "sub-01_desc-synth_pet.nii.gz"
    with pytest.raises(InputImageError, match="subject id"):
        output_name(mri=tmp_path / "brain.nii.gz")


def test_settings_choose_the_runtime_and_are_checked(ws, capsys):
    args = ["synthesize", "--checkpoint", str(ws / "model.pt"), "--mri", str(_t1w(ws, "cn0"))]
    fp32 = job_settings(training__device="cpu", training__precision="fp32", **TTA)
    assert main([*args, "--out", str(ws / "fp32.nii.gz"), "--settings", fp32,
                 "--threads", "1"]) == 0
    assert nib.load(ws / "fp32.nii.gz").shape == (GRID,) * 3
    for settings, message in ((job_settings(training__device="tpu", training__precision="fp32"),
                               "config key 'training.device': 'tpu' is not one of"),
                              (job_settings(training__device="cpu"),
                               "--settings lacks 'training.precision'"),
                              (job_settings(training__device="cpu", training__precision="fp32"),
                               "--settings lacks 'uncertainty.tta_flip'"),
                              (job_settings(training__device="cpu", training__precision="fp32",
                                            **{**TTA, "uncertainty__tta_shift": 9}),
                               "config key 'uncertainty.tta_shift'")):
        assert main([*args, "--out", str(ws / "bad.nii.gz"), "--settings", settings]) == 2
        assert message in capsys.readouterr().err
    assert not (ws / "bad.nii.gz").exists()


def test_in_memory_synthesizer_matches_the_files(ws):
    out = ws / "file.nii.gz"
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--mri",
                 str(_t1w(ws, "cn0")), "--out", str(out)]) == 0
    synthesize = load_synthesizer(checkpoint=ws / "model.pt", device="auto", precision="auto",
                                  threads=1)
    mri = nib.load(_t1w(ws, "cn0")).get_fdata()
    np.testing.assert_array_equal(synthesize(mri), nib.load(out).get_fdata(dtype=np.float32))
    assert not synthesize.generator.training
    with pytest.raises(InputImageError, match=r"shape \(16, 16, 16\), expected 32\^3"):
        synthesize(mri[:16, :16, :16])
    with pytest.raises(InputImageError, match="NaN or infinite"):
        synthesize(np.full((GRID,) * 3, np.nan))


def test_cpu_fp32_synthesizer_equals_the_plain_generator(ws):
    """The report's interpolation runs on the CPU in fp32: the numbers of the bare eval-mode
    generator on a contiguous tensor, up to float32 rounding (the synthesizer runs in
    channels_last_3d, whose convolution kernels sum in another order: a few values differ
    by one unit in the last place, depending on the data)."""
    synthesize = load_synthesizer(checkpoint=ws / "model.pt", device="cpu", precision="fp32",
                                  threads=None)
    bundle, _ = load_model(ws / "model.pt")
    mri = nib.load(_t1w(ws, "ad0")).get_fdata()
    with torch.no_grad():
        plain = bundle.generator(torch.from_numpy(mri.astype(np.float32))[None, None])
    np.testing.assert_allclose(synthesize(mri), plain[0, 0].numpy(), rtol=5e-7, atol=0)


def test_bf16_synthesis_writes_float32_pet_without_bf16_rounding(ws):
    """Autocast bf16 for the trunk, float32 for the output layer: the file holds float32
    with far more than bf16's ~257 distinct values, within 0.05 of the fp32 synthesis (the
    bf16 trunk differs; tests/test_nets.py checks the output layer to 1e-5)."""
    out = ws / "bf16.nii.gz"
    bf16 = job_settings(training__device="cpu", training__precision="bf16", **TTA)
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--mri",
                 str(_t1w(ws, "cn0")), "--out", str(out), "--settings", bf16]) == 0
    image = nib.load(out)
    assert image.get_data_dtype() == np.float32
    data = np.asarray(image.dataobj)
    assert data.dtype == np.float32 and np.unique(data).size > 10 * 257
    synthesize = load_synthesizer(checkpoint=ws / "model.pt", device="cpu", precision="bf16",
                                  threads=1)
    assert synthesize.runtime.autocast_dtype is torch.bfloat16
    mri = nib.load(_t1w(ws, "cn0")).get_fdata()
    np.testing.assert_array_equal(synthesize(mri), data)
    reference = load_synthesizer(checkpoint=ws / "model.pt", device="cpu", precision="fp32",
                                 threads=1)(mri)
    np.testing.assert_allclose(data, reference, atol=0.05)


def _scaled(ws, factor: float) -> Path:
    """cn0's T1w with its intensities times ``factor``, on the model grid."""
    source = nib.load(_t1w(ws, "cn0"))
    path = ws / f"sub-x{str(factor).replace('.', 'p')}_T1w.nii.gz"
    nib.save(nib.Nifti1Image(source.get_fdata(dtype=np.float32) * factor, source.affine), path)
    return path


@pytest.mark.parametrize(("factor", "message"), [
    (1000.0, r"has intensities outside \[0, 1\] \(brain median 500, 99th percentile 990, "
             r"range \[[0-9.e-]+, 1e\+03\]\): it is not a T1w preprocessed by gla-model.*"
             r"`gla-model preprocess`.*`gla-model synthesize --t1w`"),
    (-1.0, r"has intensities outside \[0, 1\]"),
    (0.3, r"is far darker than the 4 training T1w \(brain median 0\.15, under half the "
          r"training minimum 0\.497; 99th percentile 0\.297, under half the training minimum "
          r"0\.99\): the PET would be far too dark\. Preprocess the raw T1w with "
          r"`gla-model preprocess`"),
    (0.0, r"has no nonzero \(brain\) voxels"),
])
def test_t1w_far_outside_the_trained_intensities_is_an_error(ws, capsys, factor, message):
    t1w, out = _scaled(ws, factor), ws / "o.nii.gz"
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--mri", str(t1w),
                 "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"T1w image {t1w} " in error and re.search(message, error), error
    assert not out.exists()


def test_t1w_moderately_outside_the_trained_intensities_is_a_warning(ws, caplog):
    out = ws / "o.nii.gz"
    args = ["synthesize", "--checkpoint", str(ws / "model.pt"), "--out", str(out), "--mri"]
    def intensity_warnings():
        return [r for r in caplog.records if r.name == "gla_model.intensity"]

    with caplog.at_level(logging.WARNING, logger="gla_model.intensity"):
        assert main([*args, str(_t1w(ws, "cn0"))]) == 0  # a training subject: no warning
        assert not intensity_warnings()
        assert main([*args, str(_scaled(ws, 0.8))]) == 0
    assert out.is_file()
    (warning,) = intensity_warnings()
    assert re.search(r"brain intensities outside those of the 4 training T1w by more than "
                     r"0\.05 \(brain median 0\.4, training 0\.497 to 0\.5; 99th percentile "
                     r"0\.792, training 0\.99 to 0\.99\)", warning.getMessage())


def test_a_checkpoint_without_intensities_checks_the_range_only(ws, caplog, capsys):
    record = torch.load(ws / "model.pt", weights_only=True)
    del record["t1w_intensity"]
    torch.save(record, ws / "old.pt")
    args = ["synthesize", "--checkpoint", str(ws / "old.pt"), "--out", str(ws / "o.nii.gz")]
    with caplog.at_level(logging.WARNING):
        assert main([*args, "--mri", str(_scaled(ws, 0.3))]) == 0
    assert "records no intensities of its training T1w" in caplog.text
    assert main([*args, "--mri", str(_scaled(ws, 1000.0))]) == 2
    assert "has intensities outside [0, 1]" in capsys.readouterr().err


def _other_model(ws, *, fold: str, variant: str = "v") -> Path:
    """A second model of the fold ``fold`` (other weights; its training subjects recorded)."""
    folds = pd.read_csv(ws / "folds.tsv", sep="\t")
    record = torch.load(ws / "model.pt", weights_only=True)
    torch.manual_seed(1)
    record |= {"generator_state": build_model(spec=SPEC, grid=GRID).generator.state_dict(),
               "fold": fold, "variant": variant,
               "training_subjects": sorted(folds.loc[folds[f"role_fold{fold}"] == "train",
                                                     "participant_id"])}
    path = ws / f"model_{variant}_{fold}.pt"
    torch.save(record, path)
    return path


def _by_hand_members(synthesize, mri: np.ndarray) -> list[np.ndarray]:
    """The identity, the left-right mirror and the +-1 voxel shifts of ``mri`` through
    ``synthesize``, each brought back (NaN where a shift leaves nothing), written out
    independently of gla_model.uncertainty.members."""
    members = [synthesize(mri), synthesize(mri[::-1].copy())[::-1]]
    for axis in range(3):
        moved = np.moveaxis(mri, axis, 0)
        for step in (1, -1):
            shifted = np.zeros_like(moved)
            if step == 1:
                shifted[1:] = moved[:-1]
            else:
                shifted[:-1] = moved[1:]
            out = np.moveaxis(synthesize(np.moveaxis(shifted, 0, axis)), axis, 0)
            back = np.full_like(out, np.nan)
            if step == 1:
                back[:-1] = out[1:]
            else:
                back[1:] = out[:-1]
            members.append(np.moveaxis(back, 0, axis))
    return members


def test_fold_mode_writes_an_sd_map_of_the_members_beside_each_pet(ws):
    """The SD map equals the SD over the 8 members computed by hand (fp32 CPU), has the PET's
    header, and uncertainty.tsv sums it up in the brain; the PET is the plain prediction."""
    fp32 = job_settings(training__device="cpu", training__precision="fp32", **TTA)
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--folds",
                 str(ws / "folds.tsv"), "--fold", "0", "--preproc-dir", str(ws / "preprocess"),
                 "--out-dir", str(ws / "f0"), "--settings", fp32]) == 0
    table = pd.read_csv(ws / "f0" / "uncertainty.tsv", sep="\t", dtype={"participant_id": str})
    folds = pd.read_csv(ws / "folds.tsv", sep="\t")
    assert sorted(table["participant_id"]) == sorted(
        folds.loc[folds["role_fold0"] == "test", "participant_id"])
    synthesize = load_synthesizer(checkpoint=ws / "model.pt", device="cpu", precision="fp32",
                                  threads=1)
    pid = table["participant_id"].iloc[0]
    mri = nib.load(_t1w(ws, pid)).get_fdata(dtype=np.float32)
    sd_image = nib.load(ws / "f0" / f"sub-{pid}_desc-synthsd_pet.nii.gz")
    pet_image = nib.load(ws / "f0" / f"sub-{pid}_desc-synth_pet.nii.gz")
    assert sd_image.get_data_dtype() == np.float32
    assert sd_image.header["descrip"] == pet_image.header["descrip"] == b"test header"
    np.testing.assert_allclose(sd_image.affine, pet_image.affine)
    np.testing.assert_array_equal(np.asarray(pet_image.dataobj), synthesize(mri))
    expected = np.nanstd(np.stack(_by_hand_members(synthesize, mri)), axis=0, ddof=1)
    sd = np.asarray(sd_image.dataobj)
    np.testing.assert_allclose(sd, expected, rtol=1e-4, atol=1e-7)
    assert (sd > 0).all()
    row = table.iloc[0]
    assert row["model"] == "fold-0" and row["n_members"] == 8
    assert row["sd_mean"] == pytest.approx(sd.mean(dtype=np.float64), rel=1e-6)
    # one valid model, a fold model: the same members
    assert row["sd_primary"] == row["sd_fold_models"] == row["sd_mean"]
    assert np.isfinite(row["input_typicality"]) and row["typicality_threshold"] > 0
    assert not row["out_of_distribution"]


def test_mri_only_subjects_take_every_valid_model(ws):
    """Two models that never saw mo1: 16 members; sd_primary is the primary's 8 alone."""
    member = _other_model(ws, fold="1")
    fp32 = job_settings(training__device="cpu", training__precision="fp32", **TTA)
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--member-checkpoints",
                 str(member), "--cohort", str(ws / "cohort.tsv"), "--preproc-dir",
                 str(ws / "preprocess"), "--out-dir", str(ws / "mo"), "--settings", fp32]) == 0
    row = pd.read_csv(ws / "mo" / "uncertainty.tsv", sep="\t").iloc[0]
    assert row["n_members"] == 16
    mri = nib.load(_t1w(ws, "mo1")).get_fdata(dtype=np.float32)
    models = [load_synthesizer(checkpoint=c, device="cpu", precision="fp32", threads=1)
              for c in (ws / "model.pt", member)]
    primary, other = (_by_hand_members(model, mri) for model in models)
    every = primary + other
    sd = np.asarray(nib.load(ws / "mo" / "sub-mo1_desc-synthsd_pet.nii.gz").dataobj)
    np.testing.assert_allclose(sd, np.nanstd(np.stack(every), axis=0, ddof=1), rtol=1e-4,
                               atol=1e-7)
    assert row["sd_primary"] == pytest.approx(
        np.nanstd(np.stack(primary), axis=0, ddof=1).mean(), rel=1e-4)
    assert row["sd_mean"] == pytest.approx(sd.mean(dtype=np.float64), rel=1e-6)
    assert row["sd_mean"] > row["sd_primary"]  # two unrelated models disagree more
    assert row["sd_fold_models"] == pytest.approx(np.mean(  # both are fold models
        [np.nanstd(np.stack(own), axis=0, ddof=1).mean() for own in (primary, other)]),
        rel=1e-4)


def test_a_member_that_trained_on_a_test_subject_is_refused(ws, capsys):
    """Fold 1's model trained on fold 0's test subjects: it cannot score them."""
    args = ["synthesize", "--checkpoint", str(ws / "model.pt"), "--folds", str(ws / "folds.tsv"),
            "--fold", "0", "--preproc-dir", str(ws / "preprocess"), "--out-dir", str(ws / "f0"),
            "--member-checkpoints", str(_other_model(ws, fold="1"))]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "estimator members must never have seen the subjects they score" in error
    assert "model_v_1.pt trained on" in error
    assert not (ws / "f0").exists()


def test_members_must_be_one_variant(ws, capsys):
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--member-checkpoints",
                 str(_other_model(ws, fold="1", variant="w")), "--cohort",
                 str(ws / "cohort.tsv"), "--preproc-dir", str(ws / "preprocess"),
                 "--out-dir", str(ws / "mo")]) == 2
    assert "an estimator's models must be one variant on one grid" in capsys.readouterr().err


def test_sd_map_beside_a_single_output_and_hand_run_defaults(ws, shipped_settings):
    """--out names the SD map after the PET; a run without --settings augments as
    config.yaml does."""
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--mri",
                 str(_t1w(ws, "cn0")), "--out", str(ws / "o" / "x.nii.gz")]) == 0
    assert sorted(p.name for p in (ws / "o").iterdir()) == [
        "uncertainty.tsv", "x.nii.gz", "x_desc-synthsd.nii.gz"]
    row = pd.read_csv(ws / "o" / "uncertainty.tsv", sep="\t", keep_default_na=False).iloc[0]
    assert row["participant_id"] == "cn0" and row["out_of_distribution"] == "n/a"
    assert sd_path_beside(Path("sub-1_desc-synth_pet.nii.gz")) == Path(
        "sub-1_desc-synthsd_pet.nii.gz")
    shipped = shipped_settings.uncertainty
    assert {"tta_flip": shipped.tta_flip, "tta_shift": shipped.tta_shift} == HAND_RUN_TTA
    assert row["n_members"] == 8  # the identity, the mirror, +-1 voxel along 3 axes
