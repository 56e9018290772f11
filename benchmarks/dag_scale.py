"""DAG construction for a 2,000-subject BIDS cohort, and its SLURM submissions for preprocessing.

Builds a BIDS tree of empty files (cohort discovery reads names only), then:
  1. times `snakemake --dry-run` (median of 3, whole command including start-up) against
     the 15 s bound;
  2. counts the preprocessing submissions a dry run with workflow/profiles/slurm plans
     (each "Group job preprocess" is one sbatch) against a tenth of the preprocessing jobs.

Run: .venv/bin/python benchmarks/dag_scale.py [--subjects 2000] [--repeats 3]
     .venv/bin/python benchmarks/dag_scale.py --smoke    # 20 subjects, 1 repeat
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BOUND_S = 15.0
SUBMISSION_FRACTION = 0.1
PAIRED_FRACTION = 0.75


def write_bids(*, root: Path, n_subjects: int) -> None:
    """Empty T1w for every subject, empty FDG-PET for the first 75%, and participants.tsv."""
    n_paired = int(n_subjects * PAIRED_FRACTION)
    rows = ["participant_id\tdiagnosis"]
    for index in range(n_subjects):
        label = f"sub-{index:05d}"
        rows.append(f"{label}\t{'AD' if index % 2 else 'CN'}")
        anat = root / label / "anat"
        anat.mkdir(parents=True)
        (anat / f"{label}_T1w.nii.gz").touch()
        if index < n_paired:
            pet = root / label / "pet"
            pet.mkdir()
            (pet / f"{label}_trc-FDG_pet.nii.gz").touch()
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")


def dry_run(*, workdir: Path, configfile: Path, extra: tuple[str, ...]) -> tuple[float, str]:
    """Wall time and output of one `snakemake --dry-run`."""
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(ROOT / "config.yaml"), str(configfile),
        "--dry-run", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"dry run failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, result.stdout + result.stderr


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from the dry run's 'Job stats' table."""
    table = output.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true",
                        help="seconds: 20 subjects, one timed dry run")
    args = parser.parse_args(argv)
    if args.smoke:
        args.subjects, args.repeats = 20, 1

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_bids(root=tmp / "bids", n_subjects=args.subjects)
        configfile = tmp / "bids.yaml"
        configfile.write_text(
            yaml.safe_dump({"cohort": {"source": "bids", "bids_dir": str(tmp / "bids")}})
        )
        workdir = tmp / "work"
        workdir.mkdir()

        times, output = [], ""
        for _ in range(args.repeats):
            elapsed, output = dry_run(
                workdir=workdir, configfile=configfile, extra=("--quiet", "rules")
            )
            times.append(elapsed)
        counts = job_counts(output)
        median = statistics.median(times)
        print(f"subjects: {args.subjects}  jobs in DAG: {counts['total']}")
        print(
            f"dry run (DAG build incl. start-up), median of {args.repeats}: {median:.2f} s  "
            f"bound {BOUND_S:.0f} s  ratio {median / BOUND_S:.2f}  "
            f"(runs: {', '.join(f'{t:.2f}' for t in times)})"
        )

        profile = ("--profile", str(ROOT / "workflow" / "profiles" / "slurm"))
        slurm_s, slurm_output = dry_run(workdir=workdir, configfile=configfile, extra=profile)
        preprocess_jobs = sum(n for rule, n in counts.items() if rule.startswith("preprocess_"))
        submissions = slurm_output.count("Group job preprocess")
        print(
            f"SLURM profile dry run: {slurm_s:.2f} s; preprocessing: {preprocess_jobs} jobs in "
            f"{submissions} submissions  ratio {submissions / preprocess_jobs:.3f}  "
            f"(bound {SUBMISSION_FRACTION})"
        )


if __name__ == "__main__":
    main()
