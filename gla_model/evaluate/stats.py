"""Summary statistics and paired significance tests of per-subject (or per-fold) results.

Pure functions on long tables (one row per variant x subject): they return DataFrames
and leave formatting to the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: Direction of "better" per image-quality metric.
HIGHER_IS_BETTER = {"ssim": True, "ms_ssim": True, "psnr": True, "mae": False}


def summarize(
    *, rows: pd.DataFrame, metrics: Sequence[str], by: str = "variant", fold: str = "fold"
) -> pd.DataFrame:
    """Mean and standard deviations per group and metric.

    Returns columns ``by``, metric, n, mean, std (sample std over rows) and
    fold_std (sample std of the per-fold means; NaN with one fold).
    """
    out = []
    for group, part in rows.groupby(by, sort=True):
        fold_means = part.groupby(fold)[list(metrics)].mean()
        for metric in metrics:
            values = part[metric].to_numpy(dtype=float)
            out.append({by: group, "metric": metric, "n": len(values),
                        "mean": float(np.mean(values)),
                        "std": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
                        "fold_std": float(fold_means[metric].std(ddof=1))})
    return pd.DataFrame(out, columns=[by, "metric", "n", "mean", "std", "fold_std"])


def best_per_metric(
    *, summary: pd.DataFrame, higher_is_better: dict[str, bool], by: str = "variant"
) -> dict[str, str]:
    """The group with the best mean of each metric (max, or min where lower is better)."""
    best = {}
    for metric, part in summary.groupby("metric", sort=False):
        index = part["mean"].idxmax() if higher_is_better[metric] else part["mean"].idxmin()
        best[metric] = str(summary.loc[index, by])
    return best


def compare_to_best(
    *,
    rows: pd.DataFrame,
    metrics: Sequence[str],
    higher_is_better: dict[str, bool] = HIGHER_IS_BETTER,
    by: str = "variant",
    pair_on: Sequence[str] = ("participant_id",),
) -> pd.DataFrame:
    """Paired two-tailed t-test and Wilcoxon signed-rank test of every group against the
    best group of each metric, on the units (``pair_on``) both have.

    Returns columns metric, ``by``, best, n_pairs, mean_difference (group - best),
    t_statistic, t_pvalue, wilcoxon_statistic, wilcoxon_pvalue. The best group's own
    row, and groups identical to the best on every pair, have NaN statistics.
    """
    means = rows.groupby(by)[list(metrics)].mean()
    summary = means.melt(ignore_index=False, var_name="metric", value_name="mean").reset_index()
    best = best_per_metric(summary=summary, higher_is_better=higher_is_better, by=by)
    keys = list(pair_on)
    out = []
    for metric in metrics:
        reference = rows.loc[rows[by] == best[metric], [*keys, metric]]
        for group in sorted(rows[by].unique()):
            part = rows.loc[rows[by] == group, [*keys, metric]]
            paired = part.merge(reference, on=keys, suffixes=("", "_best"))
            difference = (paired[metric] - paired[f"{metric}_best"]).to_numpy(dtype=float)
            record = {"metric": metric, by: group, "best": best[metric],
                      "n_pairs": len(difference),
                      "mean_difference": float(difference.mean()) if len(difference) else np.nan,
                      "t_statistic": np.nan, "t_pvalue": np.nan,
                      "wilcoxon_statistic": np.nan, "wilcoxon_pvalue": np.nan}
            if len(difference) > 1 and np.any(difference != 0):
                t_test = stats.ttest_rel(paired[metric], paired[f"{metric}_best"])
                signed_rank = stats.wilcoxon(paired[metric], paired[f"{metric}_best"])
                record.update(t_statistic=float(t_test.statistic), t_pvalue=float(t_test.pvalue),
                              wilcoxon_statistic=float(signed_rank.statistic),
                              wilcoxon_pvalue=float(signed_rank.pvalue))
            out.append(record)
    return pd.DataFrame(out)
