"""`gla-model resample-atlas`: the AAL atlas on the model grid (nearest neighbour)."""

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
    parser.add_argument("--grid", type=int, required=True, help="model grid size (voxels/axis)")
    parser.add_argument("--out-dseg", required=True, help="output label image (.nii.gz)")
    parser.add_argument("--out-labels", required=True, help="output label table (.tsv)")
    parser.add_argument("--atlas", help="atlas image in MNI space (default: bundled AAL)")
    parser.add_argument("--atlas-labels", help="'index name' lines for --atlas")


def run_command(args: argparse.Namespace) -> None:
    """Run ``gla-model resample-atlas``."""
    if (args.atlas is None) != (args.atlas_labels is None):
        raise ConfigError("give both --atlas and --atlas-labels, or neither (bundled AAL)")
    atlas = resources.aal_atlas(path=args.atlas, labels_path=args.atlas_labels)
    image = resample_atlas(size=args.grid, atlas=atlas)
    missing = sorted(set(atlas.labels) - set(np.unique(np.asarray(image.dataobj)).tolist()))
    if missing:
        LOGGER.warning("atlas labels %s have no voxel on the %d^3 grid", missing, args.grid)
    write_image_atomic(image, args.out_dseg)
    write_text_atomic(labels_table(atlas=atlas).to_csv(sep="\t", index=False), args.out_labels)
