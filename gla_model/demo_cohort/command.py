"""``gla-model demo-cohort``: write the built-in simulated BIDS cohort."""

from __future__ import annotations

import argparse
from pathlib import Path

from gla_model.settings import job_value, read_job_settings


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--settings", required=True,
                        help="JSON (or a JSON file) with cohort.demo, as the workflow writes it")
    parser.add_argument("--out", required=True, type=Path, help="BIDS dataset folder to write")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")


def run_command(args: argparse.Namespace) -> None:
    from gla_model.demo_cohort.write import write_demo_cohort

    demo = job_value(read_job_settings(args.settings), "cohort.demo")
    write_demo_cohort(out_dir=args.out, n_paired=demo.n_paired, n_mri_only=demo.n_mri_only,
                      seed=demo.seed, mci_fraction=demo.mci_fraction, jobs=args.jobs,
                      t1_voxel_mm=demo.t1_voxel_mm, pet_voxel_mm=demo.pet_voxel_mm)
