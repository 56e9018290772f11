"""Trainer: CLI end to end, overfitting, exact resume, settings, schedule, checkpoints."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from gla_model.checkpoint import MODEL_KIND, STATE_KIND, load_checkpoint, load_model
from gla_model.cli import main
from gla_model.errors import CheckpointError, ConfigError
from gla_model.folds import make_folds
from gla_model.layout import preprocessed_path
from gla_model.resources import model_grid
from gla_model.settings import (
    RESOURCE_KEYS,
    LossWeights,
    ModelSpec,
    TrainingSettings,
    job_settings,
    job_value,
    load_config,
    without_resources,
)
from gla_model.train.command import build_job, configure_parser
from gla_model.train.loop import run_training
from gla_model.train.schedule import learning_rate

GRID = 32
SPEC = {"arch": "glagan", "k_patches": 2, "width": 0.125,
        "losses": {"l1": 1.0, "ms_ssim": 0.5, "roi": 1.0, "adv": 0.01}}
#: The training settings these tests run with.
TRAINING = {"epochs": 2, "batch_size": 2, "lr": 1e-3, "lr_schedule": "constant", "beta1": 0.5,
            "beta2": 0.999, "seed": 3, "device": "cpu", "precision": "auto", "val_every": 1,
            "preload": True}


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
        for field, data, dtype in (("t1w", mri, np.float32), ("pet", pet, np.float32),
                                   ("mask", mask, np.uint8)):
            path = preprocessed_path(preproc_dir=root, participant_id=pid, field=field)
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(data.astype(dtype), affine), path)
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


@pytest.fixture
def training_settings(default_settings):
    """``training`` of the repo config with :data:`TRAINING` and ``values`` over it."""
    def build(**values) -> TrainingSettings:
        return dataclasses.replace(default_settings.training, **{**TRAINING, **values})

    return build


@pytest.fixture
def train_args(workspace, training_settings, default_settings):
    """``gla-model train`` arguments (the Snakemake rule's contract) writing into ``out``."""
    preprocessing = without_resources(default_settings.preprocessing)
    assert preprocessing["grid"] == GRID

    def build(out: Path, *, spec=SPEC, fold="0", threads="1", **training) -> list[str]:
        settings = job_settings(**{"models__variants__v": spec,
                                   "training": without_resources(training_settings(**training)),
                                   "preprocessing": preprocessing})
        return ["train", "--settings", settings, "--threads", threads, "--variant", "v",
                "--folds", str(workspace / "folds.tsv"), "--fold", fold,
                "--preproc-dir", str(workspace / "preprocess"),
                "--atlas", str(workspace / "preprocess" / "atlas-AAL_space-MNI_dseg.nii.gz"),
                "--checkpoint", str(out / "model.pt"), "--history", str(out / "history.tsv")]

    return build


@pytest.fixture
def job(train_args):
    """The :class:`TrainingJob` that ``gla-model train`` would run."""
    def build(out: Path, **kwargs):
        parser = argparse.ArgumentParser()
        configure_parser(parser)
        return build_job(parser.parse_args(train_args(out, **kwargs)[1:]))

    return build


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_train_cli_writes_model_history_and_state(workspace, train_args, default_settings):
    out = workspace / "train" / "v" / "fold-0"
    assert main(train_args(out)) == 0
    record = load_checkpoint(out / "model.pt", kind=MODEL_KIND)
    folds = pd.read_csv(workspace / "folds.tsv", sep="\t")
    test_ids = set(folds.loc[folds["role_fold0"] == "test", "participant_id"])
    assert record["grid"] == GRID and record["variant"] == "v"
    trained = record["training_subjects"] + record["validation_subjects"]
    assert not test_ids & set(trained)
    # what synthesis from a raw T1w needs: the preprocessing settings, no job resources
    assert record["preprocessing"] == without_resources(default_settings.preprocessing)
    # and what every input is checked against: the T1w intensities of the training data
    stats = []
    for pid in trained:
        path = preprocessed_path(preproc_dir=workspace / "preprocess", participant_id=pid,
                                 field="t1w")
        data = nib.load(path).get_fdata(dtype=np.float32)
        stats.append(np.percentile(data[data != 0].astype(np.float64), [50, 99]))
    low, high = np.min(stats, axis=0), np.max(stats, axis=0)
    intensity = record["t1w_intensity"]
    assert intensity["subjects"] == len(trained) == 5  # 10 subjects, 2 folds, 1/4 validation
    np.testing.assert_allclose([intensity["median"], intensity["p99"]],
                               np.stack([low, high], axis=1), rtol=1e-12)
    history = pd.read_csv(out / "history.tsv", sep="\t")
    assert list(history["split"]) == ["train", "val", "train", "val"]
    for column in ("l1", "ms_ssim", "roi", "adv", "d", "total"):
        assert history.loc[history["split"] == "train", column].notna().all()
    assert history.loc[history["split"] == "val", "loss"].notna().all()
    bundle, _ = load_model(out / "model.pt")
    assert bundle.generator(torch.rand(1, 1, GRID, GRID, GRID)).shape == (1, 1, GRID, GRID, GRID)


def test_train_cli_writes_exactly_the_declared_outputs(workspace, train_args):
    """The rule's contract: model and history where the rule says, the state beside the
    model, nothing else."""
    args = train_args(workspace / "unused", epochs=1)
    checkpoint, history = workspace / "out" / "models" / "m.pt", workspace / "out" / "h.tsv"
    args[args.index("--checkpoint") + 1] = str(checkpoint)
    args[args.index("--history") + 1] = str(history)
    assert main(args) == 0
    written = {p.relative_to(workspace / "out") for p in (workspace / "out").rglob("*")
               if p.is_file()}
    assert written == {Path("models/m.pt"), Path("models/last.pt"), Path("h.tsv")}
    assert not (workspace / "unused").exists()
    assert load_checkpoint(checkpoint, kind=MODEL_KIND)["epoch"] == 1
    assert list(pd.read_csv(history, sep="\t")["split"]) == ["train", "val"]


def test_record_and_fingerprint_hold_the_spec_and_training_without_threads(job, workspace):
    one, four = job(workspace / "a", threads="1"), job(workspace / "a", threads="4")
    assert (one.training.threads, four.training.threads) == (1, 4)
    assert one.fingerprint() == four.fingerprint()
    assert one.spec == ModelSpec(arch="glagan", k_patches=2, width=0.125,
                                 losses=LossWeights(l1=1.0, ms_ssim=0.5, roi=1.0, adv=0.01))
    assert one.state_path == workspace / "a" / "last.pt"
    assert "threads" not in one.training.as_dict()


def test_preprocessing_settings_are_required_and_must_match_the_images(workspace, train_args,
                                                                      job, capsys):
    args = train_args(workspace / "x")
    settings = json.loads(args[args.index("--settings") + 1])
    assert job(workspace / "x").preprocessing.grid == GRID
    for change, message in (
            ({"preprocessing": None}, "--settings lacks 'preprocessing'"),
            ({"preprocessing": {**settings["preprocessing"], "grid": 64}},
             f"are on a {GRID}\\^3 grid, but --settings has preprocessing.grid: 64"),
            ({"preprocessing": {**settings["preprocessing"], "backend": "spm"}},
             "'preprocessing.backend': 'spm' is not one of")):
        changed = {key: value for key, value in {**settings, **change}.items()
                   if value is not None}
        args[args.index("--settings") + 1] = json.dumps(changed)
        assert main(args) == 2
        assert re.search(message, capsys.readouterr().err)
    assert not (workspace / "x").exists()


def test_other_preprocessing_settings_do_not_resume_a_run(job, workspace):
    base = job(workspace / "a")
    other = dataclasses.replace(base, preprocessing=dataclasses.replace(
        base.preprocessing, reference_region="pons"))
    rethreaded = dataclasses.replace(base, preprocessing=dataclasses.replace(
        base.preprocessing, threads=8))
    assert other.fingerprint() != base.fingerprint() == rethreaded.fingerprint()


def test_checkpoint_history_and_state_must_differ(workspace, train_args):
    args = train_args(workspace / "x")
    args[args.index("--checkpoint") + 1] = str(workspace / "x" / "last.pt")
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    with pytest.raises(ConfigError, match="must be three different files"):
        build_job(parser.parse_args(args[1:]))


@pytest.mark.slow
def test_interrupted_run_resumes_to_identical_weights(workspace, job, interrupted_then_resumed):
    straight, resumed = workspace / "straight", workspace / "resumed"
    run_training(job=job(straight, epochs=3))

    interrupted_then_resumed(
        lambda on_epoch_end: run_training(job=job(resumed, epochs=3), on_epoch_end=on_epoch_end),
        resumed / "last.pt")
    a, b = _weights(straight / "last.pt"), _weights(resumed / "last.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    pd.testing.assert_frame_equal(pd.read_csv(straight / "history.tsv", sep="\t"),
                                  pd.read_csv(resumed / "history.tsv", sep="\t"))


def test_changed_spec_starts_over(workspace, train_args):
    out = workspace / "run"
    assert main(train_args(out, epochs=1)) == 0
    other = {**SPEC, "losses": {**SPEC["losses"], "l1": 2.0}}
    assert main(train_args(out, spec=other, epochs=1)) == 0
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1


@pytest.mark.slow
def test_tiny_generator_overfits_two_volumes(workspace, train_args):
    ids = ["cn00", "ad00"]
    folds = pd.DataFrame({"participant_id": ids, "diagnosis": ["CN", "AD"], "fold": [0, 1],
                          "role_fold0": ["test", "train"], "role_fold1": ["train", "test"],
                          "role_full": ["train", "train"]})
    folds.to_csv(workspace / "two.tsv", sep="\t", index=False)
    spec = {"arch": "glagan", "k_patches": 2, "width": 0.125,
            "losses": {"l1": 1.0}}
    args = train_args(workspace / "fit", spec=spec, epochs=60, fold="full", lr=3e-3,
                      batch_size=2)
    args[args.index("--folds") + 1] = str(workspace / "two.tsv")
    assert main(args) == 0
    history = pd.read_csv(workspace / "fit" / "history.tsv", sep="\t")
    l1 = history["l1"].to_numpy()
    assert l1[-1] < 0.35 * l1[0]
    assert l1[-1] < 0.05


@pytest.mark.parametrize(("training", "match"), [
    ({"epochs": 0}, "'training.epochs': 0 must be >= 1"),
    ({"epochs": "3"}, "'training.epochs': '3' is not an integer"),
    ({"batch_size": 1.5}, "'training.batch_size': 1.5 is not an integer"),
    ({"lr": -1}, "'training.lr': -1.0 must be > 0"),
    ({"beta1": 1.0}, "'training.beta1': 1.0 must be < 1"),
    ({"device": "tpu"}, "'training.device': 'tpu' is not one of"),
    ({"precision": "int8"}, "'training.precision': 'int8' is not one of"),
    ({"preload": "yes"}, "'training.preload': 'yes' is not true or false"),
    ({"unknown": 1}, r"'training': unknown keys \['unknown'\]"),
])
def test_bad_training_config_raises(default_settings, training, match):
    payload = {"training": {**without_resources(default_settings.training), **training}}
    with pytest.raises(ConfigError, match=match):
        job_value(payload, "training", threads=1)


def test_bad_threads_are_a_clear_cli_error(workspace, train_args, capsys):
    assert main(train_args(workspace / "x", threads="0")) == 2
    assert "'training.threads': 0 must be >= 1" in capsys.readouterr().err


def test_warmup_cosine_rises_to_the_peak_then_decays_to_zero(training_settings):
    training = training_settings(lr=4e-3, lr_schedule="warmup_cosine")
    rates = [learning_rate(training=training, step=step, total_steps=200)
             for step in range(200)]
    peak = rates.index(max(rates))
    assert rates[0] == pytest.approx(4e-3 / 25)
    assert peak == 20 and rates[peak] == pytest.approx(4e-3)
    assert all(a <= b for a, b in itertools.pairwise(rates[:peak + 1]))
    assert all(a >= b for a, b in itertools.pairwise(rates[peak:]))
    assert 0 < rates[-1] < 1e-6
    constant = training_settings(lr=4e-3, lr_schedule="constant")
    assert {learning_rate(training=constant, step=s, total_steps=200)
            for s in (0, 100, 199)} == {4e-3}


def test_bad_lr_schedule_raises(default_settings, training_settings):
    payload = {"training": {**without_resources(default_settings.training),
                            "lr_schedule": "cosine"}}
    with pytest.raises(ConfigError, match="lr_schedule"):
        job_value(payload, "training", threads=1)
    with pytest.raises(ValueError, match=r"unknown training\.lr_schedule 'cosine'"):
        learning_rate(training=training_settings(lr_schedule="cosine"), step=0, total_steps=1)


@pytest.mark.parametrize(("schedule", "resumable"), [("constant", True),
                                                     ("warmup_cosine", False)])
def test_more_epochs_resume_only_when_the_rate_does_not_depend_on_them(
        workspace, job, schedule, resumable):
    def fingerprint(epochs):
        return job(workspace / "x", epochs=epochs, lr_schedule=schedule).fingerprint()

    assert (fingerprint(2) == fingerprint(5)) is resumable


def test_a_non_finite_loss_stops_training_with_a_clear_error(workspace, train_args,
                                                            monkeypatch, capsys):
    from gla_model.train import loop

    real_step = loop.train_step

    def diverging_step(**kwargs):
        return {**real_step(**kwargs), "total": float("nan")}

    monkeypatch.setattr(loop, "train_step", diverging_step)
    assert main(train_args(workspace / "nan", epochs=1)) != 0
    error = capsys.readouterr().err
    assert "v fold 0: the training loss became nan in epoch 1" in error
    assert "training.lr" in error


def test_the_paper_preset_trains_with_the_papers_settings(config_file, repo_root):
    """The paper's optimisation settings (Sec. III-B) live in workflow/presets/paper.yaml;
    config.yaml alone holds the demo's (the trainer has no defaults of its own)."""
    config = load_config(paths=[config_file, repo_root / "workflow" / "presets" / "paper.yaml"])
    training = job_value({"training": config["training"]}, "training")
    assert (training.batch_size, training.beta1, training.lr) == (4, 0.1, 2e-5)
    assert training.lr_schedule == "constant"


def test_train_help_lists_only_keys_the_settings_accept(capsys):
    with pytest.raises(SystemExit, match="0"):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())

    def listed(section: str) -> set[str]:
        found = re.search(rf'"{re.escape(section)}" \(([^)]*)\)', text)
        assert found is not None, f"--help does not list the keys of {section}"
        return {key.strip() for key in found.group(1).split(",")}

    def names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    spec = names(ModelSpec) - {"losses"} | {f"losses.{name}" for name in names(LossWeights)}
    assert listed("models.variants.NAME") == spec
    assert listed("training") == names(TrainingSettings) - set(RESOURCE_KEYS)
    assert "adversarial" not in text


