"""`gla-model synthesize --t1w`: synthetic FDG-PET from a raw T1w, on the model grid and in
the subject's own T1w space.

    gla-model synthesize --checkpoint model.pt --t1w sub-X_T1w.nii.gz --out-dir DIR
        [--participant-id X] [--settings JSON] [--threads N]

1. The T1w is preprocessed by :func:`gla_model.preprocess.command.preprocess_subject` with
   the ``preprocessing`` settings that ``model.pt`` records (``gla-model train`` records
   those of its data), on ``--threads`` threads.
2. The PET and its uncertainty are synthesized from the preprocessed T1w on the model grid,
   exactly as ``--mri`` does it (the same checks of geometry and intensities, the same
   estimator: :mod:`gla_model.uncertainty.estimator`).
3. Both are brought back onto the input T1w's own voxels with the preprocessing's grid-to-
   T1w transform (:func:`gla_model.preprocess.xfm.resample_to_native`, trilinear: the native
   SD is the grid SD interpolated, not an SD recomputed per native voxel) and kept inside the
   brain mask brought back the same way (trilinear, >= 0.5).

Outputs in DIR (:func:`raw_synthesis_paths`), each written atomically once
every one of them is computed::

    sub-X_space-MNI152grid_desc-synth_pet.nii.gz       PET on the model grid
    sub-X_space-MNI152grid_desc-synthsd_pet.nii.gz     its SD over the estimator's members
    sub-X_space-T1w_desc-synth_pet.nii.gz              PET on the input T1w's voxels
    sub-X_space-T1w_desc-synthsd_pet.nii.gz            its SD on the same voxels
    uncertainty.tsv                                    members, mean SD, typicality check
    sub-X_from-MNI152grid_to-T1w_mode-image_xfm.txt    the 4x4 RAS+ map used (grid world
                                                       mm -> T1w world mm)
    preprocess/sub-X/...                               the preprocessing (QC figure included)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from gla_model.errors import CheckpointError, GlaModelError
from gla_model.layout import (
    GRID_SPACE,
    Layout,
    preprocessed_path,
    subject_label,
    synthesis_uncertainty_table,
    synthetic_pet_path,
    synthetic_sd_path,
)
from gla_model.niftiio import load_image, write_image_atomic
from gla_model.preprocess.command import preprocess_subject
from gla_model.preprocess.xfm import read_xfm, resample_to_native, write_xfm
from gla_model.settings import PreprocessingSettings, job_value
from gla_model.uncertainty.estimator import write_uncertainty_table

if TYPE_CHECKING:
    from gla_model.uncertainty.estimator import Estimator

log = logging.getLogger(__name__)
#: Fraction of a grid brain-mask voxel above which a native voxel is inside the brain.
MASK_LEVEL = 0.5


def raw_synthesis_paths(*, out_dir: Path | str, participant_id: str) -> dict[str, Path]:
    """The outputs in ``out_dir``: the PET and its SD on the model grid (``grid_pet``,
    ``grid_sd``) and in native T1w space (``native_pet``, ``native_sd``), the
    ``uncertainty`` table, the grid-to-T1w transform used (``xfm``, named as the
    preprocessing's), and ``preproc_dir``, whose ``sub-<id>/`` holds the preprocessing."""
    out_dir = Path(out_dir)
    preproc_dir = Layout(results=out_dir).preprocess_dir
    xfm = preprocessed_path(preproc_dir=preproc_dir, participant_id=participant_id,
                            field="xfm")
    spaces = {"grid": GRID_SPACE, "native": "T1w"}
    return {"preproc_dir": preproc_dir, "xfm": out_dir / xfm.name,
            "uncertainty": synthesis_uncertainty_table(synth_dir=out_dir),
            **{f"{where}_pet": synthetic_pet_path(synth_dir=out_dir, space=space,
                                                  participant_id=participant_id)
               for where, space in spaces.items()},
            **{f"{where}_sd": synthetic_sd_path(synth_dir=out_dir, space=space,
                                                participant_id=participant_id)
               for where, space in spaces.items()}}


def recorded_preprocessing(*, record: dict[str, Any], checkpoint: Path | str,
                           threads: int) -> PreprocessingSettings:
    """The ``preprocessing`` settings a ``model.pt`` records, checked by the config's own
    fields, with ``threads`` (a job resource) filled in."""
    value = record.get("preprocessing")
    if value is None:
        raise CheckpointError(
            f"{checkpoint} records no preprocessing settings (it was trained without "
            "\"preprocessing\" in its --settings), so a raw T1w cannot be preprocessed the "
            "way its data was; retrain it with the workflow, or preprocess the T1w with "
            "`gla-model preprocess` and pass the result with --mri")
    settings = job_value({"preprocessing": value}, "preprocessing", threads=threads)
    if settings.grid != record["grid"]:
        raise CheckpointError(f"{checkpoint} records preprocessing.grid: {settings.grid} but "
                              f"a {record['grid']}^3 model; retrain it")
    return settings


def synthesize_raw(*, estimator: Estimator, checkpoint: Path | str, t1w: Path | str,
                   out_dir: Path | str, participant_id: str, threads: int) -> dict[str, Path]:
    """Preprocess ``t1w``, synthesize its PET and SD and write them on the grid and in
    native space.

    Args:
        estimator: the loaded models and augmentations
            (:func:`gla_model.uncertainty.estimator.build_estimator`); its primary model's
            record gives the preprocessing.
        checkpoint: its file, for messages.
        t1w: the raw T1w (any voxel order and size; what BIDS ``anat/`` holds).
        out_dir: the output folder; ``participant_id`` names the files.
        threads: preprocessing (ITK) threads.
    Returns:
        :func:`raw_synthesis_paths`.
    """
    settings = recorded_preprocessing(record=estimator.primary.record,
                                      checkpoint=checkpoint, threads=threads)
    paths = raw_synthesis_paths(out_dir=out_dir, participant_id=participant_id)
    log.info("sub-%s: preprocessing %s with the settings recorded in %s", participant_id,
             t1w, checkpoint)
    preprocessed = preprocess_subject(
        participant_id=participant_id, t1w=t1w, pet=None, settings=settings,
        out_dir=paths["preproc_dir"] / subject_label(participant_id))
    estimate = estimator.estimate(participant_id=participant_id, mri=preprocessed["t1w"],
                                  mask=preprocessed["mask"])
    try:
        xfm = read_xfm(path=preprocessed["xfm"])
    except ValueError as error:
        raise GlaModelError(f"sub-{participant_id}: {error}") from error
    mask, reference = nib.load(preprocessed["mask"]), load_image(t1w, role="T1w")
    images = {"grid_pet": estimate.pet, "grid_sd": estimate.sd,
              **{f"native_{kind}": native_image(grid=grid, mask=mask, reference=reference,
                                                xfm=xfm)
                 for kind, grid in (("pet", estimate.pet), ("sd", estimate.sd))}}
    for field, image in images.items():
        write_image_atomic(image, paths[field])
    write_uncertainty_table(rows=[estimate.row], path=paths["uncertainty"])
    write_xfm(xfm, path=paths["xfm"])
    for field in (*images, "uncertainty", "xfm"):
        log.info("sub-%s: wrote %s", participant_id, paths[field])
    return paths


def native_image(*, grid: nib.Nifti1Image, mask: nib.Nifti1Image,
                 reference: nib.Nifti1Image, xfm: np.ndarray) -> nib.Nifti1Image:
    """The grid image on ``reference``'s voxels (trilinear), zero outside the grid brain
    mask brought back the same way; float32 with ``reference``'s affine and header."""
    data = resample_to_native(image=grid, reference=reference, xfm=xfm, order=1).dataobj
    brain = np.asarray(resample_to_native(image=mask, reference=reference, xfm=xfm,
                                          order=1).dataobj) >= MASK_LEVEL
    header = reference.header.copy()
    header.set_data_dtype(np.float32)
    header.set_slope_inter(1.0, 0.0)
    return nib.Nifti1Image(np.where(brain, np.asarray(data), 0).astype(np.float32),
                           reference.affine, header)
