"""`gla-model synthesize`: synthetic FDG-PET from T1w MRI with a trained model.

Input: a raw T1w (--t1w: preprocessed here with the model's recorded settings, see
gla_model.synthesize_raw), or T1-weighted images preprocessed by `gla-model preprocess`
(skull-stripped, intensity-normalised to [0, 1], in MNI space on the model grid, e.g. 64^3
at the 2 mm MNI box resized; the affine must be that grid's). An image of another shape or
affine is refused with a message saying so; nothing is resampled silently. Every T1w is
checked against the intensities of the model's training T1w (gla_model.intensity): far
outside them is an error, moderately outside a logged warning.

Output: one float32 NIfTI per input, same affine and header as the T1w, with PET in
the training scale (SUVR divided by the preprocessing factor, values in [0, 1]), computed
by an output layer in float32 whatever the precision of the rest of the generator.
Files are written atomically.

Modes:
  raw T1w      --checkpoint C --t1w sub-X_T1w.nii.gz --out-dir DIR [--participant-id X]
               preprocesses it, writes the PET on the model grid and in the T1w's own
               space, and the transform used (see gla_model.synthesize_raw)
  one image    --checkpoint C --mri sub-X_..._T1w.nii.gz --out sub-X_desc-synth_pet.nii.gz
  many images  --checkpoint C --mri A B C --out-dir DIR   (or --mri-list FILE, one path a line)
               writes DIR/sub-<id>_desc-synth_pet.nii.gz (the id is read from the file name)
  test fold    --checkpoint C --folds folds.tsv --fold K --preproc-dir P --out-dir DIR
               the fold's test subjects; refused if any of them trained the model
  MRI-only     --checkpoint C --cohort cohort.tsv --group mri_only --preproc-dir P --out-dir DIR

Every mode takes --settings JSON (the keys "training.device" and "training.precision"; both
"auto" without it) and --threads N (torch threads; with --t1w also the preprocessing's).
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from torch import nn

from gla_model import vocabulary
from gla_model.checkpoint import load_model
from gla_model.cohort.table import group_members, read_cohort_table
from gla_model.device import Runtime, resolve_runtime
from gla_model.errors import ConfigError, InputImageError, LeakageError
from gla_model.folds import fold_subjects, read_folds
from gla_model.intensity import check_t1w_intensity
from gla_model.layout import preprocessed_path, synthetic_pet_name, synthetic_pet_path
from gla_model.niftiio import load_image, write_image_atomic
from gla_model.resources import model_grid
from gla_model.settings import job_value, read_job_settings
from gla_model.train.volumes import load_volume

log = logging.getLogger(__name__)
SUBJECT_RE = re.compile(r"sub-([A-Za-z0-9]+)")
#: The settings keys synthesis reads from ``--settings``.
RUNTIME_KEYS = ("training.device", "training.precision")


def output_name(*, mri: Path) -> str:
    """``sub-<id>_desc-synth_pet.nii.gz`` for an input named ``sub-<id>_...``."""
    match = SUBJECT_RE.match(Path(mri).name)
    if match is None:
        raise InputImageError(f"cannot read a subject id from {mri}; name inputs sub-<id>_*.nii.gz "
                              "or use --out for a single image")
    return synthetic_pet_name(participant_id=match.group(1))


def runtime_settings(payload: Mapping[str, Any] | None) -> dict[str, str]:
    """``device`` and ``precision`` from a job's settings (:data:`RUNTIME_KEYS`), both
    ``auto`` for a run by hand without ``--settings``."""
    if payload is None:
        return {"device": "auto", "precision": "auto"}
    return {key.rsplit(".", 1)[1]: job_value(payload, key) for key in RUNTIME_KEYS}


@dataclass(frozen=True)
class Synthesizer:
    """A trained generator, prepared for its runtime: ``synthesizer(mri) -> pet`` on arrays
    of the model grid, :meth:`image` on files (which also checks the affine)."""

    generator: nn.Module
    runtime: Runtime
    grid: int
    record: dict[str, Any]

    @property
    def t1w_intensity(self) -> dict[str, Any] | None:
        """The training T1w statistics the checkpoint records (None in older ones)."""
        return self.record.get("t1w_intensity")

    def __call__(self, mri: np.ndarray) -> np.ndarray:
        """PET (float32, training scale) for a preprocessed T1w array on the model grid."""
        volume = np.asarray(mri, dtype=np.float32)
        if volume.shape != (self.grid,) * 3:
            raise InputImageError(f"T1w array has shape {volume.shape}, expected "
                                  f"{self.grid}^3 (the model grid)")
        if not np.isfinite(volume).all():
            raise InputImageError("T1w array contains NaN or infinite values")
        check_t1w_intensity(volume, training=self.t1w_intensity, source="T1w array")
        return self._generate(torch.from_numpy(np.ascontiguousarray(volume))[None])

    def image(self, *, mri: Path, out: Path) -> Path:
        """Synthesize PET for one preprocessed T1w file and write it with the input's
        geometry and header."""
        return write_image_atomic(self.volume(mri=mri), out)

    def volume(self, *, mri: Path) -> nib.Nifti1Image:
        """The PET image of one preprocessed T1w file, with the input's geometry and
        header (checked: the model grid, intensities like the training T1w)."""
        image = load_image(mri, role="T1w")
        volume = load_volume(mri, role="T1w", grid=self.grid)
        _, affine = model_grid(size=self.grid)
        if not np.allclose(image.affine, affine, atol=1e-3):
            raise InputImageError(f"T1w image {mri} is not on the {self.grid}^3 model grid "
                                  "(affine differs); preprocess it with `gla-model preprocess` "
                                  "or pass the raw image with --t1w")
        check_t1w_intensity(volume[0].numpy(), training=self.t1w_intensity,
                            source=f"T1w image {mri}")
        data = self._generate(volume)
        header = image.header.copy()
        header.set_data_dtype(np.float32)
        header.set_slope_inter(1.0, 0.0)
        return nib.Nifti1Image(data, image.affine, header)

    def _generate(self, volume: torch.Tensor) -> np.ndarray:
        """(1, G, G, G) float32 MRI -> (G, G, G) float32 PET.

        The trunk follows the runtime's autocast; the generator's output layer and sigmoid
        run in float32 (:class:`gla_model.nets.blocks.Float32Conv3d`), so no value of the
        PET written, scored or featured is rounded to bf16 or fp16."""
        with torch.no_grad(), self.runtime.autocast():
            pet = self.generator(self.runtime.to_input(volume[None]))
        if pet.dtype != torch.float32:
            raise RuntimeError(f"the generator returned {pet.dtype}; its output layer must "
                               "compute in float32 (gla_model.nets.blocks.Float32Conv3d)")
        return pet.cpu().numpy()[0, 0].astype(np.float32)


def load_synthesizer(*, checkpoint: Path | str, device: str, precision: str,
                     threads: int | None) -> Synthesizer:
    """The generator of ``checkpoint`` (a ``model.pt``, checked by
    :func:`gla_model.checkpoint.load_model`) in eval mode on the resolved runtime.

    Args:
        device, precision: ``training.device`` and ``training.precision`` values.
        threads: CPU threads, or None to keep torch's current setting.

    The result maps a preprocessed T1w array on the model grid to a PET array
    (``Callable[[np.ndarray], np.ndarray]``); :meth:`Synthesizer.image` works on files.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    bundle, record = load_model(checkpoint)
    runtime = resolve_runtime(device=device, precision=precision)
    generator = runtime.prepare(bundle.generator).eval()
    if record.get("t1w_intensity") is None:
        log.warning("%s records no intensities of its training T1w (a hand-made or older "
                    "checkpoint): inputs are checked against [0, 1] only", checkpoint)
    return Synthesizer(generator=generator, runtime=runtime, grid=bundle.grid, record=record)


