"""Synthesis CLI: single, batch, fold and cohort modes; geometry checks; leakage guard;
the in-memory synthesizer the report uses."""

from __future__ import annotations

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
from gla_model.nets import build_model
from gla_model.resources import model_grid
from gla_model.settings import LossWeights, ModelSpec, job_settings
from gla_model.synthesize import load_synthesizer, output_name

GRID = 32
SPEC = ModelSpec(arch="glagan", k_patches=2, width=0.125, losses=LossWeights(l1=1.0))
IDS = [f"{d}{i}" for d in ("cn", "ad") for i in range(3)]


@pytest.fixture
def ws(tmp_path):
    _, affine = model_grid(size=GRID)
    rng = np.random.default_rng(0)
    for pid in [*IDS, "mo1"]:
        folder = tmp_path / "preprocess" / f"sub-{pid}"
        folder.mkdir(parents=True)
        image = nib.Nifti1Image(rng.random((GRID,) * 3).astype(np.float32), affine)
        image.header["descrip"] = b"test header"
        nib.save(image, folder / f"sub-{pid}_space-MNI_desc-preproc_T1w.nii.gz")
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
              "selection": "test", "training_subjects": train, "validation_subjects": []}
    torch.save(record, tmp_path / "model.pt")
    subjects = [Subject(participant_id=pid, diagnosis="CN" if pid.startswith("cn") else "AD",
                        group="paired", session=None, t1w=Path(f"{pid}_T1w.nii.gz"),
                        pet=Path(f"{pid}_pet.nii.gz")) for pid in IDS]
    subjects.append(Subject(participant_id="mo1", diagnosis="AD", group="mri_only",
                            session=None, t1w=Path("mo1_T1w.nii.gz"), pet=None))
    write_cohort_table(cohort=Cohort(subjects=tuple(subjects)), path=tmp_path / "cohort.tsv")
    return tmp_path


def _t1w(ws, pid):
    return ws / "preprocess" / f"sub-{pid}" / f"sub-{pid}_space-MNI_desc-preproc_T1w.nii.gz"


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
        "sub-ad1_desc-synth_pet.nii.gz", "sub-cn0_desc-synth_pet.nii.gz",
        "sub-cn1_desc-synth_pet.nii.gz"]


def test_fold_mode_writes_test_subjects_and_guards_leakage(ws, capsys):
    folds = pd.read_csv(ws / "folds.tsv", sep="\t")
    test_ids = sorted(folds.loc[folds["role_fold0"] == "test", "participant_id"])
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--folds",
                 str(ws / "folds.tsv"), "--fold", "0", "--preproc-dir", str(ws / "preprocess"),
                 "--out-dir", str(ws / "f0")]) == 0
    assert sorted(p.name for p in (ws / "f0").iterdir()) == [
        f"sub-{i}_desc-synth_pet.nii.gz" for i in test_ids]
    assert main(["synthesize", "--checkpoint", str(ws / "model.pt"), "--folds",
                 str(ws / "folds.tsv"), "--fold", "1", "--preproc-dir", str(ws / "preprocess"),
                 "--out-dir", str(ws / "f1")]) == 2
    assert "were used to train" in capsys.readouterr().err


def test_cohort_mode_and_empty_selection(ws):
    args = ["synthesize", "--checkpoint", str(ws / "model.pt"), "--cohort",
            str(ws / "cohort.tsv"), "--preproc-dir", str(ws / "preprocess")]
    assert main([*args, "--out-dir", str(ws / "mo")]) == 0
    assert [p.name for p in (ws / "mo").iterdir()] == ["sub-mo1_desc-synth_pet.nii.gz"]
    assert main([*args, "--group", "nobody", "--out-dir", str(ws / "empty")]) == 0
    assert (ws / "empty").is_dir() and not list((ws / "empty").iterdir())


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
    fp32 = job_settings(training__device="cpu", training__precision="fp32")
    assert main([*args, "--out", str(ws / "fp32.nii.gz"), "--settings", fp32,
                 "--threads", "1"]) == 0
    assert nib.load(ws / "fp32.nii.gz").shape == (GRID,) * 3
    for settings, message in ((job_settings(training__device="tpu", training__precision="fp32"),
                               "config key 'training.device': 'tpu' is not one of"),
                              (job_settings(training__device="cpu"),
                               "--settings lacks 'training.precision'")):
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
    """The report's interpolation runs on the CPU in fp32: the same numbers as the bare
    eval-mode generator on a contiguous tensor."""
    synthesize = load_synthesizer(checkpoint=ws / "model.pt", device="cpu", precision="fp32",
                                  threads=None)
    bundle, _ = load_model(ws / "model.pt")
    mri = nib.load(_t1w(ws, "ad0")).get_fdata()
    with torch.no_grad():
        plain = bundle.generator(torch.from_numpy(mri.astype(np.float32))[None, None])
    np.testing.assert_array_equal(synthesize(mri), plain[0, 0].numpy())


def test_bf16_synthesis_writes_float32_pet_without_bf16_rounding(ws):
    """Autocast bf16 for the trunk, float32 for the output layer: the file holds float32
    with far more than bf16's ~257 distinct values, within 0.05 of the fp32 synthesis (the
    bf16 trunk differs; tests/test_nets.py checks the output layer to 1e-5)."""
    out = ws / "bf16.nii.gz"
    bf16 = job_settings(training__device="cpu", training__precision="bf16")
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
