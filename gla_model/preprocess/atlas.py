"""`gla-model resample-atlas`: the AAL atlas on the model grid (nearest neighbour).

    gla-model resample-atlas --settings JSON --out-dseg PATH --out-labels PATH

``--settings`` is ``job_settings(preprocessing__grid=..., preprocessing__atlas=...,
preprocessing__atlas_labels=...)`` (:mod:`gla_model.settings`); a null atlas is the
bundled AAL.
"""

from __future__ import annotations

import argparse
import logging

import nibabel as nib
import numpy as np
import pandas as pd

from gla_model import resources
from gla_model.errors import ConfigError
from gla_model.niftiio import write_image_atomic, write_text_atomic
from gla_model.preprocess.spatial import resample
from gla_model.settings import job_value, read_job_settings

LOGGER = logging.getLogger(__name__)


def resample_atlas(*, size: int, atlas: resources.AalAtlas) -> nib.Nifti1Image:
    """``atlas`` on the ``size``^3 model grid (int16, 0 = background)."""
    shape, affine = resources.model_grid(size=size)
    data = resample(image=atlas.image, shape=shape, affine=affine, pull=np.eye(4), order=0)
    image = nib.Nifti1Image(np.rint(data).astype(np.int16), affine)
    image.header.set_xyzt_units("mm")
    return image


def labels_table(*, atlas: resources.AalAtlas) -> pd.DataFrame:
    """The atlas labels as a table with columns ``index`` and ``name``."""
    return pd.DataFrame({"index": list(atlas.labels), "name": list(atlas.labels.values())})


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model resample-atlas``."""
    parser.add_argument("--settings", required=True, metavar="JSON",
                        help="preprocessing.grid, preprocessing.atlas and "
                             "preprocessing.atlas_labels (job settings JSON or its file)")
    parser.add_argument("--out-dseg", required=True, help="output label image (.nii.gz)")
    parser.add_argument("--out-labels", required=True, help="output label table (.tsv)")


def run_command(args: argparse.Namespace) -> None:
    """Run ``gla-model resample-atlas``."""
    payload = read_job_settings(args.settings)
    grid = job_value(payload, "preprocessing.grid")
    path = job_value(payload, "preprocessing.atlas")
    labels_path = job_value(payload, "preprocessing.atlas_labels")
    if (path is None) != (labels_path is None):
        raise ConfigError("set both preprocessing.atlas and preprocessing.atlas_labels, or "
                          "neither (the bundled AAL)")
    atlas = resources.aal_atlas(path=path, labels_path=labels_path)
    image = resample_atlas(size=grid, atlas=atlas)
    missing = sorted(set(atlas.labels) - set(np.unique(np.asarray(image.dataobj)).tolist()))
    if missing:
        LOGGER.warning("atlas labels %s have no voxel on the %d^3 grid", missing, grid)
    write_image_atomic(image, args.out_dseg)
    write_text_atomic(labels_table(atlas=atlas).to_csv(sep="\t", index=False), args.out_labels)
