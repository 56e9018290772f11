"""``gla-model collect-qc``: one QC table from every subject's QC row, and the files that
make ``results/preprocess`` a BIDS-Derivatives dataset (written once, by this one job,
after every subject: ``dataset_description.json``, ``README``, ``.bidsignore`` and the
atlas sidecar; see :mod:`gla_model.preprocess.sidecars`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from gla_model import layout
from gla_model.niftiio import write_text_atomic
from gla_model.preprocess import sidecars
from gla_model.settings import job_value, read_job_settings
from gla_model.tsvio import write_table


def collect_qc(*, rows: list[Path], out: Path) -> pd.DataFrame:
    """Concatenate per-subject QC rows; MRI-only subjects get empty PET columns."""
    tables = [pd.read_csv(path, sep="\t", dtype={"participant_id": str}) for path in rows]
    table = pd.concat(tables, ignore_index=True, sort=False)
    columns = max((t.columns for t in tables), key=len)
    table = table[[*columns, *(c for c in table.columns if c not in columns)]]
    write_table(table, out)
    return table


def write_dataset_files(*, dataset_dir: Path | str, bids_dir: Path | str,
                        grid: int) -> dict[str, Path]:
    """Write the dataset-level files of the preprocessing derivatives (each atomically);
    returns name -> path (:func:`gla_model.layout.preprocess_dataset_files`)."""
    paths = layout.preprocess_dataset_files(preproc_dir=dataset_dir)
    description = sidecars.dataset_description(bids_dir=bids_dir, out_dir=dataset_dir)
    texts = {"description": _json(description), "readme": sidecars.readme(grid=grid),
             "bidsignore": sidecars.bidsignore(),
             "atlas_json": _json(sidecars.atlas_sidecar(grid=grid)),
             "atlas_description": _json(sidecars.atlas_description())}
    for name, text in texts.items():
        write_text_atomic(text, paths[name])
    return paths


def _json(value: dict) -> str:
    return json.dumps(value, indent=2) + "\n"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model collect-qc``."""
    parser.add_argument("rows", nargs="+", type=Path, help="per-subject sub-*_desc-qc.tsv files")
    parser.add_argument("--out", required=True, type=Path, help="the combined qc.tsv")
    parser.add_argument("--dataset-dir", required=True, type=Path,
                        help="results/preprocess: gets dataset_description.json, README, "
                             ".bidsignore and the atlas sidecar")
    parser.add_argument("--bids-dir", required=True, type=Path,
                        help="the input BIDS dataset (SourceDatasets, DatasetLinks.raw)")
    parser.add_argument("--settings", required=True, metavar="JSON",
                        help="preprocessing.grid (job settings JSON or its file)")


def run_command(args: argparse.Namespace) -> None:
    """Run ``gla-model collect-qc``."""
    grid = job_value(read_job_settings(args.settings), "preprocessing.grid")
    collect_qc(rows=args.rows, out=args.out)
    write_dataset_files(dataset_dir=args.dataset_dir, bids_dir=args.bids_dir, grid=grid)
