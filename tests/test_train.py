"""Trainer: CLI end to end, overfitting, exact resume, config validation, checkpoints."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from gla_model.checkpoint import MODEL_KIND, load_checkpoint, load_model
from gla_model.cli import main
from gla_model.errors import CheckpointError, ConfigError
from gla_model.folds import make_folds
from gla_model.resources import model_grid
from gla_model.train import build_job, configure_parser
from gla_model.train.config import TrainingConfig
from gla_model.train.loop import run_training

GRID = 32
SPEC = {"arch": "glagan", "k_patches": 2, "width": 0.125,
        "losses": {"l1": 1.0, "ms_ssim": 0.5, "roi": 1.0, "adv": 0.01}}


def make_preproc(root: Path, ids: list[str], *, grid: int = GRID, seed: int = 0) -> None:
    """Synthetic preprocessed subjects: smooth blobs, PET a monotone function of the MRI."""
    rng = np.random.default_rng(seed)
    _, affine = model_grid(size=grid)
    zz, yy, xx = np.mgrid[:grid, :grid, :grid] / grid
    mask = ((zz - 0.5) ** 2 + (yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.16).astype(np.float32)
    for pid in ids:
        shift = rng.uniform(-0.1, 0.1, 3)
        mri = mask * (0.5 + 0.5 * np.sin(6 * (zz + shift[0])) * np.cos(5 * (yy + shift[1])))
        pet = mask * np.clip(1.0 - mri + 0.2 * xx, 0, 1)
        folder = root / f"sub-{pid}"
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"sub-{pid}_space-MNI"
        for suffix, data in (("desc-preproc_T1w", mri), ("desc-preproc_pet", pet)):
            nib.save(nib.Nifti1Image(data.astype(np.float32), affine), f"{stem}_{suffix}.nii.gz")
        nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine),
                 f"{stem}_desc-brain_mask.nii.gz")
    labels = (1 + (zz * 4).astype(int) * 16 + (yy * 4).astype(int) * 4 + (xx * 4).astype(int))
    nib.save(nib.Nifti1Image((labels * (mask > 0)).astype(np.int16), affine),
             root / "atlas-AAL_space-MNI_dseg.nii.gz")


@pytest.fixture
def workspace(tmp_path):
    ids = [f"{d}{i:02d}" for d in ("cn", "ad") for i in range(5)]
    make_preproc(tmp_path / "preprocess", ids)
    subjects = pd.DataFrame({"participant_id": ids, "diagnosis": ["CN"] * 5 + ["AD"] * 5})
    folds = make_folds(subjects=subjects, n_folds=2, val_fraction=0.25, seed=0)
    folds.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    return tmp_path


def train_args(ws: Path, out: Path, *, spec=SPEC, epochs=2, fold="0", **training) -> list[str]:
    config = {"epochs": epochs, "batch_size": 2, "lr": 1e-3, "beta1": 0.5, "seed": 3,
              "device": "cpu", **training}
    return ["train", "--variant", "v", "--variant-spec", json.dumps(spec),
            "--training", json.dumps(config), "--folds", str(ws / "folds.tsv"),
            "--fold", fold, "--preproc-dir", str(ws / "preprocess"),
            "--atlas", str(ws / "preprocess" / "atlas-AAL_space-MNI_dseg.nii.gz"),
            "--out-dir", str(out), "--threads", "1"]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_train_cli_writes_model_history_and_state(workspace):
    out = workspace / "train" / "v" / "fold-0"
    assert main(train_args(workspace, out)) == 0
    record = load_checkpoint(out / "model.pt", kind=MODEL_KIND)
    folds = pd.read_csv(workspace / "folds.tsv", sep="\t")
    test_ids = set(folds.loc[folds["role_fold0"] == "test", "participant_id"])
    assert record["grid"] == GRID and record["variant"] == "v"
    assert not test_ids & set(record["training_subjects"] + record["validation_subjects"])
    history = pd.read_csv(out / "history.tsv", sep="\t")
    assert list(history["split"]) == ["train", "val", "train", "val"]
    for column in ("l1", "ms_ssim", "roi", "adv", "d", "total"):
        assert history.loc[history["split"] == "train", column].notna().all()
    assert history.loc[history["split"] == "val", "loss"].notna().all()
    bundle, _ = load_model(out / "model.pt")
    assert bundle.generator(torch.rand(1, 1, GRID, GRID, GRID)).shape == (1, 1, GRID, GRID, GRID)


@pytest.mark.slow
def test_interrupted_run_resumes_to_identical_weights(workspace):
    def job(out):
        parser = argparse.ArgumentParser()
        configure_parser(parser)
        return build_job(parser.parse_args(train_args(workspace, out, epochs=3)[1:]))

    straight, resumed = workspace / "straight", workspace / "resumed"
    run_training(job=job(straight), threads=1)

    class Killed(Exception):
        pass

    def kill_after_first(epoch):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        run_training(job=job(resumed), threads=1, on_epoch_end=kill_after_first)
    assert torch.load(resumed / "last.pt", weights_only=True)["epoch"] == 1
    run_training(job=job(resumed), threads=1)
    a, b = _weights(straight / "last.pt"), _weights(resumed / "last.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    pd.testing.assert_frame_equal(pd.read_csv(straight / "history.tsv", sep="\t"),
                                  pd.read_csv(resumed / "history.tsv", sep="\t"))


def test_changed_spec_starts_over(workspace):
    out = workspace / "run"
    assert main(train_args(workspace, out, epochs=1)) == 0
    other = {**SPEC, "losses": {**SPEC["losses"], "l1": 2.0}}
    assert main(train_args(workspace, out, spec=other, epochs=1)) == 0
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1


@pytest.mark.slow
def test_tiny_generator_overfits_two_volumes(workspace):
    ids = ["cn00", "ad00"]
    folds = pd.DataFrame({"participant_id": ids, "diagnosis": ["CN", "AD"], "fold": [0, 1],
                          "role_full": ["train", "train"]})
    folds.to_csv(workspace / "two.tsv", sep="\t", index=False)
    spec = {"arch": "glagan", "k_patches": 2, "width": 0.125,
            "losses": {"l1": 1.0}}
    args = train_args(workspace, workspace / "fit", spec=spec, epochs=60, fold="full",
                      lr=3e-3, batch_size=2)
    args[args.index("--folds") + 1] = str(workspace / "two.tsv")
    assert main(args) == 0
    history = pd.read_csv(workspace / "fit" / "history.tsv", sep="\t")
    l1 = history["l1"].to_numpy()
    assert l1[-1] < 0.35 * l1[0]
    assert l1[-1] < 0.05


@pytest.mark.parametrize("training", [
    {"epochs": 0}, {"epochs": "3"}, {"batch_size": 1.5}, {"lr": -1}, {"beta1": 1.0},
    {"device": "tpu"}, {"precision": "int8"}, {"preload": "yes"}, {"unknown": 1},
])
def test_bad_training_config_raises(training):
    with pytest.raises(ConfigError):
        TrainingConfig.from_dict(training)


def test_warmup_cosine_rises_to_the_peak_then_decays_to_zero():
    config = TrainingConfig.from_dict({"lr": 4e-3, "lr_schedule": "warmup_cosine"})
    rates = [config.learning_rate(step=step, total_steps=200) for step in range(200)]
    peak = rates.index(max(rates))
    assert rates[0] == pytest.approx(4e-3 / 25)
    assert peak == 20 and rates[peak] == pytest.approx(4e-3)
    assert all(a <= b for a, b in itertools.pairwise(rates[:peak + 1]))
    assert all(a >= b for a, b in itertools.pairwise(rates[peak:]))
    assert 0 < rates[-1] < 1e-6
    constant = TrainingConfig.from_dict({"lr": 4e-3})
    assert {constant.learning_rate(step=s, total_steps=200) for s in (0, 100, 199)} == {4e-3}


def test_bad_lr_schedule_raises():
    with pytest.raises(ConfigError, match="lr_schedule"):
        TrainingConfig.from_dict({"lr_schedule": "cosine"})


@pytest.mark.parametrize(("schedule", "resumable"), [("constant", True),
                                                     ("warmup_cosine", False)])
def test_more_epochs_resume_only_when_the_rate_does_not_depend_on_them(
        workspace, schedule, resumable):
    def fingerprint(epochs):
        parser = argparse.ArgumentParser()
        configure_parser(parser)
        args = train_args(workspace, workspace / "x", epochs=epochs, lr_schedule=schedule)
        return build_job(parser.parse_args(args[1:])).fingerprint()

    assert (fingerprint(2) == fingerprint(5)) is resumable


def test_a_non_finite_loss_stops_training_with_a_clear_error(workspace, monkeypatch, capsys):
    from gla_model.train import loop

    real_step = loop.train_step

    def diverging_step(**kwargs):
        return {**real_step(**kwargs), "total": float("nan")}

    monkeypatch.setattr(loop, "train_step", diverging_step)
    assert main(train_args(workspace, workspace / "nan", epochs=1)) != 0
    error = capsys.readouterr().err
    assert "v fold 0: the training loss became nan in epoch 1" in error
    assert "training.lr" in error


def test_training_config_defaults_are_the_paper_and_none_is_forgiven():
    config = TrainingConfig.from_dict({"epochs": None, "lr": 1})
    assert (config.batch_size, config.beta1, config.lr) == (4, 0.1, 1.0)
    assert config.lr_schedule == "constant"


def test_wrong_checkpoints_fail_clearly(workspace, tmp_path):
    out = workspace / "run"
    assert main(train_args(workspace, out, epochs=1)) == 0
    with pytest.raises(CheckpointError, match="not a gla-model/model"):
        load_model(out / "last.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_model(junk)
    record = torch.load(out / "model.pt", weights_only=True)
    for change, message in (({"code_version": "0.0.0"}, "written by gla-model 0.0.0"),
                            ({"spec": {**SPEC, "k_patches": 4}}, "does not match"),
                            ({"grid": 40}, "grid")):
        torch.save({**record, **change}, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match=message):
            load_model(tmp_path / "bad.pt")


def test_train_cli_reports_bad_spec(workspace, capsys):
    bad = {**SPEC, "k_patches": 3}
    assert main(train_args(workspace, workspace / "x", spec=bad)) == 2
    assert "k_patches" in capsys.readouterr().err
