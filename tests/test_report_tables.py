"""Report tables: mean ± std, best marks, p-values on the right rows, the baseline flag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gla_model.report import tables
from gla_model.report.inputs import ReportInputError

GOOD = {"glagan": {"mae": -0.004, "ssim": 0.03}, "unet3d": {"mae": -0.002, "ssim": 0.02},
        "glagan_k2": {"mae": -0.003, "ssim": 0.025}, "mean_train_pet": {}}


def test_table1_mean_std_best_and_pvalues(image_scores, report_variants):
    scores = image_scores(GOOD)
    table = tables.synthesis_quality_table(scores=scores, variants=report_variants,
                                           metric_spec={"dimensionality": "3D",
                                                        "ssim": {"window": 7}})
    data = table.data.set_index("variant")
    assert list(data.index) == ["glagan", "unet3d", "mean_train_pet"]  # main + baseline
    unet = scores[scores["variant"] == "unet3d"]
    assert data.loc["unet3d", "ssim_mean"] == pytest.approx(unet["ssim"].mean())
    assert data.loc["unet3d", "ssim_std"] == pytest.approx(
        unet.groupby("fold")["ssim"].mean().std(ddof=1))
    assert data.loc["unet3d", "ssim_subject_std"] == pytest.approx(unet["ssim"].std(ddof=1))
    # Best: highest SSIM, lowest MAE, exactly one row each.
    assert data["ssim_best"].tolist() == [True, False, False]
    assert data["mae_best"].tolist() == [True, False, False]
    # p-values: the paired t-test of U-Net against GLA-GAN on the same subjects.
    glagan = scores[scores["variant"] == "glagan"]
    expected = stats.ttest_rel(unet["ssim"].to_numpy(), glagan["ssim"].to_numpy()).pvalue
    assert data.loc["unet3d", "ssim_t_pvalue"] == pytest.approx(expected)
    assert np.isnan(data.loc["glagan", "ssim_t_pvalue"])
    assert data.loc["unet3d", "mae_wilcoxon_pvalue"] > 0
    # Markdown: bold best, p-values on the others, the spec under the table.
    line = next(row for row in table.markdown.splitlines() if row.startswith("| 3D U-Net"))
    assert f"{data.loc['unet3d', 'ssim_mean']:.4f} ± {data.loc['unet3d', 'ssim_std']:.4f}" in line
    assert "t p" in line and "W p" in line
    line = next(row for row in table.markdown.splitlines() if row.startswith("| GLA-GAN"))
    assert "**" in line
    assert "- ssim.window: 7" in table.markdown


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


def test_classification_tables_rows_and_std_over_folds_and_seeds(classification_rows,
                                                                  report_variants):
    rows = classification_rows({"mri_only": 0.80, "real_pet": 0.88, "glagan": 0.85,
                                "unet3d": 0.83, "glagan_k2": 0.84})
    table = tables.classification_table(results=rows, variants=report_variants, experiment="paired")
    assert table.name == "table2_classification_paired"
    assert table.data["source"].tolist() == ["mri_only", "real_pet", "glagan", "unet3d"]
    assert table.data["label"].tolist() == ["MRI only", "Real PET", "GLA-GAN", "3D U-Net"]
    real = rows[rows["source"] == "real_pet"]["accuracy"]
    data = table.data.set_index("source")
    assert data.loc["real_pet", "accuracy_mean"] == pytest.approx(real.mean())
    assert data.loc["real_pet", "accuracy_std"] == pytest.approx(real.std(ddof=1))
    assert data.loc["real_pet", "n"] == len(real)  # every seed and fold of the rows
    assert data.loc["real_pet", "accuracy_best"]
    complete = tables.classification_table(
        results=classification_rows({"mri_only": 0.8, "glagan": 0.85, "unet3d": 0.82},
                                    experiment="complete"),
        variants=report_variants, experiment="complete")
    assert complete.name == "table3_classification_complete"
    assert complete.data["source"].tolist() == ["mri_only", "glagan", "unet3d"]
    assert "Table III" in complete.markdown


def test_missing_results_name_the_source(classification_rows, report_variants):
    rows = classification_rows({"mri_only": 0.8, "glagan": 0.85})
    with pytest.raises(ReportInputError, match=r"the paired classification results have no "
                                             r"rows for \['real_pet', 'unet3d'\]"):
        tables.classification_table(results=rows, variants=report_variants, experiment="paired")


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
                   "paired_accuracy_best", "complete_accuracy_t_pvalue"):
        assert column in table.data.columns
    data = table.data.set_index("variant")
    assert data.loc["glagan_k2", "paired_accuracy_best"]  # best within this table's rows
    assert data.loc["glagan", "ssim_best"]
    assert "Accuracy (paired)" in table.markdown and "AUC (complete)" in table.markdown


def test_qc_table_summarises_values_and_lists_flags():
    qc = pd.DataFrame({"participant_id": ["a", "b", "c"], "dice_mni": [0.9, 0.8, 0.7],
                       "flag_low_dice": [False, True, True], "outlier": [0, 0, 1]})
    table = tables.qc_table(qc=qc)
    data = table.data.set_index("measure")
    assert data.loc["dice_mni", "mean"] == pytest.approx(0.8)
    assert data.loc["flag_low_dice", "n_flagged"] == 2
    assert data.loc["flag_low_dice", "flagged"] == "b, c"
    assert data.loc["outlier", "kind"] == "value"  # not named as a flag and not boolean
    assert "2: b, c" in table.markdown


def test_markdown_table_escapes_pipes_and_format_p():
    text = tables.markdown_table(pd.DataFrame({"a": ["x|y"], "b": [1]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]
    assert tables.format_p(0.0004) == "p<0.001"
    assert tables.format_p(0.1234) == "p=0.123"
    assert tables.format_p(float("nan")) == "–"


def test_write_table_files(tmp_path):
    table = tables.qc_table(qc=pd.DataFrame({"participant_id": ["a"], "x": [1.0]}))
    paths = tables.write_table_files(table=table, report_dir=tmp_path)
    assert [p.name for p in paths] == ["qc_summary.tsv", "qc_summary.md"]
    assert pd.read_csv(paths[0], sep="\t")["measure"].tolist() == ["x"]
    assert not list((tmp_path / "tables").glob(".*"))  # no temporary files left behind
