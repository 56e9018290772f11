"""Summary statistics, best-variant selection and paired tests against SciPy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from gla_model.evaluate.stats import (
    HIGHER_IS_BETTER,
    best_per_metric,
    bootstrap_ci,
    compare_to_best,
    corrected_resampled_ttest,
    fold_means,
    holm,
    summarize,
    t_interval,
)


@pytest.fixture
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(12)]
    folds = [i % 3 for i in range(12)]
    table = []
    for variant, shift in (("a", 0.00), ("b", 0.02), ("c", 0.05)):
        for pid, fold in zip(ids, folds, strict=True):
            table.append({"participant_id": pid, "variant": variant, "fold": fold,
                          "ssim": 0.8 + shift + rng.normal(0, 0.01),
                          "mae": 0.05 - shift / 2 + rng.normal(0, 0.002)})
    # Shuffle so that pairing must go through participant_id, not row order.
    return pd.DataFrame(table).sample(frac=1.0, random_state=1).reset_index(drop=True)


def test_summarize_matches_numpy(rows):
    summary = summarize(rows=rows, metrics=["ssim", "mae"])
    b = rows[rows["variant"] == "b"]
    got = summary[(summary["variant"] == "b") & (summary["metric"] == "mae")].iloc[0]
    assert got["n"] == 12
    assert got["mean"] == pytest.approx(b["mae"].mean())
    assert got["std"] == pytest.approx(np.std(b["mae"], ddof=1))
    assert got["fold_std"] == pytest.approx(np.std(b.groupby("fold")["mae"].mean(), ddof=1))


def test_best_is_max_for_similarity_and_min_for_error(rows):
    summary = summarize(rows=rows, metrics=["ssim", "mae"])
    assert best_per_metric(summary=summary, higher_is_better=HIGHER_IS_BETTER) == {
        "ssim": "c", "mae": "c"}
    flipped = best_per_metric(summary=summary, higher_is_better={"ssim": False, "mae": True})
    assert flipped == {"ssim": "a", "mae": "a"}


def test_paired_tests_equal_scipy_on_matched_subjects(rows):
    # Drop one subject of variant "a": only the 11 shared subjects may be paired.
    rows = rows[~((rows["variant"] == "a") & (rows["participant_id"] == "s3"))]
    result = compare_to_best(rows=rows, metrics=["ssim", "mae"])
    got = result[(result["metric"] == "ssim") & (result["variant"] == "a")].iloc[0]
    a = rows[rows["variant"] == "a"].set_index("participant_id")["ssim"]
    c = rows[rows["variant"] == "c"].set_index("participant_id")["ssim"].loc[a.index]
    assert got["best"] == "c" and got["n_pairs"] == 11
    assert got["t_pvalue"] == pytest.approx(scipy_stats.ttest_rel(a, c).pvalue)
    assert got["wilcoxon_pvalue"] == pytest.approx(scipy_stats.wilcoxon(a, c).pvalue)
    assert got["mean_difference"] == pytest.approx((a - c).mean())
    best_row = result[(result["metric"] == "mae") & (result["variant"] == "c")].iloc[0]
    assert np.isnan(best_row["t_pvalue"]) and np.isnan(best_row["wilcoxon_pvalue"])


def test_pairing_can_use_seed_and_fold_for_classification_rows():
    rng = np.random.default_rng(2)
    table = pd.DataFrame([{"variant": v, "seed": s, "fold": f,
                           "accuracy": 0.8 + (v == "x") * 0.05 + rng.normal(0, 0.01)}
                          for v in ("x", "y") for s in range(2) for f in range(5)])
    result = compare_to_best(rows=table, metrics=["accuracy"],
                             higher_is_better={"accuracy": True}, pair_on=("seed", "fold"))
    got = result[result["variant"] == "y"].iloc[0]
    x = table[table["variant"] == "x"]["accuracy"].to_numpy()
    y = table[table["variant"] == "y"]["accuracy"].to_numpy()
    assert got["best"] == "x" and got["n_pairs"] == 10
    assert got["t_pvalue"] == pytest.approx(scipy_stats.ttest_rel(y, x).pvalue)


def test_holm_matches_the_step_down_definition():
    # Sorted p: 0.01, 0.02, 0.04 (m = 3): 0.03, 0.04, 0.04 (monotone); NaN stays out.
    adjusted = holm([0.04, 0.01, np.nan, 0.02])
    np.testing.assert_allclose(adjusted[[1, 3, 0]], [0.03, 0.04, 0.04])
    assert np.isnan(adjusted[2])
    assert holm([0.5, 0.9])[1] == 1.0  # capped at 1


def test_corrected_resampled_ttest_inflates_the_variance_for_overlapping_training_sets():
    d = np.array([0.02, 0.03, 0.01, 0.04, 0.02, 0.03, 0.00, 0.05, 0.02, 0.03])
    t, p = corrected_resampled_ttest(differences=d, n_train=80, n_test=20)
    expected_t = d.mean() / np.sqrt((1 / 10 + 20 / 80) * d.var(ddof=1))
    assert t == pytest.approx(expected_t)
    assert p == pytest.approx(2 * scipy_stats.t.sf(expected_t, df=9))
    naive = scipy_stats.ttest_1samp(d, 0.0).pvalue
    assert p > naive  # the correction is conservative
    assert np.isnan(corrected_resampled_ttest(differences=[0, 0], n_train=8, n_test=2)[1])


def test_fold_means_average_seeds_within_folds():
    rows = pd.DataFrame({"source": ["a"] * 4, "seed": [0, 1, 0, 1], "fold": [0, 0, 1, 1],
                         "accuracy": [0.6, 0.8, 0.5, 0.7], "n_train": 8, "n_test": 2})
    means = fold_means(rows=rows, metrics=["accuracy"])
    assert means["accuracy"].tolist() == pytest.approx([0.7, 0.6])
    assert means["n_test"].tolist() == [2, 2]


def test_intervals_cover_the_mean_and_widen_with_the_correction():
    values = np.random.default_rng(4).normal(0.8, 0.05, 30)
    low, high = bootstrap_ci(values=values, seed=0)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(values=values, seed=0)  # seeded
    plain = t_interval(values=values)
    corrected = t_interval(values=values, inflation=0.25)
    assert corrected[0] < plain[0] < values.mean() < plain[1] < corrected[1]


def test_fold_test_has_no_wilcoxon_and_holm_columns_are_adjusted():
    rng = np.random.default_rng(5)
    table = pd.DataFrame([{"source": v, "fold": f,
                           "accuracy": 0.8 + shift + rng.normal(0, 0.02)}
                          for v, shift in (("x", 0.1), ("y", 0.0), ("z", 0.01))
                          for f in range(5)])
    result = compare_to_best(rows=table, metrics=["accuracy"], by="source",
                             higher_is_better={"accuracy": True}, pair_on=("fold",),
                             test="folds")
    others = result[result["source"] != "x"]
    assert others["wilcoxon_pvalue"].isna().all()
    np.testing.assert_allclose(others["t_pvalue_holm"], holm(others["t_pvalue"].tolist()))
    assert (others["t_pvalue_holm"] >= others["t_pvalue"]).all()
    with pytest.raises(ValueError, match="unknown test 'anova'"):
        compare_to_best(rows=table, metrics=["accuracy"], by="source", test="anova",
                        higher_is_better={"accuracy": True}, pair_on=("fold",))
