"""A variant's uncertainty per subject and per AAL region, read from its synthesis folders.

Every subject with a synthetic PET of the variant is read once: a paired subject from the
folder of the fold in which it is test (``fold-<k>/``, scored by that fold's model alone),
an MRI-only subject from ``full/``. A paired subject found in a fold folder whose fold did
not hold it out is an error (its members trained on it).

- ``subjects``: ``participant_id``, ``group`` (paired | mri_only), the synthesis folder's
  ``uncertainty.tsv`` columns (``model``, ``n_members``, ``sd_mean``, ``sd_primary``,
  ``sd_fold_models``, ``input_typicality``, ``typicality_threshold``,
  ``out_of_distribution``; see :mod:`gla_model.uncertainty.estimator`), and for paired
  subjects ``mae`` (mean |synthetic - real PET| in the brain mask, Table I's MAE) and
  ``spearman`` (voxelwise Spearman correlation of SD and |error| in the brain mask); NaN
  for MRI-only subjects.
- ``regions``: per subject and AAL region, over the region's **grey-matter voxels** (argmax
  tissue inside the brain mask, exactly the voxels of the ``pet_gm_<i>`` features the
  classifier reads): ``n_voxels``, ``sd_mean`` and, for paired subjects,
  ``abs_error_mean``; a region without GM voxels in a subject has NaN means.

Images are read as float32 and averaged in float64.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gla_model import vocabulary
from gla_model.errors import LeakageError
from gla_model.features import region_sums, tissue_classes
from gla_model.folds import fold_numbers, fold_subjects
from gla_model.layout import (
    model_folder,
    preprocessed_path,
    synthesis_uncertainty_table,
    synthetic_pet_path,
    synthetic_sd_path,
)
from gla_model.niftiio import load_image
from gla_model.tsvio import read_table
from gla_model.uncertainty.estimator import UNCERTAINTY_COLUMNS

SUBJECT_COLUMNS = ("participant_id", "group", *UNCERTAINTY_COLUMNS[1:], "mae", "spearman")
REGION_COLUMNS = ("participant_id", "group", "region", "region_name", "n_voxels", "sd_mean",
                  "abs_error_mean")
#: The tissue class of :func:`gla_model.features.tissue_classes` that regions are read in.
GREY_MATTER = 0


@dataclass(frozen=True)
class SubjectMaps:
    """One subject's uncertainty: its ``uncertainty.tsv`` row and group, its SD and |error|
    inside the brain mask (float32; |error| None for an MRI-only subject), their MAE and
    voxelwise Spearman correlation (NaN for MRI-only), and its region sums."""

    participant_id: str
    group: str
    row: Mapping[str, object]
    sd: np.ndarray
    abs_error: np.ndarray | None
    mae: float
    spearman: float
    region_voxels: np.ndarray
    region_sd: np.ndarray
    region_error: np.ndarray | None

    @property
    def is_test(self) -> bool:
        return self.group == vocabulary.PAIRED


def read_variant(*, variant_dir: Path, folds: pd.DataFrame, mri_only: Iterable[str],
                 preproc_dir: Path, atlas: np.ndarray, n_regions: int) -> list[SubjectMaps]:
    """Every subject of one variant's synthesis (test-fold subjects, then MRI-only ones).

    Args:
        variant_dir: ``results/synthesize/<variant>``.
        folds: the folds table; mri_only: the MRI-only participant ids (cohort).
        atlas: integer AAL labels on the grid (0 background).
    """
    maps = []
    for fold in fold_numbers(folds=folds):
        folder = variant_dir / model_folder(str(fold))
        held_out = set(fold_subjects(folds=folds, fold=fold)["test"])
        rows = _rows(folder)
        strangers = sorted(set(rows) - held_out)
        if strangers:
            raise LeakageError(f"{synthesis_uncertainty_table(synth_dir=folder)} scores "
                               f"{strangers}, which fold {fold} did not hold out (its model "
                               "trained on them); rerun gla-model synthesize for this fold")
        maps += [_subject(folder=folder, row=rows[pid], group=vocabulary.PAIRED,
                          preproc_dir=preproc_dir, atlas=atlas, n_regions=n_regions)
                 for pid in sorted(rows)]
    folder = variant_dir / vocabulary.FULL_FOLD
    rows = _rows(folder)
    missing = sorted(set(mri_only) - set(rows))
    if missing:
        raise LeakageError(f"{synthesis_uncertainty_table(synth_dir=folder)} lacks the "
                           f"MRI-only subjects {missing}; rerun gla-model synthesize")
    maps += [_subject(folder=folder, row=rows[pid], group=vocabulary.MRI_ONLY_SUBJECTS,
                      preproc_dir=preproc_dir, atlas=atlas, n_regions=n_regions)
             for pid in sorted(mri_only)]
    return maps


def subjects_table(maps: Iterable[SubjectMaps]) -> pd.DataFrame:
    """The ``subjects`` table (see the module docstring)."""
    records = [{**subject.row, "group": subject.group, "mae": subject.mae,
                "spearman": subject.spearman} for subject in maps]
    return pd.DataFrame(records, columns=list(SUBJECT_COLUMNS))


def regions_table(maps: Iterable[SubjectMaps], *, names: Mapping[int, str]) -> pd.DataFrame:
    """The ``regions`` table: one row per subject and region ``1..n_regions``."""
    frames = []
    for subject in maps:
        count = subject.region_voxels
        frames.append(pd.DataFrame({
            "participant_id": subject.participant_id, "group": subject.group,
            "region": np.arange(1, count.size + 1),
            "region_name": [names.get(label, "") for label in range(1, count.size + 1)],
            "n_voxels": count, "sd_mean": _mean(subject.region_sd, count),
            "abs_error_mean": (np.nan if subject.region_error is None
                               else _mean(subject.region_error, count))}))
    if not frames:
        return pd.DataFrame(columns=list(REGION_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(REGION_COLUMNS)]


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman's rho and its two-sided p-value (scipy); NaN for fewer than 3 pairs or a
    constant input."""
    from scipy import stats

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    result = stats.spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)