def test_wrong_checkpoints_fail_clearly(workspace, train_args, tmp_path):
    out = workspace / "run"
    assert main(train_args(out, epochs=1)) == 0
    with pytest.raises(CheckpointError, match=r"is the training state \(last\.pt\) .* pass "
                       rf"the selected model beside it, {re.escape(str(out / 'model.pt'))}$"):
        load_model(out / "last.pt")
    with pytest.raises(CheckpointError, match=r"is a trained model \(model\.pt\), not a "
                                              r"training state; pass the last\.pt"):
        load_checkpoint(out / "model.pt", kind=STATE_KIND)
    record = torch.load(out / "model.pt", weights_only=True)
    for change, message in (({"code_version": "0.0.0"}, "written by gla-model 0.0.0"),
                            ({"spec": {**SPEC, "k_patches": 4}}, "does not match"),
                            ({"spec": {**SPEC, "k_patches": 3}}, "k_patches': 3 is not one of"),
                            ({"grid": 40}, "grid")):
        torch.save({**record, **change}, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match=message):
            load_model(tmp_path / "bad.pt")


def test_train_cli_reports_bad_spec(workspace, train_args, capsys):
    bad = {**SPEC, "k_patches": 3}
    assert main(train_args(workspace / "x", spec=bad)) == 2
    assert "k_patches" in capsys.readouterr().err
