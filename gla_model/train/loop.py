"""The epoch loop of one training run, one job per function: set up (:func:`start_session`),
resume (:func:`resume`), one epoch of training (:func:`train_epoch`), validation
(:func:`validate`), model selection and ``model.pt`` (:func:`keep_selected`), the
resumable state ``last.pt`` (:func:`save_state`) and ``history.tsv`` (:func:`write_history`);
:func:`run_training` strings them together.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from gla_model import __version__
from gla_model.checkpoint import FORMAT, MODEL_KIND, STATE_KIND, load_checkpoint, save_atomic
from gla_model.device import Runtime, resolve_runtime
from gla_model.errors import CheckpointError, TrainingError
from gla_model.intensity import training_intensity
from gla_model.layout import training_state
from gla_model.losses import RoiLoss
from gla_model.nets import ModelBundle, build_model
from gla_model.niftiio import write_text_atomic
from gla_model.resources import AAL_REGION_COUNT
from gla_model.settings import (
    ModelSpec,
    PreprocessingSettings,
    TrainingSettings,
    without_resources,
)
from gla_model.train.schedule import learning_rate
from gla_model.train.steps import Optimisers, train_step, validation_terms
from gla_model.train.volumes import PairedVolumes, load_volume

log = logging.getLogger(__name__)

SELECTED_BY_VALIDATION = "lowest validation loss"
SELECTED_LAST = "last epoch (no validation subjects)"


@dataclass(frozen=True)
class TrainingJob:
    """Everything one (variant, fold) training run needs.

    ``checkpoint`` (``model.pt``) and ``history`` (``history.tsv``) are written exactly
    where given; the resumable state lives beside the checkpoint
    (:func:`gla_model.layout.training_state`).
    """

    variant: str
    spec: ModelSpec
    training: TrainingSettings
    fold: str
    subjects: Mapping[str, list[str]]  # train / val / test (test is never read)
    preproc_dir: Path
    atlas: np.ndarray | None  # labels on the grid, needed when the roi weight is > 0
    grid: int
    checkpoint: Path
    history: Path
    #: The ``preprocessing`` settings that made the data, recorded in ``model.pt`` so that
    #: ``gla-model synthesize --t1w`` can preprocess a raw T1w the same way (None: not
    #: recorded; such a model synthesizes from preprocessed T1w only).
    preprocessing: PreprocessingSettings | None = None

    @property
    def state_path(self) -> Path:
        return training_state(checkpoint=self.checkpoint)

    def fingerprint(self) -> str:
        """Hash of what must match for ``last.pt`` to be resumed: variant, spec, training
        settings but threads (``epochs`` only when the learning rate depends on it, so a
        constant-rate run can be extended), fold, subjects, grid, atlas and preprocessing."""
        training = self.training.as_dict()
        if self.training.lr_schedule == "constant":
            del training["epochs"]
        atlas = (hashlib.sha256(np.ascontiguousarray(self.atlas)).hexdigest()
                 if self.atlas is not None else None)
        text = json.dumps({"variant": self.variant, "spec": self.spec.as_dict(),
                           "config": training, "fold": self.fold,
                           "train": self.subjects["train"], "val": self.subjects["val"],
                           "grid": self.grid, "atlas": atlas,
                           "preprocessing": self.recorded_preprocessing()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def recorded_preprocessing(self) -> dict[str, Any] | None:
        """The preprocessing settings as ``model.pt`` records them (no job resources)."""
        return None if self.preprocessing is None else without_resources(self.preprocessing)


@dataclass(frozen=True)
class Session:
    """The networks, optimisers and data of a run."""

    runtime: Runtime
    bundle: ModelBundle
    optimisers: Optimisers
    roi: RoiLoss | None
    train: PairedVolumes
    val: PairedVolumes
    #: :func:`gla_model.intensity.training_intensity` of the training and validation T1w.
    t1w_intensity: dict[str, Any]


@dataclass
class Progress:
    """What carries over from epoch to epoch (and is kept in ``last.pt``)."""

    epoch: int = 0  # epochs done
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"loss": None, "epoch": 0,
                                                          "state": None})


# ---------------------------------------------------------------- set-up and resume
def start_session(job: TrainingJob) -> Session:
    """Seed, build and place the networks, their optimisers, the ROI loss and the data."""
    training = job.training
    runtime = resolve_runtime(device=training.device, precision=training.precision)
    _seed_everything(training.seed)
    bundle = runtime.prepare(build_model(spec=job.spec, grid=job.grid))
    optimisers = _optimisers(bundle, training, runtime)
    roi = None
    if job.spec.losses.roi > 0:
        roi = RoiLoss(atlas=job.atlas, n_regions=AAL_REGION_COUNT).to(runtime.device)
    volumes = {split: PairedVolumes(preproc_dir=job.preproc_dir,
                                    subjects=list(job.subjects[split]), grid=job.grid,
                                    preload=training.preload) for split in ("train", "val")}
    t1w_intensity = training_intensity(volumes=(
        load_volume(files.t1w, role="T1w").numpy()[0]
        for split in volumes.values() for files in split.files))
    return Session(runtime=runtime, bundle=bundle, optimisers=optimisers, roi=roi,
                   t1w_intensity=t1w_intensity, **volumes)


def resume(job: TrainingJob, session: Session) -> Progress:
    """The progress kept in ``last.pt`` when it belongs to this job (networks, optimisers
    and random state restored), else a fresh start that removes a stale ``model.pt``."""
    state = _resumable_state(job)
    if state is None:
        job.checkpoint.unlink(missing_ok=True)  # from another run; never mix runs
        return Progress()
    session.bundle.load_state_dict(state["model"])
    session.optimisers.generator.load_state_dict(state["optimiser_generator"])
    if session.optimisers.discriminator is not None:
        session.optimisers.discriminator.load_state_dict(state["optimiser_discriminator"])
    session.optimisers.scaler.load_state_dict(state["scaler"])
    _set_rng_state(state["rng"])
    log.info("resuming %s fold %s after epoch %d", job.variant, job.fold, state["epoch"])
    return Progress(epoch=state["epoch"], history=state["history"], best=state["best"])


def _resumable_state(job: TrainingJob) -> dict[str, Any] | None:
    path = job.state_path
    if not path.is_file():
        return None
    try:
        state = load_checkpoint(path, kind=STATE_KIND)
    except CheckpointError as error:
        log.warning("ignoring %s and starting over: %s", path, error)
        return None
    if state.get("fingerprint") != job.fingerprint():
        log.warning("%s belongs to another variant spec, training config or fold; "
                    "starting over", path)
        return None
    return state


# ---------------------------------------------------------------- one epoch
def train_epoch(job: TrainingJob, session: Session, *, epoch: int) -> dict[str, float]:
    """Train one epoch (0-based ``epoch``); the batch-size-weighted mean of every term."""
    training, train = job.training, session.train
    steps_per_epoch = math.ceil(len(train) / training.batch_size)
    total_steps = training.epochs * steps_per_epoch
    session.bundle.train()
    rows = []
    for step, indices in enumerate(_batches(len(train), batch_size=training.batch_size,
                                            seed=training.seed, epoch=epoch),
                                   start=epoch * steps_per_epoch):
        session.optimisers.set_lr(learning_rate(training=training, step=step,
                                                total_steps=total_steps))
        mri, pet, _ = (session.runtime.to_input(t) for t in train.batch(indices))
        terms = train_step(bundle=session.bundle, mri=mri, pet=pet, weights=job.spec.losses,
                           roi=session.roi, optimisers=session.optimisers,
                           runtime=session.runtime)
        if not math.isfinite(terms["total"]):
            raise _diverged(job, session.runtime, epoch=epoch, terms=terms)
        rows.append((len(indices), terms))
    return _mean_rows(rows)


def validates_after(job: TrainingJob, session: Session, *, epoch: int) -> bool:
    """Whether to validate after 1-based ``epoch``: every ``val_every`` and the last one."""
    training = job.training
    return bool(session.val) and (epoch % training.val_every == 0 or epoch == training.epochs)


def validate(job: TrainingJob, session: Session) -> dict[str, float]:
    """Validation terms, ``loss`` (the selection criterion) and ``ssim_brain``, averaged
    over the validation subjects."""
    session.bundle.eval()
    val, batch_size = session.val, job.training.batch_size
    rows = []
    for i in range(0, len(val), batch_size):
        indices = list(range(i, min(i + batch_size, len(val))))
        mri, pet, mask = (session.runtime.to_input(t) for t in val.batch(indices))
        rows.append((len(indices), validation_terms(
            bundle=session.bundle, mri=mri, pet=pet, mask=mask, weights=job.spec.losses,
            roi=session.roi, runtime=session.runtime)))
    return _mean_rows(rows)


# ---------------------------------------------------------------- selection and files
def keep_selected(job: TrainingJob, session: Session, progress: Progress, *, epoch: int,
                  scores: dict[str, float] | None) -> None:
    """Write ``model.pt`` when 1-based ``epoch`` is the new best by validation loss, or
    after every epoch when the fold has no validation subjects (``scores`` is None then)."""
    if scores is None:
        save_atomic(_model_record(job, session, state=session.bundle.generator.state_dict(),
                                  epoch=epoch, val_loss=None, selection=SELECTED_LAST),
                    job.checkpoint)
        return
    best = progress.best
    if best["loss"] is not None and not scores["loss"] < best["loss"]:
        return
    progress.best = {"loss": scores["loss"], "epoch": epoch,
                     "state": copy.deepcopy(session.bundle.generator.state_dict())}
    save_atomic(_model_record(job, session, state=progress.best["state"], epoch=epoch,
                              val_loss=scores["loss"], selection=SELECTED_BY_VALIDATION),
                job.checkpoint)


def save_state(job: TrainingJob, session: Session, progress: Progress) -> None:
    """Write ``last.pt``: everything :func:`resume` needs to continue exactly."""
    optimisers = session.optimisers
    save_atomic({
        "kind": STATE_KIND, "format": FORMAT, "code_version": __version__,
        "fingerprint": job.fingerprint(), "epoch": progress.epoch,
        "model": session.bundle.state_dict(),
        "optimiser_generator": optimisers.generator.state_dict(),
        "optimiser_discriminator": (optimisers.discriminator.state_dict()
                                    if optimisers.discriminator is not None else None),
        "scaler": optimisers.scaler.state_dict(), "rng": _rng_state(),
        "history": progress.history, "best": progress.best,
    }, job.state_path)


def write_history(history: list[dict[str, Any]], path: Path) -> None:
    """``history.tsv``: one row per epoch and split with every loss term."""
    write_text_atomic(pd.DataFrame(history).to_csv(sep="\t", index=False), path)


def ensure_selected(job: TrainingJob, session: Session, progress: Progress) -> None:
    """Rewrite ``model.pt`` from ``last.pt``'s best state if it is missing (a run resumed
    after its last epoch)."""
    if job.checkpoint.is_file():
        return
    best = progress.best
    if best["state"] is None:
        raise CheckpointError(f"{job.state_path} holds no selected model; delete it and "
                              "retrain")
    save_atomic(_model_record(job, session, state=best["state"], epoch=best["epoch"],
                              val_loss=best["loss"], selection=SELECTED_BY_VALIDATION),
                job.checkpoint)


# ---------------------------------------------------------------- the run
def run_training(*, job: TrainingJob, on_epoch_end: Callable[[int], None] | None = None
                 ) -> Path:
    """Train (or resume) ``job`` on ``job.training.threads`` CPU threads; returns the path
    of the selected ``model.pt``.

    ``on_epoch_end(epoch)`` runs after each epoch's checkpoint is written (tests use it to
    interrupt a run).
    """
    torch.set_num_threads(job.training.threads)
    session = start_session(job)
    progress = resume(job, session)
    if not session.val:
        log.warning("fold %s has no validation subjects: the last epoch is kept", job.fold)
    epochs = job.training.epochs
    for epoch in tqdm(range(progress.epoch, epochs), initial=progress.epoch, total=epochs,
                      desc=f"{job.variant} fold {job.fold}", unit="epoch", disable=None):
        done = epoch + 1
        progress.history.append({"epoch": done, "split": "train",
                                 **train_epoch(job, session, epoch=epoch)})
        scores = None
        if validates_after(job, session, epoch=done):
            scores = validate(job, session)
            progress.history.append({"epoch": done, "split": "val", **scores})
        if scores is not None or not session.val:
            keep_selected(job, session, progress, epoch=done, scores=scores)
        write_history(progress.history, job.history)
        progress.epoch = done
        save_state(job, session, progress)
        _log_epoch(progress, epochs=epochs)
        if on_epoch_end is not None:
            on_epoch_end(done)
    ensure_selected(job, session, progress)
    return job.checkpoint


# ---------------------------------------------------------------- helpers
def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
            "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _optimisers(bundle: ModelBundle, training: TrainingSettings, runtime: Runtime
                ) -> Optimisers:
    def adam(modules):
        params = [p for m in modules for p in m.parameters()]
        return torch.optim.Adam(params, lr=training.lr, betas=(training.beta1, training.beta2))

    discriminators = bundle.discriminators()
    return Optimisers(
        generator=adam(bundle.generators()),
        discriminator=adam(discriminators) if discriminators else None,
        scaler=torch.amp.GradScaler(runtime.device.type, enabled=runtime.precision == "fp16"),
    )


def _batches(n: int, *, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """A shuffled order that depends only on (seed, epoch), so a resumed run sees the same."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return [order[i:i + batch_size].tolist() for i in range(0, n, batch_size)]


