"""DAG construction for a 2,000-subject BIDS cohort, and its SLURM submissions for preprocessing.

Builds a BIDS tree of empty files (cohort discovery reads names only), then:
  1. times `snakemake --dry-run` (median of 3, whole command including start-up) against
     the 10 s bound, and against a peer measured in the same run: a minimal Snakefile with
     the same number of jobs (one rule per subject, one gathering rule), i.e. what
     Snakemake itself needs for a DAG of that size;
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
BOUND_S = 10.0
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


def write_peer(*, path: Path, n_jobs: int) -> None:
    """A minimal Snakefile with ``n_jobs`` jobs: one per item, and one that gathers them."""
    path.write_text(
        f"ITEMS = [f'{{i:05d}}' for i in range({n_jobs - 1})]\n\n"
        "rule all:\n    input: 'gathered.txt'\n\n"
        "rule gather:\n    input: expand('items/{item}.txt', item=ITEMS)\n"
        "    output: 'gathered.txt'\n    shell: 'cat {input} > {output}'\n\n"
        "rule item:\n    output: 'items/{item}.txt'\n"
        "    shell: 'echo {wildcards.item} > {output}'\n"
    )


def dry_run(*, workdir: Path, extra: tuple[str, ...], configfile: Path | None = None,
            snakefile: Path = ROOT / "Snakefile") -> tuple[float, str]:
    """Wall time and output of one `snakemake --dry-run` (the workflow's unless
    ``snakefile`` is given)."""
    configs = ("--configfile", str(ROOT / "config.yaml"), str(configfile)) if configfile else ()
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile", str(snakefile),
        "--directory", str(workdir),
        *configs,
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


def job_counts_of(*, workdir: Path, configfile: Path) -> dict[str, int]:
    """Jobs per rule of the workflow's dry run."""
    return job_counts(dry_run(workdir=workdir, configfile=configfile,
                              extra=("--quiet", "rules"))[1])


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

        counts = job_counts_of(workdir=workdir, configfile=configfile)
        write_peer(path=tmp / "Peer.smk", n_jobs=counts["total"])
        peer_dir = tmp / "peer"
        peer_dir.mkdir()
        times, peer_times = [], []
        for _ in range(args.repeats):  # in turn, so both see the same machine
            times.append(dry_run(workdir=workdir, configfile=configfile,
                                 extra=("--quiet", "rules"))[0])
            peer_times.append(dry_run(workdir=peer_dir, snakefile=tmp / "Peer.smk",
                                      extra=("--quiet", "rules"))[0])
        median, peer = statistics.median(times), statistics.median(peer_times)
        print(f"subjects: {args.subjects}  jobs in DAG: {counts['total']}")
        print(
            f"dry run (DAG build incl. start-up), median of {args.repeats}: {median:.2f} s  "
            f"bound {BOUND_S:.0f} s  ratio {median / BOUND_S:.2f}  "
            f"(runs: {', '.join(f'{t:.2f}' for t in times)})"
        )
        print(f"peer: a minimal Snakefile with {counts['total']} jobs, median {peer:.2f} s; "
              f"workflow / peer = {median / peer:.2f}")

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
