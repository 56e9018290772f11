"""AD vs CN effect sizes of the built-in synthetic cohort, next to the literature it targets
(and MCI vs CN, not targeted, when the cohort has MCI subjects).

For each key region (bilateral AAL region: the mean of its left and right values) prints
Cohen's d, AD - CN over the pooled SD (negative: lower in AD), of

* GM density: the ``density`` MRI feature of :mod:`gla_model.features` (mean GM
  probability over the region's brain voxels); for the ventricles row, the mean CSF
  probability of a periventricular box;
* PET SUVR: the PET feature (mean PET over the region's GM voxels),

next to the target d of :data:`gla_model.demo_cohort.disease.TARGETS` (sources cited in
that module); with MCI subjects, also MCI - CN (``d MCI`` columns); and, as the same-run
figure, the median measured / target ratio per
modality over the rows with a non-zero target. The Precentral row (target 0) shows that
the disease does not spill over.

Modes:

* default: writes a demo cohort (``--n-paired``, ``--seed``, ``--mci-fraction``, 0 by
  default as in the calibration run of :mod:`gla_model.demo_cohort.disease`; voxel sizes
  of config.yaml)
  under ``--work`` (a temporary folder unless given), preprocesses every subject with
  ``gla-model preprocess --threads 1`` as the workflow does (10-20 s each) and measures
  the preprocessing outputs; the simulator's ground truth is printed beside them.
* ``--results DIR``: measures a finished run instead (``make demo``: ``--results results``):
  its cohort table, ``preprocess/`` outputs and atlas, and the ground truth of its demo
  cohort when the run used one (``cohort.demo`` of ``--config``).
* ``--smoke``: 16 subjects (a quarter MCI) at 3 mm (T1w) / 4 mm (PET), ground truth only
  (the true tissue maps and PET placed on MNI by the truth transform; no preprocessing):
  seconds.

    .venv/bin/python benchmarks/cohort_effect_sizes.py --smoke
    .venv/bin/python benchmarks/cohort_effect_sizes.py --results results
    .venv/bin/python benchmarks/cohort_effect_sizes.py [--n-paired 32] [--jobs 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from gla_model import resources
from gla_model.cohort.table import read_cohort_table
from gla_model.demo_cohort.disease import TARGETS
from gla_model.demo_cohort.measure import (
    effect_table,
    preprocessed_values,
    ratio,
    truth_values,
)
from gla_model.demo_cohort.plan import DemoSubject, plan_demo_cohort
from gla_model.demo_cohort.write import write_demo_cohort
from gla_model.layout import Layout
from gla_model.niftiio import load_image
from gla_model.preprocess.atlas import resample_atlas
from gla_model.settings import (
    build_settings,
    job_settings,
    load_config,
    without_resources,
)

SMOKE = dict(n_paired=16, mci_fraction=0.25, t1_voxel_mm=3.0, pet_voxel_mm=4.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="16 subjects (4 MCI) at 3/4 mm, ground truth only (seconds)")
    parser.add_argument("--results", type=Path, help="measure this finished run's results")
    parser.add_argument("--work", type=Path, help="folder for the generated cohort")
    parser.add_argument("--config", nargs="+", default=["config.yaml"],
                        help="config files (preprocessing settings, voxel sizes, cohort.demo)")
    parser.add_argument("--n-paired", type=int, default=32)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--mci-fraction", type=float, default=0.0,
                        help="share of MCI subjects (0: AD and CN, the calibration run)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel preprocessing jobs")
    args = parser.parse_args()
    settings = build_settings(config=load_config(paths=args.config))
    atlas = resources.aal_atlas()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        if args.results is not None:
            truth, measured, diagnoses, what = from_results(results=args.results,
                                                            settings=settings, atlas=atlas)
        else:
            demo = settings.cohort.demo
            voxels = (dict(t1_voxel_mm=SMOKE["t1_voxel_mm"], pet_voxel_mm=SMOKE["pet_voxel_mm"])
                      if args.smoke else dict(t1_voxel_mm=demo.t1_voxel_mm,
                                              pet_voxel_mm=demo.pet_voxel_mm))
            n_paired = SMOKE["n_paired"] if args.smoke else args.n_paired
            mci_fraction = SMOKE["mci_fraction"] if args.smoke else args.mci_fraction
            plan = write_demo_cohort(out_dir=work / "bids", n_paired=n_paired, n_mri_only=0,
                                     seed=args.seed, mci_fraction=mci_fraction,
                                     jobs=args.jobs, **voxels)
            diagnoses = {s.participant_id: s.diagnosis for s in plan}
            truth = {s.participant_id: truth_values(bids_dir=work / "bids", subject=s,
                                                    atlas=atlas) for s in plan}
            measured = None
            what = (f"{n_paired} paired subjects, seed {args.seed}, T1w {voxels['t1_voxel_mm']} "
                    f"mm, PET {voxels['pet_voxel_mm']} mm")
            if not args.smoke:
                measured = preprocess_and_measure(plan=plan, work=work, settings=settings,
                                                  atlas=atlas, jobs=args.jobs)
        report(truth=truth, measured=measured, diagnoses=diagnoses, atlas=atlas, what=what)
    print(f"\n{time.perf_counter() - started:.0f} s")


def preprocess_and_measure(*, plan: list[DemoSubject], work: Path, settings,
                           atlas: resources.AalAtlas, jobs: int) -> dict:
    """Preprocess every subject as the workflow does; their regional values."""
    preproc_dir = work / "preprocess"
    payload = job_settings(preprocessing=without_resources(settings.preprocessing))
    gla_model = str(Path(sys.executable).with_name("gla-model"))

    def run(subject: DemoSubject) -> None:
        command = [gla_model, "preprocess", "--settings", payload, "--threads", "1",
                   "--participant-id", subject.participant_id,
                   "--t1w", str(work / "bids" / subject.t1w),
                   "--out-dir", str(preproc_dir / f"sub-{subject.participant_id}")]
        if subject.pet is not None:
            command += ["--pet", str(work / "bids" / subject.pet)]
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError(f"preprocessing sub-{subject.participant_id} failed:\n"
                               f"{done.stderr[-2000:]}")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run, plan))
    grid = resample_atlas(size=settings.preprocessing.grid, atlas=atlas)
    labels = np.rint(grid.get_fdata()).astype(np.int64)
    return {s.participant_id: preprocessed_values(
        preproc_dir=preproc_dir, participant_id=s.participant_id, labels=labels,
        affine=grid.affine, names=atlas.labels, with_pet=s.pet is not None) for s in plan}


def from_results(*, results: Path, settings, atlas: resources.AalAtlas):
    """Regional values of a finished run (and of its demo cohort's ground truth)."""
    layout = Layout(results=results)
    subjects = read_cohort_table(path=layout.cohort_table)
    diagnoses = {s.participant_id: s.diagnosis for s in subjects}
    image = load_image(layout.atlas, role="AAL atlas")
    labels = np.rint(image.get_fdata()).astype(np.int64)
    measured = {s.participant_id: preprocessed_values(
        preproc_dir=layout.preprocess_dir, participant_id=s.participant_id, labels=labels,
        affine=image.affine, names=atlas.labels, with_pet=s.group == "paired")
        for s in subjects}
    truth = None
    demo = settings.cohort.demo
    if settings.cohort.source == "demo":
        bids = next((p.parent for p in sorted(layout.demo_bids.rglob("participants.tsv"))),
                    None)
        plan = {s.participant_id: s for s in plan_demo_cohort(
            n_paired=demo.n_paired, n_mri_only=demo.n_mri_only, seed=demo.seed,
            mci_fraction=demo.mci_fraction)}
        if bids is not None and set(diagnoses) <= set(plan):
            truth = {p: truth_values(bids_dir=bids, subject=plan[p], atlas=atlas)
                     for p in diagnoses}
    what = f"{results}: {len(subjects)} subjects"
    return truth, measured, diagnoses, what


def report(*, truth: dict | None, measured: dict | None, diagnoses: dict[str, str],
           atlas: resources.AalAtlas, what: str) -> None:
    counts = pd.Series(diagnoses).value_counts()
    with_mci = counts.get("MCI", 0) > 1
    print(f"Cohen's d, AD - CN{' (and MCI - CN)' if with_mci else ''} over the pooled SD "
          f"({what}; " + ", ".join(f"{d} n={counts.get(d, 0)}" for d in ("AD", "MCI", "CN"))
          + "). GM: GM density (Ventricles: CSF fraction); PET: SUVR in the region's GM.\n")
    tables = {}
    for name, values in (("preprocessed", measured), ("truth", truth)):
        if values is not None:
            tables[name] = effect_table(values=values, diagnoses=diagnoses, targets=TARGETS,
                                        names=atlas.labels)
    first = next(iter(tables.values()))
    out = pd.DataFrame({"region": first["region"]})
    for modality in ("gm", "pet"):
        for name, table in tables.items():
            out[f"{modality} d ({name})"] = table[f"{modality}_d"]
        out[f"{modality} target"] = first[f"{modality}_target"]
        if with_mci:
            for name, table in tables.items():
                out[f"{modality} d MCI ({name})"] = table[f"{modality}_d_mci"]
    print(out.to_string(index=False, float_format=lambda v: f"{v:+.2f}", na_rep="-"))
    print()
    for name, table in tables.items():
        print(f"median measured/target ({name}): GM ratio "
              f"{ratio(table.gm_d, table.gm_target):.2f}, PET ratio "
              f"{ratio(table.pet_d, table.pet_target):.2f}")


if __name__ == "__main__":
    main()