def _mean_rows(rows: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    total = sum(size for size, _ in rows)
    keys = rows[0][1].keys()
    return {k: sum(size * values[k] for size, values in rows) / total for k in keys}


def _diverged(job: TrainingJob, runtime: Runtime, *, epoch: int,
              terms: dict[str, float]) -> TrainingError:
    precision = ("" if runtime.precision == "fp32" else
                 f", or set training.precision: fp32 (it ran in {runtime.precision})")
    return TrainingError(
        f"{job.variant} fold {job.fold}: the training loss became {terms['total']} "
        f"in epoch {epoch + 1} ({terms}); lower training.lr{precision}")


def _model_record(job: TrainingJob, session: Session, *, state: dict[str, Any], epoch: int,
                  val_loss: float | None, selection: str) -> dict[str, Any]:
    return {"kind": MODEL_KIND, "format": FORMAT, "code_version": __version__,
            "variant": job.variant, "spec": job.spec.as_dict(), "grid": job.grid,
            "fold": job.fold, "generator_state": state, "epoch": epoch, "val_loss": val_loss,
            "selection": selection, "training_subjects": list(job.subjects["train"]),
            "validation_subjects": list(job.subjects["val"]),
            "training_config": job.training.as_dict(),
            "preprocessing": job.recorded_preprocessing(),
            "t1w_intensity": session.t1w_intensity}


def _log_epoch(progress: Progress, *, epochs: int) -> None:
    history = progress.history
    train_row = history[-1] if history[-1]["split"] == "train" else history[-2]
    val = f" val loss {history[-1]['loss']:.4f}" if history[-1]["split"] == "val" else ""
    log.info("epoch %d/%d train total %.4f%s", progress.epoch, epochs, train_row["total"], val)
