"""Subject-level, stratified cross-validation folds and the leakage guard.

``folds.tsv``: participant_id, diagnosis, fold (the fold where the subject is test),
``role_fold<k>`` ("train" | "val" | "test") per fold and ``role_full`` ("train" | "val")
for the model trained on every paired subject. Folds are stratified by every diagnosis
the paired subjects hold (CN, MCI, AD, or any two of them), and validation subjects are
carved, stratified the same way, out of each fold's training subjects. Every paired subject
trains the generators whatever its diagnosis (no label reaches them); the diagnosis only
keeps the folds balanced for the classifiers. Everything follows from the seed.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from gla_model import vocabulary
from gla_model.cohort.table import cohort_frame, read_cohort_table
from gla_model.errors import CohortError, ConfigError, LeakageError
from gla_model.niftiio import write_text_atomic
from gla_model.settings import job_value, read_job_settings

ROLES = ("train", "val", "test")


def _carve_val(ids: np.ndarray, labels: np.ndarray, *, val_fraction: float,
               seed: int) -> set[str]:
    if val_fraction == 0:
        return set()
    n_val = max(round(val_fraction * len(ids)), len(set(labels)))
    stratify = labels if min(np.unique(labels, return_counts=True)[1]) >= 2 else None
    from sklearn.model_selection import train_test_split  # see make_folds

    _, val = train_test_split(ids, test_size=n_val, stratify=stratify, random_state=seed)
    return set(val)


def class_size_problems(*, counts: Mapping[str, int], n_folds: int,
                        val_fraction: float) -> list[str]:
    """Why paired subjects with these counts per class cannot be split (empty: they can).

    Only the classes in ``counts`` with a subject are checked: a cohort need not hold every
    diagnosis. Each needs ``n_folds`` subjects (one per test fold), and with a validation
    carve-out the training part of every fold must keep 2 of each class: one for the
    carve-out and one to train on. StratifiedKFold puts ``ceil(n / n_folds)`` of a class's
    ``n`` subjects in the largest test fold, so the smallest training part keeps
    ``n - ceil(n / n_folds)``. Messages name the config keys (cv.n_folds, cv.val_fraction).

    Args:
        counts: paired subjects per diagnosis (0: the class is absent).
        n_folds: cross-validation folds (cv.n_folds), at least 2.
        val_fraction: share of each fold's training subjects kept for validation.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
        raise ConfigError(f"cv.n_folds must be an integer >= 2, got {n_folds!r}")
    needed = 2 if val_fraction > 0 else 1
    problems = []
    for name, count in counts.items():
        if count == 0:
            continue
        if count < n_folds:
            problems.append(f"class {name} has {count} paired subjects (T1w and FDG PET), "
                            f"fewer than cv.n_folds ({n_folds}); add subjects or lower "
                            "cv.n_folds")
        elif _smallest_training_part(count, n_folds) < needed:
            enough = next(n for n in range(count, count + 2 * n_folds + 2)
                          if _smallest_training_part(n, n_folds) >= needed)
            other = [k for k in range(n_folds + 1, count + 1)
                     if _smallest_training_part(count, k) >= needed]
            problems.append(
                f"class {name} has {count} paired subjects: with cv.n_folds {n_folds} a "
                f"fold's training part keeps only {_smallest_training_part(count, n_folds)}"
                f" of them, and the validation carve-out (cv.val_fraction {val_fraction}) "
                "needs one of each class besides one to train on; add subjects (at least "
                f"{enough} per class for {n_folds} folds)"
                + (f" or set cv.n_folds to {other[0]}" if other else ""))
    return problems


def _smallest_training_part(count: int, n_folds: int) -> int:
    return count - math.ceil(count / n_folds)


