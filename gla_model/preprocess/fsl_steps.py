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
