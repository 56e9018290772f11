"""Per-stage time of a finished run, from Snakemake's ``benchmark:`` files.

For each stage folder under ``results/benchmarks/`` (and single-job files): the number
of jobs, their summed and median wall time, the longest job and the largest peak
memory (max RSS); then the summed job time against the run's wall time, given with
``--wall`` (the ratio says how well the cores were kept busy).

    .venv/bin/python benchmarks/demo_stages.py [--results results] [--wall SECONDS]
    .venv/bin/python benchmarks/demo_stages.py --smoke   # a generated stand-in tree

``--smoke`` summarises a small made-up ``results/benchmarks/`` tree written to a
temporary folder with the paths of :class:`gla_model.layout.Layout` (its timings are
invented; it checks the code path, not a run).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from gla_model.layout import Layout

#: Columns of a Snakemake ``benchmark:`` file.
BENCHMARK_COLUMNS = ("s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in",
                     "io_out", "mean_load", "cpu_time")
#: The stand-in tree of ``--smoke``: (stage, job, seconds, max RSS in MB; None: "NA", as
#: Snakemake writes for a job too short to sample).
SMOKE_JOBS = (("cohort", "build_demo_cohort", 20.0, 300.0),
              ("preprocess", "sub-demo001", 30.0, 800.0),
              ("preprocess", "sub-demo002", 28.0, 790.0),
              ("train", "glagan_fold-0", 60.0, 1200.0),
              ("train", "unet3d_fold-0", 40.0, 900.0),
              ("report", "figures", 10.0, 400.0),
              ("report", "summary", 0.5, None))


def stage_table(*, benchmarks: Path) -> pd.DataFrame:
    """One row per stage: jobs, total_s, median_s, max_s, max_rss_mb. Only the files
    :meth:`gla_model.layout.Layout.benchmark` names are read; deeper folders hold what
    scripts of benchmarks/ keep there (benchmarks/uncertainty_estimators.py's models)."""
    rows = []
    for path in sorted([*benchmarks.glob("*.tsv"), *benchmarks.glob("*/*.tsv")]):
        parts = path.relative_to(benchmarks).parts  # <stage>/<job>.tsv, or <stage>.tsv
        stage = parts[0] if len(parts) > 1 else path.stem
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


def write_smoke_tree(*, results: Path) -> float:
    """Write :data:`SMOKE_JOBS` as benchmark files under ``results``; returns a wall time
    (half the summed job time, as if two cores had been busy throughout)."""
    layout = Layout(results=results)
    for stage, job, seconds, rss in SMOKE_JOBS:
        path = layout.benchmark(stage, job)
        path.parent.mkdir(parents=True, exist_ok=True)
        memory = ("NA",) * 4 if rss is None else (f"{rss:.2f}", f"{2 * rss:.2f}",
                                                  f"{rss:.2f}", f"{rss:.2f}")
        values = (f"{seconds:.4f}", "0:00:00", *memory, "0.00", "0.00", "95.00",
                  f"{seconds:.2f}")
        path.write_text("\t".join(BENCHMARK_COLUMNS) + "\n" + "\t".join(values) + "\n")
    return sum(job[2] for job in SMOKE_JOBS) / 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--wall", type=float, help="wall time of the run in seconds")
    parser.add_argument("--smoke", action="store_true",
                        help="summarise a generated stand-in tree instead of --results")
    args = parser.parse_args(argv)
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="gla-bench-") as folder:
            wall = write_smoke_tree(results=Path(folder))
            summarise(results=Path(folder), wall=args.wall or wall)
    else:
        summarise(results=args.results, wall=args.wall)


def summarise(*, results: Path, wall: float | None) -> None:
    table = stage_table(benchmarks=results / "benchmarks")
    print(table.round(1).to_string())
    total = table["total_s"].sum()
    print(f"summed job time {total:.0f} s")
    if wall:
        print(f"wall {wall:.0f} s; summed job time / wall = {total / wall:.2f} "
              "(2.00 = both cores busy throughout on a 2-core machine)")


if __name__ == "__main__":
    main()
