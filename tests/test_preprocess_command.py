"""`gla-model preprocess`: atomic outputs, failure notes, and a real run on a demo subject."""

import dataclasses
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gla_model.cli import main
from gla_model.demo_cohort.write import write_demo_cohort
from gla_model.layout import failure_note, preprocessed_names, sidecar_names
from gla_model.preprocess import command
from gla_model.preprocess.xfm import read_xfm, resample_to_native
from gla_model.settings import build_settings, job_settings, load_config, without_resources

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = build_settings(config=load_config(paths=[ROOT / "config.yaml"])).preprocessing


def _args(out_dir, t1w, pet=None, participant_id="demo001", grid=32, backend="ants", threads=1):
    settings = dataclasses.replace(SETTINGS, grid=grid, backend=backend)
    args = ["preprocess", "--settings", job_settings(preprocessing=settings),
            "--threads", str(threads), "--participant-id", participant_id, "--t1w", str(t1w),
            "--out-dir", str(out_dir)]
    return args + (["--pet", str(pet)] if pet else [])


def failure_path(*, out_dir, participant_id):
    return failure_note(preproc_dir=Path(out_dir).resolve().parent,
                        participant_id=participant_id)


def test_bad_input_leaves_no_outputs_and_a_failure_note(tmp_path, capsys):
    t1w = tmp_path / "t1.nii.gz"
    t1w.write_text("garbage")
    out_dir = tmp_path / "preprocess" / "sub-01"
    out_dir.mkdir(parents=True)
    (out_dir / "stale.nii.gz").write_text("old")
    assert main(_args(out_dir, t1w, participant_id="01")) == 2
    assert "sub-01" in capsys.readouterr().err
    assert not out_dir.exists()
    note = failure_path(out_dir=out_dir, participant_id="01")
    assert note == tmp_path / "preprocess" / "failures" / "sub-01.txt"
    assert "not a readable NIfTI" in note.read_text()
    assert [p.name for p in (tmp_path / "preprocess").iterdir()] == ["failures"]


def test_missing_fsl_tools_fail_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    out_dir = tmp_path / "sub-01"
    args = _args(out_dir, tmp_path / "t1.nii.gz", participant_id="01", backend="fsl")
    assert main(args) == 2
    assert "preprocessing.backend: ants" in capsys.readouterr().err


@pytest.mark.parametrize("with_threads", [True, False])
def test_threads_option_replaces_the_settings_threads(tmp_path, monkeypatch, with_threads):
    calls = []
    monkeypatch.setattr(command, "preprocess_subject", lambda **kwargs: calls.append(kwargs) or {})
    args = _args(tmp_path / "sub-01", tmp_path / "t1.nii.gz", participant_id="01", threads=3)
    if not with_threads:  # a rule may leave the job resource out of the settings
        args[args.index("--settings") + 1] = job_settings(
            preprocessing=without_resources(SETTINGS))
    assert main(args) == 0
    assert calls[0]["settings"] == dataclasses.replace(SETTINGS, threads=3)
    assert calls[0]["pet"] is None and calls[0]["work_dir"] is None


def test_the_pet_window_setting_reaches_the_frame_averaging_node(tmp_path, monkeypatch):
    from gla_model.preprocess.workflow import init_preprocess_wf

    calls = []
    monkeypatch.setattr(command, "preprocess_subject", lambda **kwargs: calls.append(kwargs) or {})
    args = _args(tmp_path / "sub-01", tmp_path / "t1.nii.gz", participant_id="01")
    window = dataclasses.replace(SETTINGS, pet_window_min=(30.0, 60.0))
    args[args.index("--settings") + 1] = job_settings(preprocessing=without_resources(window))
    assert main(args) == 0
    settings = calls[0]["settings"]
    assert settings.pet_window_min == (30.0, 60.0)
    workflow = init_preprocess_wf(participant_id="01", has_pet=True, settings=settings)
    assert workflow.get_node("load_inputs").inputs.pet_window_min == [30.0, 60.0]


