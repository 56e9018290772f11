"""The epoch loop: resume, train, validate, select, checkpoint, history."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from gla_model import __version__
from gla_model.checkpoint import FORMAT, MODEL_KIND, STATE_KIND, load_checkpoint, save_atomic
from gla_model.train.volumes import PairedVolumes
from gla_model.device import Runtime, resolve_runtime
from gla_model.errors import CheckpointError, TrainingError
from gla_model.losses import RoiLoss
from gla_model.nets import ModelBundle, build_model
from gla_model.nets.factory import VariantSpec
from gla_model.niftiio import write_text_atomic
from gla_model.resources import AAL_REGION_COUNT
from gla_model.train.config import TrainingConfig
from gla_model.train.steps import Optimisers, train_step, validation_terms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingJob:
    """Everything one (variant, fold) training run needs."""

    variant: str
    spec: Mapping[str, Any]
    config: TrainingConfig
    fold: str
    subjects: Mapping[str, list[str]]  # train / val / test (test is never read)
    preproc_dir: Path
    atlas: np.ndarray | None  # labels on the grid, needed when the roi weight is > 0
    out_dir: Path
    grid: int

    def fingerprint(self) -> str:
        """Hash of what must match for ``last.pt`` to be resumed (``epochs`` only when the
        learning rate depends on it, so a constant-rate run can be extended)."""
        config = self.config.as_dict()
        if self.config.lr_schedule == "constant":
            del config["epochs"]
        atlas = (hashlib.sha256(np.ascontiguousarray(self.atlas)).hexdigest()
                 if self.atlas is not None else None)
        text = json.dumps({"variant": self.variant, "spec": self.spec, "config": config,
                           "fold": self.fold, "train": self.subjects["train"],
                           "val": self.subjects["val"], "grid": self.grid, "atlas": atlas},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)),
                                                      pos, has_gauss, cached],
            "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _optimisers(bundle: ModelBundle, config: TrainingConfig, runtime: Runtime) -> Optimisers:
    def adam(modules):
        params = [p for m in modules for p in m.parameters()]
        return torch.optim.Adam(params, lr=config.lr, betas=(config.beta1, config.beta2))

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


def _model_record(job: TrainingJob, *, state: dict[str, Any], epoch: int,
                  val_loss: float | None, selection: str) -> dict[str, Any]:
    return {"kind": MODEL_KIND, "format": FORMAT, "code_version": __version__,
            "variant": job.variant, "spec": dict(job.spec), "grid": job.grid, "fold": job.fold,
            "generator_state": state, "epoch": epoch, "val_loss": val_loss,
            "selection": selection, "training_subjects": list(job.subjects["train"]),
            "validation_subjects": list(job.subjects["val"]),
            "training_config": job.config.as_dict()}


def _write_history(history: list[dict[str, Any]], path: Path) -> None:
    table = pd.DataFrame(history)
    write_text_atomic(table.to_csv(sep="\t", index=False), path)


def _resume_state(job: TrainingJob, path: Path) -> dict[str, Any] | None:
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


def run_training(*, job: TrainingJob, threads: int,
                 on_epoch_end: Callable[[int], None] | None = None) -> Path:
    """Train (or resume) ``job``; returns the path of the selected ``model.pt``.

    ``on_epoch_end(epoch)`` runs after each epoch's checkpoint is written (tests use it to
    interrupt a run).
    """
    torch.set_num_threads(threads)
    config = job.config
    runtime = resolve_runtime(device=config.device, precision=config.precision)
    weights = VariantSpec.from_dict(job.spec).losses
    _seed_everything(config.seed)
    bundle = runtime.prepare(build_model(spec=job.spec, grid=job.grid))
    optimisers = _optimisers(bundle, config, runtime)
    roi = None
    if weights.roi > 0:
        roi = RoiLoss(atlas=job.atlas, n_regions=AAL_REGION_COUNT).to(runtime.device)
    train = PairedVolumes(preproc_dir=job.preproc_dir, subjects=list(job.subjects["train"]),
                          grid=job.grid, preload=config.preload)
    val = PairedVolumes(preproc_dir=job.preproc_dir, subjects=list(job.subjects["val"]),
                        grid=job.grid, preload=config.preload)
    last_path, model_path = job.out_dir / "last.pt", job.out_dir / "model.pt"
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"loss": None, "epoch": 0, "state": None}
    start = 0
    state = _resume_state(job, last_path)
    if state is not None:
        bundle.load_state_dict(state["model"])
        optimisers.generator.load_state_dict(state["optimiser_generator"])
        if optimisers.discriminator is not None:
            optimisers.discriminator.load_state_dict(state["optimiser_discriminator"])
        optimisers.scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        history, best, start = state["history"], state["best"], state["epoch"]
        log.info("resuming %s fold %s after epoch %d", job.variant, job.fold, start)
    else:
        model_path.unlink(missing_ok=True)  # from another run; never mix runs
    if not val:
        log.warning("fold %s has no validation subjects: the last epoch is kept", job.fold)
    progress = tqdm(range(start, config.epochs), initial=start, total=config.epochs,
                    desc=f"{job.variant} fold {job.fold}", unit="epoch", disable=None)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    for epoch in progress:
        bundle.train()
        rows = []
        for step, indices in enumerate(_batches(len(train), batch_size=config.batch_size,
                                                seed=config.seed, epoch=epoch),
                                       start=epoch * steps_per_epoch):
            optimisers.set_lr(config.learning_rate(step=step,
                                                   total_steps=config.epochs * steps_per_epoch))
            mri, pet, _ = (runtime.to_input(t) for t in train.batch(indices))
            terms = train_step(bundle=bundle, mri=mri, pet=pet, weights=weights, roi=roi,
                               optimisers=optimisers, runtime=runtime)
            if not math.isfinite(terms["total"]):
                precision = ("" if runtime.precision == "fp32" else
                             f", or set training.precision: fp32 (it ran in {runtime.precision})")
                raise TrainingError(
                    f"{job.variant} fold {job.fold}: the training loss became {terms['total']} "
                    f"in epoch {epoch + 1} ({terms}); lower training.lr{precision}")
            rows.append((len(indices), terms))
        history.append({"epoch": epoch + 1, "split": "train", **_mean_rows(rows)})
        if val and ((epoch + 1) % config.val_every == 0 or epoch + 1 == config.epochs):
            bundle.eval()
            rows = []
            for i in range(0, len(val), config.batch_size):
                indices = list(range(i, min(i + config.batch_size, len(val))))
                mri, pet, mask = (runtime.to_input(t) for t in val.batch(indices))
                rows.append((len(indices), validation_terms(bundle=bundle, mri=mri, pet=pet,
                                                            mask=mask, weights=weights, roi=roi,
                                                            runtime=runtime)))
            scores = _mean_rows(rows)
            history.append({"epoch": epoch + 1, "split": "val", **scores})
            if best["loss"] is None or scores["loss"] < best["loss"]:
                best = {"loss": scores["loss"], "epoch": epoch + 1,
                        "state": copy.deepcopy(bundle.generator.state_dict())}
                save_atomic(_model_record(job, state=best["state"], epoch=epoch + 1,
                                          val_loss=scores["loss"],
                                          selection="lowest validation loss"), model_path)
        elif not val:
            save_atomic(_model_record(job, state=bundle.generator.state_dict(), epoch=epoch + 1,
                                      val_loss=None, selection="last epoch (no validation "
                                      "subjects)"), model_path)
        _write_history(history, job.out_dir / "history.tsv")
        save_atomic({
            "kind": STATE_KIND, "format": FORMAT, "code_version": __version__,
            "fingerprint": job.fingerprint(), "epoch": epoch + 1,
            "model": bundle.state_dict(),
            "optimiser_generator": optimisers.generator.state_dict(),
            "optimiser_discriminator": (optimisers.discriminator.state_dict()
                                        if optimisers.discriminator is not None else None),
            "scaler": optimisers.scaler.state_dict(), "rng": _rng_state(),
            "history": history, "best": best,
        }, last_path)
        train_row = history[-1] if history[-1]["split"] == "train" else history[-2]
        log.info("epoch %d/%d train total %.4f%s", epoch + 1, config.epochs, train_row["total"],
                 f" val loss {history[-1]['loss']:.4f}" if history[-1]["split"] == "val" else "")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
    if not model_path.is_file():
        if best["state"] is None:
            raise CheckpointError(f"{last_path} holds no selected model; delete it and retrain")
        save_atomic(_model_record(job, state=best["state"], epoch=best["epoch"],
                                  val_loss=best["loss"], selection="lowest validation loss"),
                    model_path)
    return model_path
