"""The built-in synthetic cohort (the default data): a BIDS dataset with ground truth.

Only the plan is imported here so that the Snakefile can list subjects instantly;
the generator lives in :mod:`gla_model.demo_cohort.write`.
"""

from __future__ import annotations

import argparse

from gla_model.demo_cohort.plan import DemoSubject, plan_demo_cohort

__all__ = ["DemoSubject", "configure_parser", "plan_demo_cohort", "run_command"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model demo-cohort``."""
    parser.add_argument("--out", required=True, help="BIDS dataset folder to write")
    parser.add_argument("--n-paired", type=int, default=40, help="subjects with T1w and PET")
    parser.add_argument("--n-mri-only", type=int, default=12, help="subjects with T1w only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--t1-voxel-mm", type=float, default=1.5)
    parser.add_argument("--pet-voxel-mm", type=float, default=2.0)


def run_command(args: argparse.Namespace) -> None:
    """Run ``gla-model demo-cohort``."""
    from gla_model.demo_cohort.write import write_demo_cohort

    write_demo_cohort(out_dir=args.out, n_paired=args.n_paired, n_mri_only=args.n_mri_only,
                      seed=args.seed, jobs=args.jobs, t1_voxel_mm=args.t1_voxel_mm,
                      pet_voxel_mm=args.pet_voxel_mm)
