"""`gla-model train`: train one model variant on one fold (or on every paired subject).

Writes to ``--out-dir``: ``model.pt`` (the generator with the lowest validation loss,
its spec, grid, code version and subject lists), ``last.pt`` (the full training state,
rewritten atomically after every epoch; a rerun with the same spec, training config and
fold resumes from it and ends with the same weights as an uninterrupted run), and
``history.tsv`` (one row per epoch and split with every loss term).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from gla_model.train.volumes import load_volume, subject_files
from gla_model.errors import ConfigError, InputImageError
from gla_model.folds import fold_subjects, read_folds
from gla_model.nets import validate_grid
from gla_model.nets.factory import VariantSpec
from gla_model.train.config import TrainingConfig
from gla_model.train.loop import TrainingJob, run_training


def _json(text: str, *, what: str) -> Any:
    try:
        path = Path(text)
        return json.loads(path.read_text() if path.is_file() else text)
    except (json.JSONDecodeError, OSError) as error:
        raise ConfigError(f"--{what} is neither a JSON string nor a JSON file: {error}") from error


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--variant", required=True, help="variant name (config models.variants)")
    parser.add_argument("--variant-spec", required=True,
                        help="variant spec as JSON (or a JSON file): arch, k_patches, width, "
                             "adversarial, losses")
    parser.add_argument("--training", required=True,
                        help="training config as JSON (or a JSON file): epochs, batch_size, lr, "
                             "beta1, beta2, seed, device, precision, val_every, preload")
    parser.add_argument("--folds", required=True, type=Path, help="folds.tsv")
    parser.add_argument("--fold", required=True, help="fold index 0..k-1, or 'full'")
    parser.add_argument("--preproc-dir", required=True, type=Path,
                        help="folder with sub-<id>/ preprocessed images")
    parser.add_argument("--atlas", required=True, type=Path,
                        help="AAL label image on the model grid (for the ROI loss)")
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")


def build_job(args: argparse.Namespace) -> TrainingJob:
    """Validate the CLI arguments into a :class:`TrainingJob` (runs the leakage guard)."""
    spec = _json(args.variant_spec, what="variant-spec")
    weights = VariantSpec.from_dict(spec).losses
    config = TrainingConfig.from_dict(_json(args.training, what="training"))
    subjects = fold_subjects(folds=read_folds(args.folds), fold=args.fold)
    if not subjects["train"]:
        raise ConfigError(f"fold {args.fold} of {args.folds} has no training subjects")
    first = subject_files(preproc_dir=args.preproc_dir, participant_id=subjects["train"][0])
    shape = load_volume(first.t1w, role="T1w").shape[1:]
    if len(set(shape)) != 1:
        raise InputImageError(f"{first.t1w} has shape {tuple(shape)}; the model grid is cubic")
    grid = validate_grid(int(shape[0]))
    atlas = None
    if weights.roi > 0:
        atlas = np.rint(load_volume(args.atlas, role="atlas", grid=grid)[0].numpy())
        atlas = atlas.astype(np.int64)
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    return TrainingJob(variant=args.variant, spec=spec, config=config, fold=str(args.fold),
                       subjects=subjects, preproc_dir=args.preproc_dir, atlas=atlas,
                       out_dir=args.out_dir, grid=grid)


def run_command(args: argparse.Namespace) -> None:
    run_training(job=build_job(args), threads=args.threads)