def _selected_subjects(args: argparse.Namespace, record: dict[str, Any]) -> list[str]:
    if args.folds is not None:
        subjects = fold_subjects(folds=read_folds(args.folds), fold=args.fold)["test"]
        trained = set(record["training_subjects"]) | set(record["validation_subjects"])
        leaked = sorted(set(subjects) & trained)
        if leaked:
            raise LeakageError(f"test subjects {leaked} of fold {args.fold} were used to train "
                               f"{args.checkpoint}; use that fold's own checkpoint")
        return subjects
    return group_members(read_cohort_table(path=args.cohort), args.group)


def _jobs(args: argparse.Namespace, record: dict[str, Any]) -> list[tuple[Path, Path]]:
    if args.folds is not None or args.cohort is not None:
        if args.preproc_dir is None or args.out_dir is None:
            raise ConfigError("--folds/--cohort need --preproc-dir and --out-dir")
        return [(preprocessed_path(preproc_dir=args.preproc_dir, participant_id=s, field="t1w"),
                 synthetic_pet_path(synth_dir=args.out_dir, participant_id=s))
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


def _raw_subject(args: argparse.Namespace) -> str | None:
    """The subject label of a --t1w run (None without --t1w), its options checked."""
    if args.t1w is None:
        if args.participant_id is not None:
            raise ConfigError("--participant-id goes with --t1w")
        return None
    others = [option for option, value in (("--mri", args.mri), ("--mri-list", args.mri_list),
                                           ("--folds", args.folds), ("--cohort", args.cohort),
                                           ("--out", args.out)) if value is not None]
    if others:
        raise ConfigError(f"--t1w takes one raw T1w and --out-dir; drop {', '.join(others)}")
    if args.out_dir is None:
        raise ConfigError("--t1w needs --out-dir (it writes the PET on the grid and in native "
                          "space, the transform and the preprocessing)")
    if args.participant_id is not None:
        if not re.fullmatch(r"[A-Za-z0-9]+", args.participant_id):
            raise ConfigError(f"--participant-id {args.participant_id!r}: letters and digits "
                              "only, without 'sub-'")
        return args.participant_id
    match = SUBJECT_RE.match(args.t1w.name)
    if match is None:
        raise InputImageError(f"cannot read a subject id from {args.t1w}; name it "
                              "sub-<id>_T1w.nii.gz or pass --participant-id")
    return match.group(1)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--settings", metavar="JSON",
                        help="the job's settings as a JSON object (or a JSON file) with the "
                             f"config keys {', '.join(RUNTIME_KEYS)} (both auto without it)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help="model.pt written by `gla-model train`")
    parser.add_argument("--t1w", type=Path,
                        help="a raw T1w image: preprocess it with the settings the checkpoint "
                             "records, write the PET on the grid and in native space "
                             "(needs --out-dir)")
    parser.add_argument("--participant-id",
                        help="with --t1w: the subject label for the output names (default: "
                             "read from a sub-<id>_ file name)")
    parser.add_argument("--mri", nargs="+", type=Path,
                        help="preprocessed T1w image(s) on the model grid")
    parser.add_argument("--mri-list", type=Path, help="text file with one T1w path per line")
    parser.add_argument("--out", type=Path, help="output NIfTI for a single --mri")
    parser.add_argument("--out-dir", type=Path,
                        help="output folder (sub-<id>_desc-synth_pet.nii.gz per subject)")
    parser.add_argument("--folds", type=Path, help="folds.tsv: synthesize a fold's test subjects")
    parser.add_argument("--fold", help="fold index with --folds")
    parser.add_argument("--cohort", type=Path, help="cohort.tsv: synthesize a group's subjects")
    parser.add_argument("--group", default=vocabulary.MRI_ONLY_SUBJECTS,
                        help=f"cohort group (default {vocabulary.MRI_ONLY_SUBJECTS})")
    parser.add_argument("--preproc-dir", type=Path, help="folder of preprocessed sub-<id>/")


def run_command(args: argparse.Namespace) -> None:
    if args.folds is not None and args.fold is None:
        raise ConfigError("--folds needs --fold")
    if args.folds is not None and args.cohort is not None:
        raise ConfigError("give --folds or --cohort, not both")
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    raw = _raw_subject(args)
    runtime = runtime_settings(None if args.settings is None
                               else read_job_settings(args.settings))
    synthesizer = load_synthesizer(checkpoint=args.checkpoint, threads=args.threads, **runtime)
    if raw is not None:
        from gla_model.synthesize_raw import synthesize_raw

        synthesize_raw(synthesizer=synthesizer, checkpoint=args.checkpoint, t1w=args.t1w,
                       out_dir=args.out_dir, participant_id=raw, threads=args.threads)
        return
    jobs = _jobs(args, synthesizer.record)
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    for mri, out in jobs:
        synthesizer.image(mri=mri, out=out)
        log.info("wrote %s", out)
