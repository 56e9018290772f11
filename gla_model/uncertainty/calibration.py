"""How well the predicted SD ranks the actual error, on test-fold subjects only.

Only paired subjects enter, each read from the folder of the fold that held it out, so every
member that scored it never saw it (:func:`gla_model.uncertainty.summary.read_variant`
checks this). MRI-only subjects have no real PET and no error.

``calibration`` rows (``level``, ``unit``, ``spearman``, ``p_value``, ``n``):

- ``subject``: per test subject, Spearman's rho between SD and |error| over its brain-mask
  voxels (``n`` voxels). No p-value: neighbouring voxels are far from independent.
- ``region``: per AAL region, Spearman's rho across the test subjects between the region's
  mean SD and its mean |error| (its GM voxels; ``n`` subjects with GM voxels there), with
  scipy's p-value.
- ``cohort``: one row, Spearman's rho across the test subjects between the mean SD in the
  brain (``sd_mean``) and the MAE (``n`` subjects), with scipy's p-value: does a subject with
  a higher uncertainty have a larger error?
- ``cohort_within_fold``: the same with the mean SD and the MAE ranked within each fold
  (mid-ranks scaled to (0, 1)) before pooling: the test subjects of one fold share one model,
  so this leaves out what differs between the fold models (one model both more uncertain
  and worse than the others) and asks whether the SD ranks subjects scored by one model.

``reliability``: the test subjects' brain voxels pooled and cut into :data:`RELIABILITY_BINS`
bins at the quantiles of their SD; per bin the SD range, voxel count, mean SD, mean and RMS
|error|, and ``expected_abs_error`` = sqrt(2/pi) x mean SD, the mean |error| of unbiased
Gaussian errors with that SD. A calibrated SD lies on that line; above it the SD is too
small (overconfident), below it too large.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from gla_model.uncertainty.summary import SubjectMaps, spearman

RELIABILITY_BINS = 10
CALIBRATION_COLUMNS = ("level", "unit", "spearman", "p_value", "n")
RELIABILITY_COLUMNS = ("bin", "sd_low", "sd_high", "n_voxels", "sd_mean", "abs_error_mean",
                       "rms_error", "expected_abs_error")
#: Mean |e| over SD of a zero-mean Gaussian error.
GAUSSIAN_ABS_RATIO = math.sqrt(2 / math.pi)


def calibration_table(maps: Sequence[SubjectMaps], *, names: Mapping[int, str]
                      ) -> pd.DataFrame:
    """The ``calibration`` rows of the test subjects among ``maps`` (module docstring)."""
    tests = [m for m in maps if m.is_test]
    rows = [{"level": "subject", "unit": m.participant_id, "spearman": m.spearman,
             "p_value": np.nan, "n": m.sd.size} for m in tests]
    if tests:
        counts = np.stack([m.region_voxels for m in tests])
        sd = np.stack([m.region_sd for m in tests]) / np.where(counts > 0, counts, np.nan)
        error = np.stack([m.region_error for m in tests]) / np.where(counts > 0, counts,
                                                                     np.nan)
        for index in range(counts.shape[1]):
            rho, p = spearman(sd[:, index], error[:, index])
            rows.append({"level": "region",
                         "unit": names.get(index + 1, str(index + 1)),
                         "spearman": rho, "p_value": p, "n": int((counts[:, index] > 0).sum())})
        rho, p = spearman(np.array([float(m.row["sd_mean"]) for m in tests]),
                          np.array([m.mae for m in tests]))
        rows.append({"level": "cohort", "unit": "subjects", "spearman": rho, "p_value": p,
                     "n": len(tests)})
        folds = [str(m.row["model"]) for m in tests]
        rho, p = spearman(
            within_group_ranks(np.array([float(m.row["sd_mean"]) for m in tests]), folds),
            within_group_ranks(np.array([m.mae for m in tests]), folds))
        rows.append({"level": "cohort_within_fold", "unit": "subjects", "spearman": rho,
                     "p_value": p, "n": len(tests)})
    return pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))


def within_group_ranks(values: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Mid-ranks of ``values`` within each group, scaled to (0, 1) by the group's size."""
    labels = np.asarray(groups)
    ranks = np.empty(len(values), dtype=np.float64)
    for group in np.unique(labels):
        inside = labels == group
        ranks[inside] = (stats.rankdata(values[inside]) - 0.5) / inside.sum()
    return ranks


def reliability_table(maps: Sequence[SubjectMaps], *, bins: int = RELIABILITY_BINS
                      ) -> pd.DataFrame:
    """The ``reliability`` bins of the test subjects' pooled brain voxels."""
    tests = [m for m in maps if m.is_test]
    if not tests:
        return pd.DataFrame(columns=list(RELIABILITY_COLUMNS))
    sd = np.concatenate([m.sd for m in tests]).astype(np.float64)
    error = np.concatenate([m.abs_error for m in tests]).astype(np.float64)
    edges = np.quantile(sd, np.linspace(0, 1, bins + 1))
    index = np.clip(np.searchsorted(edges, sd, side="right") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        if not inside.any():
            continue
        rows.append({"bin": b + 1, "sd_low": edges[b], "sd_high": edges[b + 1],
                     "n_voxels": int(inside.sum()), "sd_mean": sd[inside].mean(),
                     "abs_error_mean": error[inside].mean(),
                     "rms_error": math.sqrt(np.mean(error[inside] ** 2)),
                     "expected_abs_error": GAUSSIAN_ABS_RATIO * sd[inside].mean()})
    return pd.DataFrame(rows, columns=list(RELIABILITY_COLUMNS))