def test_settings_without_the_preprocessing_key_are_rejected(tmp_path, capsys):
    args = _args(tmp_path / "sub-01", tmp_path / "t1.nii.gz", participant_id="01")
    args[args.index("--settings") + 1] = '{"preprocessing.grid": 32}'
    assert main(args) == 2
    assert "lacks 'preprocessing'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    write_demo_cohort(out_dir=root, n_paired=1, n_mri_only=0, seed=3)
    return root / "sub-demo001"


@pytest.mark.slow
def test_real_run_writes_every_output_and_clears_the_failure_note(demo, tmp_path):
    out_dir = tmp_path / "preprocess" / "sub-demo001"
    note = failure_path(out_dir=out_dir, participant_id="demo001")
    note.parent.mkdir(parents=True)
    note.write_text("old failure")
    t1w = demo / "anat" / "sub-demo001_T1w.nii.gz"
    pet = demo / "pet" / "sub-demo001_trc-FDG_pet.nii.gz"
    assert main(_args(out_dir, t1w, pet)) == 0
    assert not note.exists()
    names = preprocessed_names(participant_id="demo001", has_pet=True)
    sidecars = sidecar_names(participant_id="demo001", has_pet=True)
    written = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
    assert written == sorted([*names.values(), *sidecars.values()])
    mask = nib.load(out_dir / names["mask"])
    assert mask.shape == (32, 32, 32) and mask.get_data_dtype() == np.uint8
    brain = np.asarray(mask.dataobj) > 0
    for field in ("t1w", "pet", "gm", "wm", "csf"):
        image = nib.load(out_dir / names[field])
        data = image.get_fdata()
        assert image.get_data_dtype() == np.float32 and data.min() >= 0 and data.max() <= 1
        assert np.all(data[~brain] == 0) if field in ("t1w", "pet") else True
    tissue_sum = sum(nib.load(out_dir / names[t]).get_fdata() for t in ("gm", "wm", "csf"))
    assert np.median(tissue_sum[brain]) == pytest.approx(1.0, abs=0.05)
    pet_data = nib.load(out_dir / names["pet"]).get_fdata()
    gm = nib.load(out_dir / names["gm"]).get_fdata()
    assert pet_data[gm > 0.7].mean() > 1.5 * pet_data[brain & (gm < 0.2)].mean()  # FDG ~ GM
    qc = pd.read_csv(out_dir / names["qc_table"], sep="\t")
    assert len(qc) == 1 and qc.loc[0, "participant_id"] == "demo001"
    assert qc.loc[0, "t1w_template_ncc"] > 0.6 and 1000 < qc.loc[0, "brain_volume_ml"] < 2500
    pet_sidecar = json.loads((out_dir / sidecars["pet"]).read_text())
    assert pet_sidecar["Units"] == "SUVR/2.5" and pet_sidecar["ReferenceRegion"] == "cerebellum_gm"
    assert pet_sidecar["Sources"][0] == "bids:raw:sub-demo001/pet/sub-demo001_trc-FDG_pet.nii.gz"
    # the grid brain mask mapped back to the native T1w through the xfm output overlaps
    # the simulator's true native brain mask
    native = nib.load(t1w)
    truth = demo.parent / "derivatives" / "truth" / "sub-demo001"
    true_mask = nib.load(truth / "sub-demo001_space-T1w_desc-brain_mask.nii.gz").get_fdata() > 0
    back = resample_to_native(image=mask, reference=native,
                              xfm=read_xfm(path=out_dir / names["xfm"])).get_fdata() > 0.5
    dice = 2 * (back & true_mask).sum() / (back.sum() + true_mask.sum())
    assert dice > 0.9, dice


def test_a_failing_step_is_named_in_the_error(tmp_path, monkeypatch, capsys):
    from gla_model.preprocess import steps

    def broken(**_):
        raise ValueError("no bright tissue")

    monkeypatch.setattr(steps, "rough_brain", broken)
    t1w = tmp_path / "t1.nii.gz"
    data = np.random.default_rng(0).random((20, 20, 20)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), t1w)
    out_dir = tmp_path / "preprocess" / "sub-01"
    assert main(_args(out_dir, t1w, participant_id="01")) == 2
    error = capsys.readouterr().err
    assert "rough_skull_strip" in error and "no bright tissue" in error
    assert not out_dir.exists()
    assert "no bright tissue" in failure_path(out_dir=out_dir, participant_id="01").read_text()
