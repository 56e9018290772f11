"""``gla-model cohort``: discover a BIDS cohort and write its subject table."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gla_model.cohort.discover import discover_cohort
from gla_model.cohort.table import write_cohort_table
from gla_model.settings import job_value, read_job_settings

LOGGER = logging.getLogger(__name__)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bids-dir", required=True, type=Path, help="the BIDS dataset root")
    parser.add_argument("--settings", required=True,
                        help="JSON (or a JSON file) with cohort.participants, cohort.session "
                             "and cv.n_folds, as the workflow writes it")
    parser.add_argument("--out", required=True, type=Path, help="cohort table to write (.tsv)")


def run_command(args: argparse.Namespace) -> None:
    payload = read_job_settings(args.settings)
    participants = job_value(payload, "cohort.participants")
    cohort = discover_cohort(bids_dir=args.bids_dir,
                             diagnosis_column=participants.diagnosis_column,
                             diagnosis_labels=participants.labels.value_lists(),
                             n_folds=job_value(payload, "cv.n_folds"),
                             session=job_value(payload, "cohort.session"),
                             session_column=participants.session_column)
    write_cohort_table(cohort=cohort, path=args.out)
    paired = len(cohort.paired())
    LOGGER.info("cohort: %d subjects (%d paired, %d MRI-only) -> %s", len(cohort.subjects),
                paired, len(cohort.subjects) - paired, args.out)