def make_folds(*, subjects: pd.DataFrame, n_folds: int, val_fraction: float,
               seed: int) -> pd.DataFrame:
    """Assign every subject a test fold and a role per fold (see the module docstring).

    Args:
        subjects: one row per subject, columns participant_id and diagnosis.
        n_folds: number of folds k >= 2; every diagnosis needs at least k subjects.
        val_fraction: share of each fold's training subjects kept for validation, in [0, 0.5].
        seed: the random seed (same seed, same folds).
    """
    if not 0 <= val_fraction <= 0.5:
        raise ConfigError(f"val_fraction must be in [0, 0.5], got {val_fraction!r}")
    missing = {"participant_id", "diagnosis"} - set(subjects.columns)
    if missing:
        raise CohortError(f"subject table lacks columns {sorted(missing)}")
    table = subjects[["participant_id", "diagnosis"]].astype(str)
    duplicated = table["participant_id"][table["participant_id"].duplicated()].tolist()
    if duplicated:
        raise CohortError(f"subjects listed twice: {duplicated}")
    table = table.sort_values("participant_id").reset_index(drop=True)
    problems = class_size_problems(counts=table["diagnosis"].value_counts().sort_index().to_dict(),
                                   n_folds=n_folds, val_fraction=val_fraction)
    if problems:
        raise CohortError("the paired subjects cannot be split into folds:\n  - "
                          + "\n  - ".join(problems))
    ids, labels = table["participant_id"].to_numpy(), table["diagnosis"].to_numpy()
    # Imported here: every training, synthesis and evaluation job reads folds, only this
    # job makes them, and scikit-learn takes about 0.8 s to import.
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    table["fold"] = -1
    roles = {}
    for k, (train_idx, test_idx) in enumerate(splitter.split(ids, labels)):
        table.loc[test_idx, "fold"] = k
        val = _carve_val(ids[train_idx], labels[train_idx], val_fraction=val_fraction,
                         seed=seed + k + 1)
        roles[f"role_fold{k}"] = ["test" if i in set(ids[test_idx]) else
                                  "val" if i in val else "train" for i in ids]
    val_full = _carve_val(ids, labels, val_fraction=val_fraction, seed=seed)
    roles["role_full"] = ["val" if i in val_full else "train" for i in ids]
    return pd.concat([table, pd.DataFrame(roles)], axis=1)


def fold_subjects(*, folds: pd.DataFrame, fold: str) -> dict[str, list[str]]:
    """Subjects per role ("train", "val", "test") of ``fold`` ("0".."k-1" or "full")."""
    column = "role_full" if str(fold) == "full" else f"role_fold{fold}"
    if column not in folds.columns:
        available = [c.removeprefix("role_fold") for c in folds.columns
                     if c.startswith("role_fold")]
        raise ConfigError(f"fold {fold!r} is not in the folds table; available: "
                          f"{[*available, 'full']}")
    ids = folds["participant_id"].astype(str)
    result = {role: sorted(ids[folds[column] == role]) for role in ROLES}
    assert_no_leakage(**result)
    return result


def assert_no_leakage(*, train: list[str], val: list[str], test: list[str]) -> None:
    """Raise :class:`LeakageError` naming every subject in more than one set."""
    sets = {"train": set(train), "val": set(val), "test": set(test)}
    problems = [f"{a}/{b}: {sorted(sets[a] & sets[b])}"
                for a, b in (("train", "test"), ("val", "test"), ("train", "val"))
                if sets[a] & sets[b]]
    if problems:
        raise LeakageError("subjects in more than one split: " + "; ".join(problems))


def read_folds(path: Path | str) -> pd.DataFrame:
    """Read a folds.tsv written by :func:`make_folds` (participant ids as text)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"folds table {path} does not exist; run `gla-model folds` first")
    table = pd.read_csv(path, sep="\t", dtype={"participant_id": str})
    missing = [c for c in ("participant_id", "diagnosis", "fold", "role_full")
               if c not in table.columns]
    if missing or not fold_numbers(folds=table):
        raise ConfigError(f"{path} is not a folds table (lacks {missing or 'role_fold<k>'}); "
                          "regenerate it with `gla-model folds`")
    return table


def fold_numbers(*, folds: pd.DataFrame) -> list[int]:
    """The outer fold indices of a folds table (its ``role_fold<k>`` columns)."""
    prefix = "role_fold"
    return sorted(int(c[len(prefix):]) for c in folds.columns
                  if c.startswith(prefix) and c[len(prefix):].isdigit())


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Split the paired subjects of a cohort table into stratified, "
                          "subject-level folds with a validation carve-out (folds.tsv).")
    parser.add_argument("--settings", required=True,
                        help="JSON (or a JSON file) with cv, as the workflow writes it")
    parser.add_argument("--cohort", required=True, type=Path, help="cohort.tsv")
    parser.add_argument("--out", required=True, type=Path, help="folds.tsv to write")


def run_command(args: argparse.Namespace) -> None:
    cv = job_value(read_job_settings(args.settings), "cv")
    paired = cohort_frame(read_cohort_table(path=args.cohort))
    paired = paired[paired["group"] == vocabulary.PAIRED]
    try:
        folds = make_folds(subjects=paired, n_folds=cv.n_folds, val_fraction=cv.val_fraction,
                           seed=cv.seed)
    except CohortError as error:
        raise CohortError(f"{args.cohort}: {error}") from error
    write_text_atomic(folds.to_csv(sep="\t", index=False), args.out)
