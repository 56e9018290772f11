"""`gla-model train`: train one model variant on one fold (or on every paired subject).

Writes ``--checkpoint`` (``model.pt``: the generator with the lowest validation loss, its
spec, grid, code version, subject lists, the ``preprocessing`` settings that made the data
and the intensity ranges of the training T1w, which synthesis checks its inputs against)
and ``--history`` (``history.tsv``: one row per epoch and split with every loss term), both
exactly where given, and ``last.pt`` beside the checkpoint: the full training state,
rewritten atomically after every epoch; a rerun with the same spec, training and
preprocessing settings and fold resumes from it and ends with the same weights as an
uninterrupted run.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from gla_model.errors import ConfigError, InputImageError
from gla_model.folds import fold_subjects, read_folds
from gla_model.layout import training_state
from gla_model.nets import validate_grid
from gla_model.settings import (
    RESOURCE_KEYS,
    LossWeights,
    ModelSpec,
    TrainingSettings,
    job_value,
    read_job_settings,
)
from gla_model.train.loop import TrainingJob, run_training
from gla_model.train.volumes import load_volume, subject_files


def settings_keys() -> dict[str, list[str]]:
    """The keys ``--settings`` takes, by section, from the settings fields themselves
    (the job resources, ``threads``, come as their own arguments)."""
    spec = [f.name for f in dataclasses.fields(ModelSpec) if f.name != "losses"]
    spec += [f"losses.{f.name}" for f in dataclasses.fields(LossWeights)]
    training = [f.name for f in dataclasses.fields(TrainingSettings)
                if f.name not in RESOURCE_KEYS]
    return {"models.variants.NAME": spec, "training": training}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sections = ", ".join(f'"{key}" ({", ".join(names)})'
                         for key, names in settings_keys().items())
    sections += ' and "preprocessing" (the whole section but threads, recorded in model.pt)'
    parser.add_argument("--settings", required=True, metavar="JSON",
                        help=f"the job's settings as a JSON object (or a JSON file) with the "
                             f"config keys {sections}; see gla_model.settings.job_settings")
    parser.add_argument("--threads", required=True, type=int,
                        help="CPU threads (training.threads)")
    parser.add_argument("--variant", required=True,
                        help="variant name NAME (config models.variants)")
    parser.add_argument("--folds", required=True, type=Path, help="folds.tsv")
    parser.add_argument("--fold", required=True, help="fold index 0..k-1, or 'full'")
    parser.add_argument("--preproc-dir", required=True, type=Path,
                        help="folder with sub-<id>/ preprocessed images")
    parser.add_argument("--atlas", required=True, type=Path,
                        help="AAL label image on the model grid (for the ROI loss)")
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help="model.pt to write (last.pt is kept beside it)")
    parser.add_argument("--history", required=True, type=Path, help="history.tsv to write")


def build_job(args: argparse.Namespace) -> TrainingJob:
    """Validate the CLI arguments into a :class:`TrainingJob` (runs the leakage guard)."""
    payload = read_job_settings(args.settings)
    spec = job_value(payload, f"models.variants.{args.variant}", as_type=ModelSpec)
    training = job_value(payload, "training", threads=args.threads)
    preprocessing = job_value(payload, "preprocessing", threads=1)  # threads: not recorded
    state = training_state(checkpoint=args.checkpoint)
    if len({path.resolve() for path in (args.checkpoint, args.history, state)}) < 3:
        raise ConfigError(f"--checkpoint {args.checkpoint}, --history {args.history} and the "
                          f"training state {state} must be three different files")
    subjects = fold_subjects(folds=read_folds(args.folds), fold=args.fold)
    if not subjects["train"]:
        raise ConfigError(f"fold {args.fold} of {args.folds} has no training subjects")
    grid = _model_grid(preproc_dir=args.preproc_dir, participant_id=subjects["train"][0])
    if preprocessing.grid != grid:
        raise ConfigError(f"the images in --preproc-dir {args.preproc_dir} are on a {grid}^3 "
                          f"grid, but --settings has preprocessing.grid: {preprocessing.grid}; "
                          "pass the preprocessing settings that made them")
    atlas = None
    if spec.losses.roi > 0:
        atlas = np.rint(load_volume(args.atlas, role="atlas", grid=grid)[0].numpy())
        atlas = atlas.astype(np.int64)
    return TrainingJob(variant=args.variant, spec=spec, training=training, fold=str(args.fold),
                       subjects=subjects, preproc_dir=args.preproc_dir, atlas=atlas, grid=grid,
                       checkpoint=args.checkpoint, history=args.history,
                       preprocessing=preprocessing)


def _model_grid(*, preproc_dir: Path, participant_id: str) -> int:
    """The grid of the preprocessed images (that of the first training subject's T1w)."""
    t1w = subject_files(preproc_dir=preproc_dir, participant_id=participant_id).t1w
    shape = load_volume(t1w, role="T1w").shape[1:]
    if len(set(shape)) != 1:
        raise InputImageError(f"{t1w} has shape {tuple(shape)}; the model grid is cubic")
    return validate_grid(int(shape[0]))


def run_command(args: argparse.Namespace) -> None:
    run_training(job=build_job(args))
