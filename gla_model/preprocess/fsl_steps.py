"""The fsl backend's own computations as pure functions (its other steps are FSL, ROBEX
and SPM12 programs run by nipype's interfaces).

FLIRT matrices are composed with fslpy in world coordinates, so that FSL's scaled-voxel
convention (and its x flip of radiological images) is left to fslpy.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
from fsl.data.image import Image
from fsl.transform.flirt import fromFlirt, toFlirt

from gla_model import resources
from gla_model.errors import ToolMissingError

#: FSL's skull-stripped MNI152 template, under ``$FSLDIR``.
FSL_TEMPLATE = "data/standard/MNI152_T1_1mm_brain.nii.gz"


def flirt_to_grid(*, chain: list[tuple[str, str, str]], grid: str) -> np.ndarray:
    """The FLIRT matrix from ``chain[0]``'s source image to the ``grid`` image.

    Args:
        chain: (FLIRT matrix file, source image, reference image) per step, in order
            (e.g. PET -> T1w, then T1w -> MNI).
        grid: the output grid image (the ``-ref`` of ``flirt -applyxfm``).
    """
    world = np.eye(4)
    for matrix, source, reference in chain:
        step = fromFlirt(np.loadtxt(matrix), Image(source),
                         Image(reference), from_="world", to="world")
        world = step @ world
    return toFlirt(world, Image(chain[0][1]), Image(grid),
                   from_="world", to="world")


def flirt_to_xfm(*, matrix: str, source: str, reference: str, native: str) -> np.ndarray:
    """The MNI -> native T1w map (the ``xfm`` output, see :mod:`gla_model.preprocess.xfm`)
    of a T1w -> MNI FLIRT ``matrix`` estimated from ``source`` to ``reference``.

    ``source`` may carry another header than the ``native`` T1w (SPM's AC-PC rewrites it)
    but must have its voxels, so native world = native affine @ inv(source affine) @
    source world.
    """
    source_image, native_image = Image(source), Image(native)
    if source_image.shape[:3] != native_image.shape[:3]:
        raise ValueError(f"{source} (shape {source_image.shape}) does not have the voxels of "
                         f"the T1w {native} (shape {native_image.shape})")
    to_mni = fromFlirt(np.loadtxt(matrix), source_image, Image(reference),
                       from_="world", to="world")
    source_to_native = native_image.getAffine("voxel", "world") @ source_image.getAffine(
        "world", "voxel")
    return source_to_native @ np.linalg.inv(to_mni)


def fsl_template(*, template: str | None) -> str:
    """``template`` or FSL's MNI152_T1_1mm_brain (needs FSLDIR)."""
    if template:
        return template
    fsldir = os.environ.get("FSLDIR")
    if not fsldir or not Path(fsldir, FSL_TEMPLATE).is_file():
        raise ToolMissingError(
            f"FSLDIR is not set or lacks {FSL_TEMPLATE}; install FSL, set "
            "`preprocessing.template` in config.yaml, or set `preprocessing.backend: ants` "
            "in config.yaml.")
    return str(Path(fsldir, FSL_TEMPLATE))


def grid_reference(*, size: int) -> nib.Nifti1Image:
    """An empty float32 image on the ``size``^3 model grid (``flirt -applyxfm``'s ``-ref``)."""
    shape, affine = resources.model_grid(size=size)
    return nib.Nifti1Image(np.zeros(shape, dtype=np.float32), affine)
