"""`gla-model synthesize`: synthetic FDG-PET from preprocessed T1w MRI with a trained model.

Input: T1-weighted images preprocessed by `gla-model preprocess` (skull-stripped,
intensity-normalised to [0, 1], in MNI space on the model grid, e.g. 64^3 at the
2 mm MNI box resized; the affine must be that grid's). An image of another shape
or affine is refused with a message saying so; nothing is resampled silently.

Output: one float32 NIfTI per input, same affine and header as the T1w, with PET in
the training scale (SUVR divided by the preprocessing factor, values in [0, 1]).
Files are written atomically.

Modes:
  one image    --checkpoint C --mri sub-X_..._T1w.nii.gz --out sub-X_desc-synth_pet.nii.gz
  many images  --checkpoint C --mri A B C --out-dir DIR   (or --mri-list FILE, one path a line)
               writes DIR/sub-<id>_desc-synth_pet.nii.gz (the id is read from the file name)
  test fold    --checkpoint C --folds folds.tsv --fold K --preproc-dir P --out-dir DIR
               the fold's test subjects; refused if any of them trained the model
  MRI-only     --checkpoint C --cohort cohort.tsv --group mri_only --preproc-dir P --out-dir DIR
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from torch import nn

from gla_model.checkpoint import load_model
from gla_model.train.volumes import load_volume, subject_files
from gla_model.device import Runtime, resolve_runtime
from gla_model.errors import CohortError, ConfigError, InputImageError, LeakageError
from gla_model.folds import fold_subjects, read_folds
from gla_model.niftiio import load_image, write_image_atomic
from gla_model.resources import model_grid

log = logging.getLogger(__name__)
SUBJECT_RE = re.compile(r"sub-([A-Za-z0-9]+)")


def output_name(*, mri: Path) -> str:
    """``sub-<id>_desc-synth_pet.nii.gz`` for an input named ``sub-<id>_...``."""
    match = SUBJECT_RE.match(Path(mri).name)
    if match is None:
        raise InputImageError(f"cannot read a subject id from {mri}; name inputs sub-<id>_*.nii.gz "
                              "or use --out for a single image")
    return f"sub-{match.group(1)}_desc-synth_pet.nii.gz"


def synthesize_image(*, generator: nn.Module, grid: int, runtime: Runtime, mri: Path,
                     out: Path) -> Path:
    """Synthesize PET for one preprocessed T1w and write it beside the input's geometry.

    ``generator`` is in eval mode and prepared for ``runtime`` (:meth:`Runtime.prepare`).
    """
    image = load_image(mri, role="T1w")
    volume = load_volume(mri, role="T1w", grid=grid)
    _, affine = model_grid(size=grid)
    if not np.allclose(image.affine, affine, atol=1e-3):
        raise InputImageError(f"T1w image {mri} is not on the {grid}^3 model grid "
                              "(affine differs); preprocess it with `gla-model preprocess`")
    with torch.no_grad(), runtime.autocast():
        pet = generator(runtime.to_input(volume[None]))
    data = pet.float().cpu().numpy()[0, 0].astype(np.float32)
    header = image.header.copy()
    header.set_data_dtype(np.float32)
    header.set_slope_inter(1.0, 0.0)
    return write_image_atomic(nib.Nifti1Image(data, image.affine, header), out)


def _selected_subjects(args: argparse.Namespace, record: dict) -> list[str]:
    if args.folds is not None:
        subjects = fold_subjects(folds=read_folds(args.folds), fold=args.fold)["test"]
        trained = set(record["training_subjects"]) | set(record["validation_subjects"])
        leaked = sorted(set(subjects) & trained)
        if leaked:
            raise LeakageError(f"test subjects {leaked} of fold {args.fold} were used to train "
                               f"{args.checkpoint}; use that fold's own checkpoint")
        return subjects
    if not args.cohort.is_file():
        raise CohortError(f"cohort table {args.cohort} does not exist")
    cohort = pd.read_csv(args.cohort, sep="\t", dtype={"participant_id": str})
    if "group" not in cohort.columns:
        raise CohortError(f"{args.cohort} has no 'group' column")
    return sorted(cohort.loc[cohort["group"] == args.group, "participant_id"])


def _jobs(args: argparse.Namespace, record: dict) -> list[tuple[Path, Path]]:
    if args.folds is not None or args.cohort is not None:
        if args.preproc_dir is None or args.out_dir is None:
            raise ConfigError("--folds/--cohort need --preproc-dir and --out-dir")
        return [(subject_files(preproc_dir=args.preproc_dir, participant_id=s).t1w,
                 args.out_dir / f"sub-{s}_desc-synth_pet.nii.gz")
                for s in _selected_subjects(args, record)]
    inputs = list(args.mri or [])
    if args.mri_list is not None:
        if not args.mri_list.is_file():
            raise ConfigError(f"--mri-list {args.mri_list} does not exist")
        inputs += [Path(line.strip()) for line in args.mri_list.read_text().splitlines()
                   if line.strip()]
    if not inputs:
        raise ConfigError("give --mri, --mri-list, --folds/--fold or --cohort/--group")
    if args.out is not None:
        if len(inputs) != 1 or args.out_dir is not None:
            raise ConfigError("--out takes exactly one --mri; use --out-dir for several")
        return [(inputs[0], args.out)]
    if args.out_dir is None:
        raise ConfigError("give --out for one image or --out-dir for several")
    return [(mri, args.out_dir / output_name(mri=mri)) for mri in inputs]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help="model.pt written by `gla-model train`")
    parser.add_argument("--mri", nargs="+", type=Path,
                        help="preprocessed T1w image(s) on the model grid")
    parser.add_argument("--mri-list", type=Path, help="text file with one T1w path per line")
    parser.add_argument("--out", type=Path, help="output NIfTI for a single --mri")
    parser.add_argument("--out-dir", type=Path,
                        help="output folder (sub-<id>_desc-synth_pet.nii.gz per subject)")
    parser.add_argument("--folds", type=Path, help="folds.tsv: synthesize a fold's test subjects")
    parser.add_argument("--fold", help="fold index with --folds")
    parser.add_argument("--cohort", type=Path, help="cohort.tsv: synthesize a group's subjects")
    parser.add_argument("--group", default="mri_only", help="cohort group (default mri_only)")
    parser.add_argument("--preproc-dir", type=Path, help="folder of preprocessed sub-<id>/")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")


def run_command(args: argparse.Namespace) -> None:
    if args.folds is not None and args.fold is None:
        raise ConfigError("--folds needs --fold")
    if args.folds is not None and args.cohort is not None:
        raise ConfigError("give --folds or --cohort, not both")
    torch.set_num_threads(max(1, args.threads))
    bundle, record = load_model(args.checkpoint)
    jobs = _jobs(args, record)
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    runtime = resolve_runtime(device=args.device, precision=args.precision)
    generator = runtime.prepare(bundle.generator).eval()
    for mri, out in jobs:
        synthesize_image(generator=generator, grid=bundle.grid, runtime=runtime, mri=mri,
                         out=out)
        log.info("wrote %s", out)
