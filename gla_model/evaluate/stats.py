"""Summary statistics and paired significance tests of per-subject (or per-fold) results.

Pure functions on long tables (one row per variant x subject, or x seed x fold): they
return DataFrames and leave formatting to the report.

Which test, over which units:

* per-subject results (Table I): paired two-tailed t-test and Wilcoxon signed-rank test
  over the test subjects both rows have;
* cross-validation on fixed outer folds whose seeds only reshuffle the inner CV
  (Table II): the seeds are averaged per fold first (:func:`fold_means`), then a paired
  t-test over the k outer folds;
* repeated cross-validation whose seeds reshuffle the outer split (Table III): the
  corrected resampled t-test of Nadeau & Bengio (2003, Machine Learning 52:239-281),
  whose variance term ``(1/(k r) + n_test/n_train)`` accounts for the overlapping
  training sets (:func:`corrected_resampled_ttest`);
* every table corrects the comparisons of one metric with Holm's step-down method
  (:func:`holm`), written here because no chosen dependency provides it.
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


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values (family-wise error); NaN entries stay NaN and do not count."""
    values = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(values, np.nan)
    valid = np.flatnonzero(~np.isnan(values))
    order = valid[np.argsort(values[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def corrected_resampled_ttest(*, differences: Sequence[float], n_train: float,
                              n_test: float) -> tuple[float, float]:
    """Nadeau & Bengio's corrected resampled t-test of r x k paired CV differences.

    Returns (t statistic, two-tailed p-value) with ``len(differences) - 1`` degrees of
    freedom; the variance is inflated by ``n_test / n_train`` for the training sets the
    repetitions share. NaN when all differences are 0 or there are fewer than two.
    """
    d = np.asarray(differences, dtype=float)
    if len(d) < 2 or not np.any(d != 0):
        return np.nan, np.nan
    variance = (1.0 / len(d) + n_test / n_train) * np.var(d, ddof=1)
    t = float(d.mean() / np.sqrt(variance))
    return t, float(2 * stats.t.sf(abs(t), df=len(d) - 1))


def fold_means(*, rows: pd.DataFrame, metrics: Sequence[str], by: str = "source"
               ) -> pd.DataFrame:
    """One row per (group, fold): the mean over seeds of every metric (and of n_train,
    n_test when present). For CV whose seeds only reshuffle inner folds."""
    extra = [c for c in ("n_train", "n_test") if c in rows.columns]
    return rows.groupby([by, "fold"], as_index=False)[[*metrics, *extra]].mean()


def bootstrap_ci(*, values: Sequence[float], n_resamples: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (resampling the units)."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return np.nan, np.nan
    result = stats.bootstrap((data,), np.mean, n_resamples=n_resamples, confidence_level=level,
                             method="percentile", random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def t_interval(*, values: Sequence[float], inflation: float = 0.0, level: float = 0.95
               ) -> tuple[float, float]:
    """Student-t interval of the mean of ``values``; ``inflation`` adds Nadeau & Bengio's
    ``n_test / n_train`` to the variance factor ``1 / n`` for repeated CV."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return np.nan, np.nan
    half = stats.t.ppf(0.5 + level / 2, df=len(data) - 1) * np.sqrt(
        (1.0 / len(data) + inflation) * np.var(data, ddof=1))
    return float(data.mean() - half), float(data.mean() + half)


#: Paired tests of :func:`compare_to_best`, by the kind of units paired.
TESTS = {
    "subjects": "paired two-tailed t-test and Wilcoxon signed-rank test over test subjects",
    "folds": "paired two-tailed t-test over outer folds (seeds averaged per fold)",
    "repeated_cv": "corrected resampled t-test (Nadeau & Bengio 2003) over repeats x folds",
}


def compare_to_best(
    *,
    rows: pd.DataFrame,
    metrics: Sequence[str],
    higher_is_better: dict[str, bool] = HIGHER_IS_BETTER,
    by: str = "variant",
    pair_on: Sequence[str] = ("participant_id",),
    test: str = "subjects",
) -> pd.DataFrame:
    """Paired tests of every group against the best group of each metric, on the units
    (``pair_on``) both have, Holm-corrected per metric over the groups compared.

    ``test`` is a key of :data:`TESTS`; ``repeated_cv`` needs ``n_train`` and ``n_test``
    columns. Returns columns metric, ``by``, best, n_pairs, mean_difference (group -
    best), t_statistic, t_pvalue, t_pvalue_holm, wilcoxon_statistic, wilcoxon_pvalue,
    wilcoxon_pvalue_holm (Wilcoxon only for ``subjects``). The best group's own row, and
    groups identical to the best on every pair, have NaN statistics.
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; one of {sorted(TESTS)}")
    means = rows.groupby(by)[list(metrics)].mean()
    summary = means.melt(ignore_index=False, var_name="metric", value_name="mean").reset_index()
    best = best_per_metric(summary=summary, higher_is_better=higher_is_better, by=by)
    keys = list(pair_on)
    sizes = ["n_train", "n_test"] if test == "repeated_cv" else []
    out = []
    for metric in metrics:
        reference = rows.loc[rows[by] == best[metric], [*keys, metric]]
        records = []
        for group in sorted(rows[by].unique()):
            part = rows.loc[rows[by] == group, [*keys, metric, *sizes]]
            paired = part.merge(reference, on=keys, suffixes=("", "_best"))
            difference = (paired[metric] - paired[f"{metric}_best"]).to_numpy(dtype=float)
            record = {"metric": metric, by: group, "best": best[metric],
                      "n_pairs": len(difference),
                      "mean_difference": float(difference.mean()) if len(difference) else np.nan,
                      "t_statistic": np.nan, "t_pvalue": np.nan,
                      "wilcoxon_statistic": np.nan, "wilcoxon_pvalue": np.nan}
            if len(difference) > 1 and np.any(difference != 0):
                record.update(_paired_test(paired=paired, metric=metric, test=test,
                                           difference=difference))
            records.append(record)
        table = pd.DataFrame(records)
        table["t_pvalue_holm"] = holm(table["t_pvalue"])
        table["wilcoxon_pvalue_holm"] = holm(table["wilcoxon_pvalue"])
        out.append(table)
    return pd.concat(out, ignore_index=True)


def _paired_test(*, paired: pd.DataFrame, metric: str, test: str, difference: np.ndarray
                 ) -> dict[str, float]:
    if test == "repeated_cv":
        t, p = corrected_resampled_ttest(differences=difference,
                                         n_train=float(paired["n_train"].mean()),
                                         n_test=float(paired["n_test"].mean()))
        return {"t_statistic": t, "t_pvalue": p}
    t_test = stats.ttest_rel(paired[metric], paired[f"{metric}_best"])
    result = {"t_statistic": float(t_test.statistic), "t_pvalue": float(t_test.pvalue)}
    if test == "subjects":
        signed_rank = stats.wilcoxon(paired[metric], paired[f"{metric}_best"])
        result.update(wilcoxon_statistic=float(signed_rank.statistic),
                      wilcoxon_pvalue=float(signed_rank.pvalue))
    return result
