"""summary.md: findings follow the data, whichever way it goes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pandas as pd
import pytest

from gla_model.report import summary, tables
from gla_model.vocabulary import PAPER_TASK, TRUSTED_SYNTH_PET

GLAGAN_BEST = {"glagan": {"mae": -0.004, "ssim": 0.03, "ms_ssim": 0.03, "psnr": 1.0},
               "unet3d": {"mae": -0.002, "ssim": 0.02, "ms_ssim": 0.02, "psnr": 0.5},
               "mean_train_pet": {}}
UNET_BEST = {"glagan": {"mae": -0.002, "ssim": 0.02, "ms_ssim": 0.02, "psnr": 0.5},
             "unet3d": {"mae": -0.004, "ssim": 0.03, "ms_ssim": 0.03, "psnr": 1.0},
             "mean_train_pet": {}}


@pytest.fixture
def main_variants(report_variants) -> dict[str, dict[str, str]]:
    """The report variants of group main (GLA-GAN and 3D U-Net)."""
    return {name: spec for name, spec in report_variants.items() if spec["group"] == "main"}


@pytest.fixture
def summary_inputs(image_scores, classification_rows, main_variants
                   ) -> Callable[..., summary.SummaryInputs]:
    """``summary_inputs(quality=, paired_accuracy=, failures=None)``: every input of
    summary.md, with tables built from scores and classification rows around those values."""

    def build(*, quality: dict, paired_accuracy: dict, failures: dict | None = None,
              completed_right: tuple[str, ...] = ("glagan",),
              trusted_accuracy: float = 0.86, extra_tables: tuple = ()
              ) -> summary.SummaryInputs:
        scores = image_scores(quality)
        paired = classification_rows(paired_accuracy)
        complete = classification_rows({"mri_only": 0.80, "mean_imputed_pet": 0.79,
                                        "glagan": 0.84, "unet3d": 0.78,
                                        TRUSTED_SYNTH_PET: trusted_accuracy},
                                       experiment="complete")
        complete = complete.assign(threshold_quantile=0.9, threshold=0.02,
                                   n_untrusted_test=1, n_mri_only_test=2)
        sources = ("mri_only", "mean_imputed_pet", "glagan", "unet3d", TRUSTED_SYNTH_PET)
        predictions = pd.DataFrame([
            {"source": source, "participant_id": pid, "seed": seed, "fold": 0,
             "y_true": truth, "y_pred": truth if source in completed_right else 1 - truth,
             "score": 1.0 if truth else -1.0}
            for source in sources for seed in range(3) for pid, truth in (("e", 0), ("f", 1))])
        paper = {"task": PAPER_TASK, "reference": "glagan", "variants": main_variants}
        built = [tables.synthesis_quality_table(scores=scores, variants=main_variants,
                                                metric_spec={"a": 1}),
                 tables.classification_table(results=paired, experiment="paired", **paper),
                 tables.classification_table(results=complete, experiment="complete", **paper),
                 tables.completed_subjects_table(predictions=predictions,
                                                 mri_only_ids=["e", "f"],
                                                 variants=main_variants, reference="glagan"),
                 *extra_tables]
        cohort = pd.DataFrame({"participant_id": list("abcdef"),
                               "diagnosis": ["CN", "AD", "CN", "AD", "CN", "AD"],
                               "group": ["paired"] * 4 + ["mri_only"] * 2})
        return summary.SummaryInputs(
            config={"cv": {"n_folds": 5}, "features": {"mri": "density"},
                    "models": {"enabled": ["glagan", "unet3d"],
                                                     "variants": {"x": {}}}},
            variants=main_variants, reference="glagan", cohort=cohort, folds=cohort.iloc[:4],
            metric_spec={"dimensionality": "3D"}, scores=scores, paired=paired,
            complete=complete, tables=built, failures=failures or {})

    return build


PAIRED_OK = {"mri_only": 0.78, "real_pet": 0.90, "glagan": 0.86, "unet3d": 0.82}


def test_findings_when_glagan_is_best_and_real_pet_helps(summary_inputs, main_variants):
    text = summary.summary_markdown(inputs=summary_inputs(quality=GLAGAN_BEST,
                                                          paired_accuracy=PAIRED_OK))
    assert "Real PET beats MRI only in paired classification" in text
    n_models = len(main_variants)
    assert f"Every model ({n_models}) beats the mean-training-PET baseline" in text
    assert "Table I: GLA-GAN is the best model on every metric." in text
    # Real PET has the best Table II row, but it is an upper bound, not a competing model.
    assert "Table II: GLA-GAN is the best model on every metric." in text
    assert "Table III: GLA-GAN is the best model on every metric." in text
    assert "higher than both with GLA-GAN; not with 3D U-Net" in text
    assert "- MRI (density): regional GM / WM tissue density" in text
    assert ("Synthetic PET helped the subjects who had none (Table III on the 2 MRI-only "
            "subjects alone, accuracy; MRI only 0.000, mean-imputed PET 0.000): better than "
            "both with GLA-GAN 1.000; not better with 3D U-Net 0.000") in text


def test_completed_subjects_finding_says_when_synthetic_pet_did_not_help(summary_inputs):
    text = summary.summary_markdown(inputs=summary_inputs(
        quality=GLAGAN_BEST, paired_accuracy=PAIRED_OK,
        completed_right=("mri_only", "glagan")))
    assert "Synthetic PET did NOT help the subjects who had none" in text
    assert "not better with GLA-GAN 1.000, 3D U-Net 0.000" in text


def test_findings_flip_when_the_data_flips(summary_inputs):
    paired = {"mri_only": 0.90, "real_pet": 0.80, "glagan": 0.85, "unet3d": 0.82}
    quality = {**UNET_BEST, "glagan": {"mae": 0.002, "ssim": 0.02}}  # worse MAE than baseline
    text = summary.summary_markdown(inputs=summary_inputs(quality=quality,
                                                          paired_accuracy=paired))
    assert "Real PET does NOT beat MRI only" in text
    assert "NOT every model beats the mean-training-PET baseline" in text
    assert "GLA-GAN (MAE" in text
    assert "Table I: GLA-GAN is NOT the best model on 4 of 4 metrics" in text
    assert "SSIM (best: 3D U-Net; Holm-corrected t p<0.001" in text
    assert "Table II: GLA-GAN is the best model on every metric." in text


def test_summary_sections_config_cohort_and_failures(summary_inputs):
    text = summary.summary_markdown(inputs=summary_inputs(
        quality=GLAGAN_BEST, paired_accuracy=PAIRED_OK,
        failures={"s07": "registration failed"}))
    assert "- cv.n_folds: 5" in text
    assert "models.variants" not in text  # shown as the models table instead
    assert "| glagan | GLA-GAN | main |" in text
    assert "| paired | 2 | 2 | 4 |" in text  # AD, CN, total
    assert "- sub-s07: registration failed" in text
    assert "- dimensionality: 3D" in text
    assert "`table1_synthesis_quality`: Table I" in text


def test_summary_lists_excluded_participants_with_their_reasons(summary_inputs):
    inputs = summary_inputs(quality=GLAGAN_BEST, paired_accuracy=PAIRED_OK)
    text = summary.summary_markdown(inputs=dataclasses.replace(inputs, excluded={
        "x1": "cohort.exclude: failed T1w QC: motion",
        "x2": "diagnosis_sc 'EMCI' in participants.tsv is neither CN nor AD",
        "x3": "diagnosis_sc 'EMCI' in participants.tsv is neither CN nor AD"}))
    section = text.split("## Excluded participants", 1)[1].split("##", 1)[0]
    assert "3 participant(s) of participants.tsv are left out of everything" in section
    assert "- cohort.exclude: failed T1w QC: motion (1): sub-x1" in section
    assert ("- diagnosis_sc 'EMCI' in participants.tsv is neither CN nor AD (2): sub-x2, "
            "sub-x3") in section
    nobody = summary.summary_markdown(inputs=dataclasses.replace(inputs, excluded={}))
    assert "No participant of participants.tsv was excluded." in nobody
    assert "Not recorded: the cohort table has no sidecar" in summary.summary_markdown(
        inputs=inputs)


def test_no_statement_about_a_reference_that_was_not_run(summary_inputs, main_variants):
    inputs = summary_inputs(quality=GLAGAN_BEST, paired_accuracy=PAIRED_OK)
    statements = summary.reference_findings(scores=inputs.scores, paired=inputs.paired,
                                            complete=inputs.complete, variants=main_variants,
                                            reference="glagan_x")
    assert statements == ["The reference model 'glagan_x' was not run, so no statement is "
                          "made about whether it is best."]


@pytest.mark.parametrize(("trusted_accuracy", "verdict"), [(0.90, "helped"),
                                                           (0.70, "did NOT help")])
def test_the_trusted_completion_finding_follows_table_iii(summary_inputs, trusted_accuracy,
                                                          verdict):
    inputs = summary_inputs(quality=GLAGAN_BEST, paired_accuracy=PAIRED_OK,
                            trusted_accuracy=trusted_accuracy)
    text = summary.summary_markdown(inputs=inputs)
    line = next(line for line in text.splitlines() if "uncertain completions" in line
                and line.startswith("- Leaving"))
    assert f"Leaving out uncertain completions {verdict} Table III" in line
    assert "1.0 of 2.0 MRI-only test subjects per split" in line
    table = next(t.data for t in inputs.tables if t.name == "table3_classification_complete")
    trusted = table.set_index("source").loc[TRUSTED_SYNTH_PET, "accuracy_mean"]
    assert f"accuracy {trusted:.3f}" in line
    if verdict == "helped":  # the best row: nothing to test against
        assert "accuracy the best row" in line
    else:
        assert "corrected resampled t-test over 15 repeats x folds" in line


def test_an_mci_task_table_gets_a_finding_and_a_description(summary_inputs,
                                                           classification_rows, main_variants):
    rows = classification_rows({"mri_only": 0.60, "real_pet": 0.80, "glagan": 0.55,
                                "unet3d": 0.58})
    table = tables.classification_table(results=rows, experiment="paired", task="mci_vs_cn",
                                        reference="glagan", variants=main_variants)
    text = summary.summary_markdown(inputs=summary_inputs(
        quality=GLAGAN_BEST, paired_accuracy=PAIRED_OK, extra_tables=(table,)))
    line = next(line for line in text.splitlines() if line.startswith("- MCI vs CN"))
    assert "GLA-GAN's synthetic PET does NOT add to MRI features on AUC" in line
    data = table.data.set_index("source")
    assert f"Real PET {data.loc['real_pet', 'auc_mean']:.3f}" in line
    assert "(best row: Real PET)" in line and "paired t-test over 5 outer folds" in line
    assert "`classification_mci_vs_cn_paired`: MCI vs CN: the RBF-SVM of Table II" in text
