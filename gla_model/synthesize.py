"""`gla-model synthesize`: synthetic FDG-PET from T1w MRI with a trained model, and its
voxelwise uncertainty.

Input: a raw T1w (--t1w: preprocessed here with the model's recorded settings, see
gla_model.synthesize_raw), or T1-weighted images preprocessed by `gla-model preprocess`
(skull-stripped, intensity-normalised to [0, 1], in MNI space on the model grid, e.g. 64^3
at the 2 mm MNI box resized; the affine must be that grid's). An image of another shape or
affine is refused with a message saying so; nothing is resampled silently. Every T1w is
checked against the intensities of the model's training T1w (gla_model.intensity): far
outside them is an error, moderately outside a logged warning.

Output: one float32 NIfTI per input, same affine and header as the T1w, with PET in
the training scale (SUVR divided by the preprocessing factor, values in [0, 1]), computed
by an output layer in float32 whatever the precision of the rest of the generator: the
plain prediction of --checkpoint. Beside it, the same way, its uncertainty
(sub-<id>_desc-synthsd_pet.nii.gz, the voxelwise SD over the estimator's members: the test-
time augmentations of --checkpoint and of every --member-checkpoints model; see
gla_model.uncertainty.estimator), and for the folder an uncertainty.tsv with one row per
subject (mean SD in the brain, whether the T1w is out of distribution). No member may have
trained on a subject it scores: with --folds or --cohort that is an error.
Files are written atomically.

Modes:
  raw T1w      --checkpoint C --t1w sub-X_T1w.nii.gz --out-dir DIR [--participant-id X]
               preprocesses it, writes the PET and its SD on the model grid and in the
               T1w's own space, and the transform used (see gla_model.synthesize_raw)
  one image    --checkpoint C --mri sub-X_..._T1w.nii.gz --out sub-X_desc-synth_pet.nii.gz
               (the SD map is named from --out: desc-synth -> desc-synthsd)
  many images  --checkpoint C --mri A B C --out-dir DIR   (or --mri-list FILE, one path a line)
               writes DIR/sub-<id>_desc-synth_pet.nii.gz (the id is read from the file name)
  test fold    --checkpoint C --folds folds.tsv --fold K --preproc-dir P --out-dir DIR
               the fold's test subjects; refused if any of them trained a model
  MRI-only     --checkpoint C --cohort cohort.tsv --group mri_only --preproc-dir P --out-dir DIR
               [--member-checkpoints FOLD_MODELS...]

Every mode takes --settings JSON (the keys "training.device", "training.precision",
"uncertainty.tta_flip" and "uncertainty.tta_shift"; without it auto, auto and config.yaml's
augmentations), --threads N (torch threads; with --t1w also the preprocessing's) and
--preproc-dir (where the model's training subjects are preprocessed: without it, in the
--mri and --t1w modes, the T1w are not checked for being out of distribution).
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
from gla_model.layout import (
    preprocessed_path,
    synthesis_uncertainty_table,
    synthetic_pet_name,
    synthetic_pet_path,
    synthetic_sd_path,
)
from gla_model.niftiio import load_image, write_image_atomic
from gla_model.resources import model_grid
from gla_model.settings import job_value, read_job_settings
from gla_model.train.volumes import load_volume
from gla_model.uncertainty.estimator import build_estimator, write_uncertainty_table
from gla_model.uncertainty.members import augmentations, guard_members, trained_subjects
from gla_model.uncertainty.typicality import reference_for

log = logging.getLogger(__name__)
SUBJECT_RE = re.compile(r"sub-([A-Za-z0-9]+)")
#: The settings keys synthesis reads from ``--settings``: the runtime, and the test-time
#: augmentations of the uncertainty estimator.
RUNTIME_KEYS = ("training.device", "training.precision")
TTA_KEYS = ("uncertainty.tta_flip", "uncertainty.tta_shift")
#: The augmentations of a run by hand without ``--settings``: config.yaml's values (a test
#: checks that they agree).
HAND_RUN_TTA = {"tta_flip": True, "tta_shift": 1}


def output_name(*, mri: Path) -> str:
    """``sub-<id>_desc-synth_pet.nii.gz`` for an input named ``sub-<id>_...``."""
    return synthetic_pet_name(participant_id=_subject_id(mri=mri))


def runtime_settings(payload: Mapping[str, Any] | None) -> dict[str, str]:
    """``device`` and ``precision`` from a job's settings (:data:`RUNTIME_KEYS`), both
    ``auto`` for a run by hand without ``--settings``."""
    if payload is None:
        return {"device": "auto", "precision": "auto"}
    return {key.rsplit(".", 1)[1]: job_value(payload, key) for key in RUNTIME_KEYS}


def tta_settings(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """``tta_flip`` and ``tta_shift`` from a job's settings (:data:`TTA_KEYS`), or
    :data:`HAND_RUN_TTA` without ``--settings``."""
    if payload is None:
        return dict(HAND_RUN_TTA)
    return {key.rsplit(".", 1)[1]: job_value(payload, key) for key in TTA_KEYS}


@dataclass(frozen=True)
class Synthesizer:
    """A trained generator, prepared for its runtime: ``synthesizer(mri) -> pet`` on arrays
    of the model grid; :meth:`checked_input` reads and checks a file (also its affine),
    :meth:`predict` and :meth:`batch` synthesize checked arrays."""

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
        return self.predict(volume)

    def checked_input(self, *, mri: Path) -> tuple[nib.Nifti1Image, np.ndarray]:
        """One preprocessed T1w file and its (G, G, G) float32 array, checked: the model
        grid, intensities like the training T1w."""
        image = load_image(mri, role="T1w")
        volume = load_volume(mri, role="T1w", grid=self.grid)
        _, affine = model_grid(size=self.grid)
        if not np.allclose(image.affine, affine, atol=1e-3):
            raise InputImageError(f"T1w image {mri} is not on the {self.grid}^3 model grid "
                                  "(affine differs); preprocess it with `gla-model preprocess` "
                                  "or pass the raw image with --t1w")
        check_t1w_intensity(volume[0].numpy(), training=self.t1w_intensity,
                            source=f"T1w image {mri}")
        return image, volume[0].numpy()

    def predict(self, volume: np.ndarray) -> np.ndarray:
        """The PET of a checked (G, G, G) float32 T1w array (no further checks)."""
        return self._generate(torch.from_numpy(np.ascontiguousarray(volume))[None])[0]

    def batch(self, volumes: np.ndarray) -> np.ndarray:
        """(B, G, G, G) float32 T1w arrays -> their (B, G, G, G) PET in one pass."""
        return self._generate(torch.from_numpy(np.ascontiguousarray(volumes, np.float32)))

    @staticmethod
    def output_image(data: np.ndarray, *, like: nib.Nifti1Image) -> nib.Nifti1Image:
        """``data`` as float32 with the geometry and header of the T1w ``like``."""
        header = like.header.copy()
        header.set_data_dtype(np.float32)
        header.set_slope_inter(1.0, 0.0)
        return nib.Nifti1Image(np.asarray(data, np.float32), like.affine, header)

    def _generate(self, volumes: torch.Tensor) -> np.ndarray:
        """(B, G, G, G) float32 MRI -> (B, G, G, G) float32 PET.

        The trunk follows the runtime's autocast; the generator's output layer and sigmoid
        run in float32 (:class:`gla_model.nets.blocks.Float32Conv3d`), so no value of the
        PET written, scored or featured is rounded to bf16 or fp16."""
        with torch.no_grad(), self.runtime.autocast():
            pet = self.generator(self.runtime.to_input(volumes[:, None]))
        if pet.dtype != torch.float32:
            raise RuntimeError(f"the generator returned {pet.dtype}; its output layer must "
                               "compute in float32 (gla_model.nets.blocks.Float32Conv3d)")
        return pet.cpu().numpy()[:, 0].astype(np.float32)


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


@dataclass(frozen=True)
class SynthesisJob:
    """One subject to synthesize: its preprocessed T1w (and brain mask: None for the T1w's
    nonzero voxels), and where its PET and SD maps go."""

    participant_id: str
    mri: Path
    pet: Path
    sd: Path
    mask: Path | None = None


def sd_path_beside(pet: Path) -> Path:
    """The SD map beside a PET written with ``--out``: ``desc-synth`` becomes
    ``desc-synthsd``, or ``_desc-synthsd`` is added to a name without it."""
    name = pet.name
    if "_desc-synth_" in name:
        return pet.with_name(name.replace("_desc-synth_", "_desc-synthsd_", 1))
    stem, dot, suffix = name.partition(".")
    return pet.with_name(f"{stem}_desc-synthsd{dot}{suffix}")


def _selected_subjects(args: argparse.Namespace, record: dict[str, Any]) -> list[str]:
    if args.folds is not None:
        subjects = fold_subjects(folds=read_folds(args.folds), fold=args.fold)["test"]
        leaked = sorted(set(subjects) & trained_subjects(record))
        if leaked:
            raise LeakageError(f"test subjects {leaked} of fold {args.fold} were used to train "
                               f"{args.checkpoint}; use that fold's own checkpoint")
        return subjects
    return group_members(read_cohort_table(path=args.cohort), args.group)


def _jobs(args: argparse.Namespace, record: dict[str, Any]) -> list[SynthesisJob]:
    if args.folds is not None or args.cohort is not None:
        if args.preproc_dir is None or args.out_dir is None:
            raise ConfigError("--folds/--cohort need --preproc-dir and --out-dir")
        return [_folder_job(out_dir=args.out_dir, participant_id=s,
                            mri=preprocessed_path(preproc_dir=args.preproc_dir,
                                                  participant_id=s, field="t1w"),
                            mask=preprocessed_path(preproc_dir=args.preproc_dir,
                                                   participant_id=s, field="mask"))
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
        match = SUBJECT_RE.match(inputs[0].name) or SUBJECT_RE.match(args.out.name)
        participant_id = match.group(1) if match else args.out.name.partition(".")[0]
        return [SynthesisJob(participant_id=participant_id, mri=inputs[0], pet=args.out,
                             sd=sd_path_beside(args.out))]
    if args.out_dir is None:
        raise ConfigError("give --out for one image or --out-dir for several")
    return [_folder_job(out_dir=args.out_dir, participant_id=_subject_id(mri=mri), mri=mri,
                        mask=None) for mri in inputs]


def _folder_job(*, out_dir: Path, participant_id: str, mri: Path, mask: Path | None
                ) -> SynthesisJob:
    return SynthesisJob(
        participant_id=participant_id, mri=mri, mask=mask,
        pet=synthetic_pet_path(synth_dir=out_dir, participant_id=participant_id),
        sd=synthetic_sd_path(synth_dir=out_dir, participant_id=participant_id))


def _subject_id(*, mri: Path) -> str:
    match = SUBJECT_RE.match(Path(mri).name)
    if match is None:
        raise InputImageError(f"cannot read a subject id from {mri}; name inputs sub-<id>_*.nii.gz "
                              "or use --out for a single image")
    return match.group(1)


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
                             f"config keys {', '.join([*RUNTIME_KEYS, *TTA_KEYS])} (without "
                             f"it: auto, auto, {HAND_RUN_TTA['tta_flip']}, "
                             f"{HAND_RUN_TTA['tta_shift']})")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help="model.pt written by `gla-model train`: the PET written is its "
                             "plain prediction")
    parser.add_argument("--member-checkpoints", nargs="+", type=Path, metavar="MODEL",
                        help="further models of the same variant for the uncertainty, none of "
                             "which may have trained on the subjects (for MRI-only subjects: "
                             "every fold model beside the full model)")
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
    parser.add_argument("--preproc-dir", type=Path,
                        help="folder of preprocessed sub-<id>/: the inputs of --folds and "
                             "--cohort, and in every mode the model's training subjects, "
                             "against which each T1w is checked for being out of distribution")


def run_command(args: argparse.Namespace) -> None:
    if args.folds is not None and args.fold is None:
        raise ConfigError("--folds needs --fold")
    if args.folds is not None and args.cohort is not None:
        raise ConfigError("give --folds or --cohort, not both")
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    raw = _raw_subject(args)
    payload = None if args.settings is None else read_job_settings(args.settings)
    runtime, tta = runtime_settings(payload), tta_settings(payload)
    models = [load_synthesizer(checkpoint=checkpoint, threads=args.threads, **runtime)
              for checkpoint in [args.checkpoint, *(args.member_checkpoints or [])]]
    jobs = None if raw is not None else _jobs(args, models[0].record)
    names = [str(args.checkpoint), *map(str, args.member_checkpoints or [])]
    # the workflow's modes name cohort subjects; files named by hand may be other people
    guard_members(subjects=[raw] if raw is not None else [job.participant_id for job in jobs],
                  records=[model.record for model in models], names=names,
                  strict=args.folds is not None or args.cohort is not None)
    estimator = build_estimator(
        models=models, names=names,
        augmentations=augmentations(flip=tta["tta_flip"], shift=tta["tta_shift"]),
        reference=reference_for(preproc_dir=args.preproc_dir, record=models[0].record,
                                checkpoint=args.checkpoint))
    if raw is not None:
        from gla_model.synthesize_raw import synthesize_raw

        synthesize_raw(estimator=estimator, checkpoint=args.checkpoint, t1w=args.t1w,
                       out_dir=args.out_dir, participant_id=raw, threads=args.threads)
        return
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for job in jobs:
        estimate = estimator.estimate(participant_id=job.participant_id, mri=job.mri,
                                      mask=job.mask)
        write_image_atomic(estimate.pet, job.pet)
        write_image_atomic(estimate.sd, job.sd)
        rows.append(estimate.row)
        log.info("wrote %s and %s", job.pet, job.sd.name)
    table = synthesis_uncertainty_table(
        synth_dir=args.out_dir if args.out_dir is not None else args.out.parent)
    log.info("wrote %s", write_uncertainty_table(rows=rows, path=table))
