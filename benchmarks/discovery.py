"""Cohort discovery speed: 2,000 subjects of empty files, against the 5 s DAG-build bound.

Run: .venv/bin/python benchmarks/discovery.py [--subjects 2000] [--repeats 5]
     .venv/bin/python benchmarks/discovery.py --smoke    # 20 subjects, 1 repeat
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from gla_model.cohort.discover import discover_cohort

N_SUBJECTS = 2000
BOUND_SECONDS = 5.0
REPEATS = 5
LABELS = {"CN": ["CN"], "MCI": ["MCI", "EMCI", "LMCI"], "AD": ["AD"]}


def build_dataset(root: Path, *, n_subjects: int) -> None:
    """Diagnoses cycle CN, AD, LMCI (mapped to MCI); every 4th subject has two sessions,
    every 5th has no PET."""
    rows = ["participant_id\tdiagnosis"]
    for index in range(n_subjects):
        label = f"bench{index:05d}"
        rows.append(f"sub-{label}\t{('CN', 'AD', 'LMCI')[index % 3]}")
        sessions = ["ses-bl", "ses-m12"] if index % 4 == 0 else [""]
        for session in sessions:
            folder = root / f"sub-{label}" / session
            entity = f"_{session}" if session else ""
            (folder / "anat").mkdir(parents=True)
            (folder / "anat" / f"sub-{label}{entity}_T1w.nii.gz").touch()
            (folder / "anat" / f"sub-{label}{entity}_T1w.json").touch()
            if index % 5:
                (folder / "pet").mkdir()
                (folder / "pet" / f"sub-{label}{entity}_trc-FDG_pet.nii.gz").touch()
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=N_SUBJECTS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--smoke", action="store_true", help="seconds: 20 subjects, 1 repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        args.subjects, args.repeats = 20, 1
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build_dataset(root, n_subjects=args.subjects)
        timings = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            cohort = discover_cohort(bids_dir=root, diagnosis_column="diagnosis",
                                     diagnosis_labels=LABELS, n_folds=5, val_fraction=0.2)
            timings.append(time.perf_counter() - start)
    assert len(cohort.subjects) == args.subjects
    median = statistics.median(timings)
    print(f"discover_cohort: {args.subjects} subjects in {median:.3f} s "
          f"(median of {args.repeats}), {args.subjects / median:,.0f} subjects/s")
    print(f"ratio to the {BOUND_SECONDS:.0f} s bound: {median / BOUND_SECONDS:.4f} "
          f"({BOUND_SECONDS / median:,.0f}x faster than needed)")

if __name__ == "__main__":
    main()
