"""``gla-model collect-qc``: one QC table from every subject's QC row."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from gla_model.tsvio import write_table


def collect_qc(*, rows: list[Path], out: Path) -> pd.DataFrame:
    """Concatenate per-subject QC rows; MRI-only subjects get empty PET columns."""
    tables = [pd.read_csv(path, sep="\t", dtype={"participant_id": str}) for path in rows]
    table = pd.concat(tables, ignore_index=True, sort=False)
    columns = max((t.columns for t in tables), key=len)
    table = table[[*columns, *(c for c in table.columns if c not in columns)]]
    write_table(table, out)
    return table


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model collect-qc``."""
    parser.add_argument("rows", nargs="+", type=Path, help="per-subject sub-*_desc-qc.tsv files")
    parser.add_argument("--out", required=True, type=Path, help="the combined qc.tsv")


def run_command(args: argparse.Namespace) -> None:
    """Run ``gla-model collect-qc``."""
    collect_qc(rows=args.rows, out=args.out)