def _rows(folder: Path) -> dict[str, dict[str, object]]:
    table = read_table(synthesis_uncertainty_table(synth_dir=folder),
                       columns=UNCERTAINTY_COLUMNS, role="synthesis uncertainty")
    return {str(row["participant_id"]): row for row in table.to_dict("records")}


def _subject(*, folder: Path, row: dict[str, object], group: str, preproc_dir: Path,
             atlas: np.ndarray, n_regions: int) -> SubjectMaps:
    pid = str(row["participant_id"])

    def image(path: Path, role: str) -> np.ndarray:
        return np.asarray(load_image(path, role=f"{role} of sub-{pid}").dataobj,
                          dtype=np.float32)

    def preprocessed(field: str) -> np.ndarray:
        return image(preprocessed_path(preproc_dir=preproc_dir, participant_id=pid,
                                       field=field), field)

    mask = preprocessed("mask") != 0
    sd = image(synthetic_sd_path(synth_dir=folder, participant_id=pid), "SD map")
    abs_error = None
    if group == vocabulary.PAIRED:
        synthetic = image(synthetic_pet_path(synth_dir=folder, participant_id=pid),
                          "synthetic PET")
        abs_error = np.abs(synthetic.astype(np.float64) - preprocessed("pet"))
    classes = tissue_classes(probsegs={t: preprocessed(t) for t in vocabulary.TISSUES},
                             mask=mask)
    images = np.stack([sd] if abs_error is None else [sd, abs_error])
    sums, counts = region_sums(images=images, labels=atlas, classes=classes,
                               n_classes=GREY_MATTER + 1, n_regions=n_regions)
    error = None if abs_error is None else abs_error[mask]
    return SubjectMaps(
        participant_id=pid, group=group, row=row, sd=sd[mask],
        abs_error=None if error is None else error.astype(np.float32),
        mae=np.nan if error is None else float(error.mean()),
        spearman=np.nan if error is None else spearman(sd[mask], error)[0],
        region_voxels=counts[GREY_MATTER], region_sd=sums[0, GREY_MATTER],
        region_error=None if abs_error is None else sums[1, GREY_MATTER])


def _mean(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)
