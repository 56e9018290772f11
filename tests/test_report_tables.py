"""Report tables: mean ± std, best marks, p-values on the right rows, the baseline flag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gla_model.classify.tasks import task_metrics
from gla_model.evaluate.stats import corrected_resampled_ttest, holm
from gla_model.report import markdown, qc, tables
from gla_model.report.inputs import ReportInputError

GOOD = {"glagan": {"mae": -0.004, "ssim": 0.03}, "unet3d": {"mae": -0.002, "ssim": 0.02},
        "glagan_k2": {"mae": -0.003, "ssim": 0.025}, "mean_train_pet": {}}
TRUSTED = "trusted_synth_pet"


def _with_trusted(rows: pd.DataFrame) -> pd.DataFrame:
    """Complete-experiment rows whose trusted source carries its threshold columns: rows
    alternate 1 and 2 untrusted of 4 MRI-only test subjects, thresholds 0.1 and 0.3."""
    trusted = rows["source"] == TRUSTED
    split = np.arange(len(rows)) % 2
    return rows.assign(threshold_quantile=np.where(trusted, 0.9, np.nan),
                       threshold=np.where(trusted, 0.1 + 0.2 * split, np.nan),
                       n_untrusted_test=np.where(trusted, 1 + split, np.nan),
                       n_mri_only_test=np.where(trusted, 4, np.nan))


def _three_class_rows(levels: dict[str, float], *, experiment: str) -> pd.DataFrame:
    """3 seeds x 5 folds of the three-class metrics per source, around ``levels``."""
    rng = np.random.default_rng(3)
    return pd.DataFrame([
        {"task": "cn_vs_mci_vs_ad", "experiment": experiment, "source": source, "seed": seed,
         "fold": fold, "n_train": 32, "n_test": 8,
         **{m: level + rng.normal(0.0, 0.02) for m in task_metrics("cn_vs_mci_vs_ad")}}
        for source, level in levels.items() for seed in range(3) for fold in range(5)])


def test_table1_mean_std_best_and_pvalues(image_scores, report_variants):
    scores = image_scores(GOOD)
    table = tables.synthesis_quality_table(scores=scores, variants=report_variants,
                                           metric_spec={"dimensionality": "3D",
                                                        "ssim": {"window": 7}})
    data = table.data.set_index("variant")
    assert list(data.index) == ["glagan", "unet3d", "mean_train_pet"]  # main + baseline
    unet = scores[scores["variant"] == "unet3d"]
    assert data.loc["unet3d", "ssim_mean"] == pytest.approx(unet["ssim"].mean())
    # SD and n over test subjects; the 95 % bootstrap interval holds the mean.
    assert data.loc["unet3d", "ssim_std"] == pytest.approx(unet["ssim"].std(ddof=1))
    assert data.loc["unet3d", "n"] == len(unet)
    assert data.loc["unet3d", "ssim_ci_low"] < data.loc["unet3d", "ssim_mean"] < data.loc[
        "unet3d", "ssim_ci_high"]
    # Best: highest SSIM, lowest MAE, exactly one row each.
    assert data["ssim_best"].tolist() == [True, False, False]
    assert data["mae_best"].tolist() == [True, False, False]
    # p-values: the paired t-test of U-Net against GLA-GAN on the same subjects.
    glagan = scores[scores["variant"] == "glagan"]
    expected = stats.ttest_rel(unet["ssim"].to_numpy(), glagan["ssim"].to_numpy()).pvalue
    assert data.loc["unet3d", "ssim_t_pvalue"] == pytest.approx(expected)
    assert np.isnan(data.loc["glagan", "ssim_t_pvalue"])
    # Holm over the two rows compared with the best (U-Net and the baseline).
    raw = data.loc[["unet3d", "mean_train_pet"], "ssim_t_pvalue"].to_numpy()
    np.testing.assert_allclose(data.loc[["unet3d", "mean_train_pet"], "ssim_t_pvalue_holm"],
                               holm(raw))
    assert data.loc["unet3d", "mae_wilcoxon_pvalue"] > 0
    # Markdown: bold best, p-values on the others, the spec under the table.
    line = next(row for row in table.markdown.splitlines() if row.startswith("| 3D U-Net"))
    assert f"{data.loc['unet3d', 'ssim_mean']:.4f} ± {data.loc['unet3d', 'ssim_std']:.4f}" in line
    assert "t p" in line and "W p" in line
    line = next(row for row in table.markdown.splitlines() if row.startswith("| GLA-GAN"))
    assert "**" in line
    assert "- ssim.window: 7" in table.markdown
    assert f"test subjects (each once, in its test fold) (n = {len(unet)} per row)" in (
        table.markdown)
    assert "Holm correction" in table.markdown and "Wilcoxon signed-rank" in table.markdown


def test_table1_flags_a_variant_that_does_not_beat_the_baseline(image_scores, report_variants):
    offsets = {**GOOD, "unet3d": {"mae": 0.001, "ssim": 0.02}}  # worse MAE than baseline
    table = tables.synthesis_quality_table(scores=image_scores(offsets), variants=report_variants,
                                           metric_spec={})
    beats = table.data.set_index("variant")["beats_mean_train_pet"]
    assert beats["glagan"]
    assert not beats["unet3d"]
    assert pd.isna(beats["mean_train_pet"])
    line = next(row for row in table.markdown.splitlines() if row.startswith("| 3D U-Net"))
    assert line.rstrip(" |").endswith("**no**")


def test_baseline_check_needs_the_baseline(image_scores):
    scores = image_scores({"glagan": {}})
    with pytest.raises(ReportInputError, match="results lack the mean_train_pet baseline"):
        tables.baseline_check(scores=scores)


def test_table2_averages_seeds_per_fold_and_tests_over_folds(classification_rows,
                                                             report_variants):
    rows = classification_rows({"mri_only": 0.80, "real_pet": 0.88, "glagan": 0.85,
                                "unet3d": 0.83, "glagan_k2": 0.84})
    table = tables.classification_table(results=rows, variants=report_variants,
                                        experiment="paired", task="ad_vs_cn", reference="glagan")
    assert table.name == "table2_classification_paired"
    assert table.markdown.startswith("# Table II: AD vs CN classification, paired cohort")
    assert table.data["source"].tolist() == ["mri_only", "real_pet", "glagan", "unet3d"]
    assert table.data["label"].tolist() == ["MRI only", "Real PET", "GLA-GAN", "3D U-Net"]
    fold_accuracy = {source: part.groupby("fold")["accuracy"].mean()
                     for source, part in rows.groupby("source")}
    data = table.data.set_index("source")
    real = fold_accuracy["real_pet"]
    assert data.loc["real_pet", "accuracy_mean"] == pytest.approx(real.mean())
    assert data.loc["real_pet", "accuracy_std"] == pytest.approx(real.std(ddof=1))
    assert data.loc["real_pet", "n"] == rows["fold"].nunique()  # folds, not folds x seeds
    assert data.loc["real_pet", "accuracy_best"]
    expected = stats.ttest_rel(fold_accuracy["glagan"], real).pvalue
    assert data.loc["glagan", "accuracy_t_pvalue"] == pytest.approx(expected)
    assert data["accuracy_wilcoxon_pvalue"].isna().all()
    assert "paired two-tailed t-test over the outer folds" in table.markdown


def test_table3_uses_the_corrected_resampled_test_and_the_imputation_control(
        classification_rows, report_variants):
    rows = _with_trusted(classification_rows(
        {"mri_only": 0.8, "mean_imputed_pet": 0.79, "glagan": 0.85, "unet3d": 0.82,
         TRUSTED: 0.84}, experiment="complete"))
    complete = tables.classification_table(results=rows, variants=report_variants,
                                           experiment="complete", task="ad_vs_cn",
                                           reference="glagan")
    assert complete.name == "table3_classification_complete"
    assert complete.data["source"].tolist() == ["mri_only", "mean_imputed_pet", "glagan",
                                                "unet3d", TRUSTED]
    assert "MRI + mean-imputed PET (control)" in complete.markdown
    # The trusted row: the reference's label, its thresholds and untrusted counts.
    assert complete.data["label"].iloc[-1] == "GLA-GAN, uncertain completions → MRI only"
    trusted = complete.data.set_index("source").loc[TRUSTED]
    splits = rows[rows["source"] == TRUSTED]
    assert trusted["threshold_mean"] == pytest.approx(splits["threshold"].mean())
    untrusted = splits["n_untrusted_test"].mean()
    assert trusted["n_untrusted_test_mean"] == pytest.approx(untrusted) and 1 < untrusted < 2
    assert np.isnan(complete.data.set_index("source").loc["glagan", "threshold_mean"])
    assert "the 0.9 quantile of the split's training paired subjects' uncertainty" in (
        complete.markdown)
    assert (f"on average {untrusted:.1f} of 4.0 MRI-only test subjects per split"
            in complete.markdown)
    data = complete.data.set_index("source")
    glagan = rows[rows["source"] == "glagan"].sort_values(["seed", "fold"])
    unet = rows[rows["source"] == "unet3d"].sort_values(["seed", "fold"])
    _, p = corrected_resampled_ttest(
        differences=unet["accuracy"].to_numpy() - glagan["accuracy"].to_numpy(),
        n_train=32, n_test=8)
    assert data.loc["unet3d", "accuracy_t_pvalue"] == pytest.approx(p)
    assert data.loc["glagan", "n"] == len(glagan)
    assert "corrected resampled t-test (Nadeau & Bengio 2003)" in complete.markdown


def test_missing_results_name_the_source(classification_rows, report_variants):
    rows = classification_rows({"mri_only": 0.8, "glagan": 0.85})
    with pytest.raises(ReportInputError, match=r"the paired classification results have no "
                                             r"rows for \['real_pet', 'unet3d'\]"):
        tables.classification_table(results=rows, variants=report_variants,
                                    experiment="paired", task="ad_vs_cn", reference="glagan")


def test_ablation_table_has_reference_and_group_with_both_experiments(
        image_scores, classification_rows, report_variants):
    scores = image_scores(GOOD)
    accuracy = {"mri_only": 0.8, "real_pet": 0.9, "glagan": 0.85, "unet3d": 0.8,
                "glagan_k2": 0.87}
    table = tables.ablation_table(
        scores=scores, paired=classification_rows(accuracy),
        complete=classification_rows(accuracy, experiment="complete", seed=1),
        variants=report_variants, group="ablation_patches", reference="glagan")
    assert table.name == "ablation_patches"
    assert table.data["variant"].tolist() == ["glagan", "glagan_k2"]
    for column in ("ssim_mean", "paired_accuracy_mean", "complete_auc_std",
                   "paired_accuracy_best", "complete_accuracy_t_pvalue", "paired_mcc_mean",
                   "complete_specificity_t_pvalue_holm", "paired_f1_ci_low"):
        assert column in table.data.columns
    data = table.data.set_index("variant")
    assert data.loc["glagan_k2", "paired_accuracy_best"]  # best within this table's rows
    assert data.loc["glagan", "ssim_best"]
    assert "Accuracy (paired)" in table.markdown and "AUC (complete)" in table.markdown


def test_qc_table_summarises_values_and_lists_flags():
    rows = pd.DataFrame({"participant_id": ["a", "b", "c"], "dice_mni": [0.9, 0.8, 0.7],
                         "flag_low_dice": [False, True, True], "outlier": [0, 0, 1]})
    table = qc.qc_table(qc=rows)
    data = table.data.set_index("measure")
    assert data.loc["dice_mni", "mean"] == pytest.approx(0.8)
    assert data.loc["flag_low_dice", "n_flagged"] == 2
    assert data.loc["flag_low_dice", "flagged"] == "b, c"
    assert data.loc["outlier", "kind"] == "value"  # not named as a flag and not boolean
    assert "2: b, c" in table.markdown


def test_markdown_table_escapes_pipes_and_format_p():
    text = markdown.markdown_table(pd.DataFrame({"a": ["x|y"], "b": [1]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]
    assert markdown.format_p(0.0004) == "p<0.001"
    assert markdown.format_p(0.1234) == "p=0.123"
    assert markdown.format_p(float("nan")) == "–"


def test_write_table_files(tmp_path):
    table = qc.qc_table(qc=pd.DataFrame({"participant_id": ["a"], "x": [1.0]}))
    paths = tables.write_table_files(table=table, report_dir=tmp_path)
    assert [p.name for p in paths] == ["qc_summary.tsv", "qc_summary.md", "qc_summary.html"]
    page = paths[2].read_text()
    assert page.startswith("<!doctype html>") and "<table>" in page and "<th>Measure</th>" in page
    assert pd.read_csv(paths[0], sep="\t")["measure"].tolist() == ["x"]
    assert not list((tmp_path / "tables").glob(".*"))  # no temporary files left behind


def test_completed_subjects_table_scores_only_the_mri_only_subjects(report_variants):
    predictions = pd.DataFrame([
        {"source": source, "participant_id": pid, "seed": seed, "fold": 0, "y_true": truth,
         "y_pred": truth if source == "glagan" or pid.startswith("p") else 1 - truth,
         "score": 1.0 if truth else -1.0}
        for source in ("mri_only", "mean_imputed_pet", "glagan", "unet3d", TRUSTED)
        for seed in range(2) for pid, truth in (("p1", 0), ("p2", 1), ("m1", 0), ("m2", 1),
                                                ("m3", 1))])
    table = tables.completed_subjects_table(predictions=predictions,
                                            mri_only_ids=["m1", "m2", "m3"],
                                            variants=report_variants, reference="glagan")
    data = table.data.set_index("source")
    assert data.loc["glagan", "accuracy_mean"] == 1.0  # the paired p1, p2 do not count
    assert data.loc["unet3d", "accuracy_mean"] == 0.0
    assert data.loc["glagan", "n"] == 3
    assert data.loc[TRUSTED, "label"] == "GLA-GAN, uncertain completions → MRI only"
    assert data.loc["glagan", "accuracy_best"]
    assert "n = 3 per row" in table.markdown
    with pytest.raises(ReportInputError, match="hold no MRI-only subject"):
        tables.completed_subjects_table(predictions=predictions, mri_only_ids=["x"],
                                        variants=report_variants, reference="glagan")


def test_intervals_of_bounded_metrics_stay_in_their_range(classification_rows, report_variants):
    rows = classification_rows({"mri_only": 0.97, "real_pet": 0.99, "glagan": 0.98,
                                "unet3d": 0.96})
    data = tables.classification_table(results=rows, variants=report_variants,
                                       experiment="paired", task="ad_vs_cn",
                                       reference="glagan").data
    assert (data["accuracy_ci_high"] <= 1.0).all() and (data["accuracy_ci_low"] >= 0.0).all()
    assert (data["accuracy_ci_high"] == 1.0).any()  # the t interval reached past 1


def test_markdown_to_html_renders_the_report_subset_and_escapes():
    text = "\n".join(["# Table I: <quality>", "", "| A | B |", "|---|---|",
                      "| **0.9** | x\\|y |", "", "- p<0.05 `t`", "", "A note."])
    page = markdown.markdown_to_html(text, title="t")
    assert "<h1>Table I: &lt;quality&gt;</h1>" in page
    assert "<tr><th>A</th><th>B</th></tr>" in page
    assert "<td><b>0.9</b></td><td>x|y</td>" in page  # bold, escaped pipe kept in its cell
    assert "<li>p&lt;0.05 <code>t</code></li>" in page and "<p>A note.</p>" in page
    assert "---" not in page


def test_a_three_class_task_has_its_own_table_per_experiment(report_variants):
    paired = _three_class_rows({"mri_only": 0.5, "real_pet": 0.62, "glagan": 0.58,
                                "unet3d": 0.55}, experiment="paired")
    table = tables.classification_table(results=paired, variants=report_variants,
                                        experiment="paired", task="cn_vs_mci_vs_ad",
                                        reference="glagan")
    assert table.name == "classification_cn_vs_mci_vs_ad_paired"
    assert table.markdown.startswith("# CN / MCI / AD classification, paired cohort")
    header = table.markdown.splitlines()[2]
    assert header == ("| Features | Balanced accuracy | Sensitivity CN | Sensitivity MCI | "
                      "Sensitivity AD | Macro-F1 | AUC (one-vs-rest) |")
    data = table.data.set_index("source")
    folds = paired[paired["source"] == "real_pet"].groupby("fold")["balanced_accuracy"].mean()
    assert data.loc["real_pet", "balanced_accuracy_mean"] == pytest.approx(folds.mean())
    assert data.loc["real_pet", "balanced_accuracy_best"] and data.loc["real_pet", "n"] == 5
    assert data.loc["glagan", "sensitivity_mci_t_pvalue"] > 0
    complete = _with_trusted(_three_class_rows(
        {"mri_only": 0.5, "mean_imputed_pet": 0.49, "glagan": 0.56, "unet3d": 0.54,
         TRUSTED: 0.55}, experiment="complete"))
    table = tables.classification_table(results=complete, variants=report_variants,
                                        experiment="complete", task="cn_vs_mci_vs_ad",
                                        reference="unet3d")
    assert table.name == "classification_cn_vs_mci_vs_ad_complete"
    assert table.data["label"].iloc[-1] == "3D U-Net, uncertain completions → MRI only"
    assert "corrected resampled t-test" in table.markdown


def test_a_binary_mci_task_is_titled_with_its_positive_class_first(classification_rows,
                                                                   report_variants):
    rows = classification_rows({"mri_only": 0.6, "real_pet": 0.7, "glagan": 0.65,
                                "unet3d": 0.62})
    table = tables.classification_table(results=rows, variants=report_variants,
                                        experiment="paired", task="mci_vs_cn",
                                        reference="glagan")
    assert table.name == "classification_mci_vs_cn_paired"
    assert table.markdown.startswith("# MCI vs CN classification, paired cohort")
    assert "| Accuracy | Sensitivity |" in table.markdown
