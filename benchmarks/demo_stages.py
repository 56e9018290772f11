"""Per-stage time of a finished run, from Snakemake's ``benchmark:`` files.

For each stage folder under ``results/benchmarks/`` (and single-job files): the number
of jobs, their summed and median wall time, the longest job and the largest peak
memory (max RSS); then the summed job time against the run's wall time, given with
``--wall`` (the ratio says how well the cores were kept busy).

    .venv/bin/python benchmarks/demo_stages.py [--results results] [--wall SECONDS]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def stage_table(*, benchmarks: Path) -> pd.DataFrame:
    """One row per stage: jobs, total_s, median_s, max_s, max_rss_mb."""
    rows = []
    for path in sorted(benchmarks.rglob("*.tsv")):
        stage = path.parent.name if path.parent != benchmarks else path.stem
        record = pd.read_csv(path, sep="\t").iloc[-1]
        rows.append({"stage": stage, "seconds": float(record["s"]),
                     "max_rss_mb": float(record["max_rss"])})
    if not rows:
        raise SystemExit(f"no benchmark files under {benchmarks}; run the workflow first")
    jobs = pd.DataFrame(rows)
    table = jobs.groupby("stage").agg(jobs=("seconds", "size"), total_s=("seconds", "sum"),
                                      median_s=("seconds", "median"), max_s=("seconds", "max"),
                                      max_rss_mb=("max_rss_mb", "max"))
    return table.sort_values("total_s", ascending=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--wall", type=float, help="wall time of the run in seconds")
    args = parser.parse_args()
    table = stage_table(benchmarks=args.results / "benchmarks")
    print(table.round(1).to_string())
    total = table["total_s"].sum()
    print(f"summed job time {total:.0f} s")
    if args.wall:
        print(f"wall {args.wall:.0f} s; summed job time / wall = {total / args.wall:.2f} "
              "(2.00 = both cores busy throughout on a 2-core machine)")


if __name__ == "__main__":
    main()
