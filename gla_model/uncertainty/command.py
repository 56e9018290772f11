"""``gla-model uncertainty``: one variant's uncertainty summary and its calibration.

    gla-model uncertainty --variant V --synth-dir results/synthesize --folds folds.tsv
        --cohort cohort.tsv --preproc-dir results/preprocess --atlas ATLAS
        --atlas-labels LABELS --out-dir results/uncertainty

reads ``<synth-dir>/<V>/{fold-<k>,full}/`` (the SD maps and ``uncertainty.tsv`` that
``gla-model synthesize`` writes) and writes ``<out-dir>/<V>/{subjects, regions, calibration,
reliability}.tsv`` (:func:`gla_model.layout.uncertainty_path`; the tables are described in
:mod:`gla_model.uncertainty.summary` and :mod:`gla_model.uncertainty.calibration`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from gla_model import vocabulary
from gla_model.cohort.table import group_members, read_cohort_table
from gla_model.folds import read_folds
from gla_model.layout import UNCERTAINTY_TABLES, uncertainty_path
from gla_model.niftiio import load_image
from gla_model.resources import AAL_REGION_COUNT
from gla_model.tsvio import read_table, write_table
from gla_model.uncertainty.calibration import calibration_table, reliability_table
from gla_model.uncertainty.summary import read_variant, regions_table, subjects_table

LOG = logging.getLogger(__name__)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--variant", required=True, help="the model variant")
    parser.add_argument("--synth-dir", required=True, type=Path, help="results/synthesize")
    parser.add_argument("--folds", required=True, type=Path, help="results/folds/folds.tsv")
    parser.add_argument("--cohort", required=True, type=Path, help="results/cohort/cohort.tsv")
    parser.add_argument("--preproc-dir", required=True, type=Path, help="results/preprocess")
    parser.add_argument("--atlas", required=True, type=Path,
                        help="the AAL atlas on the model grid (labels 0..116)")
    parser.add_argument("--atlas-labels", required=True, type=Path,
                        help="its labels table (columns index, name)")
    parser.add_argument("--out-dir", required=True, type=Path, help="results/uncertainty")


def run_command(args: argparse.Namespace) -> None:
    atlas = np.rint(np.asarray(load_image(args.atlas, role="AAL atlas").dataobj,
                               dtype=np.float64)).astype(np.int64)
    labels = read_table(args.atlas_labels, columns=("index", "name"), role="atlas labels")
    names = {int(i): str(n) for i, n in zip(labels["index"], labels["name"], strict=True)}
    maps = read_variant(
        variant_dir=args.synth_dir / args.variant, folds=read_folds(args.folds),
        mri_only=group_members(read_cohort_table(path=args.cohort),
                               vocabulary.MRI_ONLY_SUBJECTS),
        preproc_dir=args.preproc_dir, atlas=atlas, n_regions=AAL_REGION_COUNT)
    tables = {"subjects": subjects_table(maps), "regions": regions_table(maps, names=names),
              "calibration": calibration_table(maps, names=names),
              "reliability": reliability_table(maps)}
    for kind in UNCERTAINTY_TABLES:
        path = uncertainty_path(uncertainty_dir=args.out_dir, variant=args.variant, kind=kind)
        LOG.info("wrote %s (%d rows)", write_table(tables[kind], path), len(tables[kind]))
