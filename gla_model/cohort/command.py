"""``gla-model cohort``: discover a BIDS cohort and write its subject table and sidecar."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gla_model.cohort.discover import discover_cohort
from gla_model.cohort.table import describe_cohort, write_cohort_table
from gla_model.layout import cohort_sidecar_path
from gla_model.settings import job_value, read_job_settings

LOGGER = logging.getLogger(__name__)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bids-dir", required=True, type=Path, help="the BIDS dataset root")
    parser.add_argument("--settings", required=True,
                        help="JSON (or a JSON file) with cohort.participants, cohort.session, "
                             "cohort.pet_reconstructions, cohort.exclude, cv.n_folds and "
                             "cv.val_fraction, as the workflow writes it")
    parser.add_argument("--out", required=True, type=Path,
                        help="cohort table to write (.tsv); its .json sidecar goes beside it")


def run_command(args: argparse.Namespace) -> None:
    payload = read_job_settings(args.settings)
    participants = job_value(payload, "cohort.participants")
    cohort = discover_cohort(bids_dir=args.bids_dir,
                             diagnosis_column=participants.diagnosis_column,
                             diagnosis_labels=participants.labels.value_lists(),
                             n_folds=job_value(payload, "cv.n_folds"),
                             val_fraction=job_value(payload, "cv.val_fraction"),
                             session=job_value(payload, "cohort.session"),
                             session_column=participants.session_column,
                             pet_reconstructions=job_value(payload, "cohort.pet_reconstructions"),
                             exclude=job_value(payload, "cohort.exclude"))
    write_cohort_table(cohort=cohort, path=args.out)
    LOGGER.info("%s", describe_cohort(cohort=cohort))
    LOGGER.info("wrote %s and %s", args.out, cohort_sidecar_path(cohort_table=args.out))
