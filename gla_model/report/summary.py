"""``summary.md``: the run's configuration, cohort and metric spec, what each table shows,
and findings computed from the results, stated plainly whichever way they go."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from gla_model.cohort.table import exclusion_lines
from gla_model.evaluate import stats
from gla_model.features import MRI_FEATURE_DESCRIPTIONS, PET_FEATURE_DESCRIPTION
from gla_model.layout.report import REPORT_TABLES, ablation_name, classification_table_name
from gla_model.report.inputs import CLASSIFICATION_METRICS, IMAGE_METRICS
from gla_model.report.markdown import format_p, markdown_table, metric_spec_lines
from gla_model.report.tables import (
    BASELINE,
    BASELINE_LABEL,
    METRIC_LABELS,
    Table,
    baseline_check,
    classification_units,
    image_units,
)
from gla_model.report.task_findings import task_findings, trusted_finding
from gla_model.report.tasks import task_title
from gla_model.vocabulary import (
    CLASSIFICATION_TASKS,
    COMPLETE_EXPERIMENT,
    EXPERIMENTS,
    MEAN_IMPUTED_PET,
    MRI_FEATURES,
    PAIRED_EXPERIMENT,
    PAPER_TASK,
    REAL_PET,
)

ALPHA = 0.05
TABLE_DESCRIPTIONS = {
    REPORT_TABLES["synthesis_quality"]: "Table I: SSIM, MS-SSIM, PSNR and MAE of each main "
    "model's synthetic PET against the real PET of the test fold's subjects, next to the "
    "trivial mean-training-PET baseline; mean ± SD over test subjects, paired t-test and "
    "Wilcoxon p-values against the best row, Holm-corrected.",
    REPORT_TABLES["classification_paired"]: "Table II: AD-vs-CN RBF-SVM on the paired "
    "cohort, cross-validated on the generators' folds; trained on real PET, tested on MRI "
    "only, real PET, or each model's synthetic PET; mean ± SD over outer folds (seeds "
    "averaged), paired t-tests over folds, Holm-corrected.",
    REPORT_TABLES["classification_complete"]: "Table III: the same SVM on the cohort "
    "completed with each model's synthetic PET for the MRI-only subjects, against MRI "
    "features only and mean-imputed PET, plus the reference model's completions with the "
    "uncertain ones (above a threshold chosen on the training rows) left to MRI features; "
    "mean ± SD over repeats x folds, corrected resampled t-tests.",
    REPORT_TABLES["classification_completed_subjects"]: "Table III on the MRI-only subjects "
    "alone: whether synthetic PET beats MRI only and mean imputation where it matters.",
    ablation_name("ablation_architecture"): "Ablation (Fig 4/8): global-only and local-only "
    "generators against GLA-GAN: image quality and classification accuracy/AUC.",
    ablation_name("ablation_losses"): "Ablation (Fig 8): loss-term combinations of GLA-GAN.",
    ablation_name("ablation_patches"): "Ablation (Fig 9): number of local patches K of "
    "GLA-GAN.",
    REPORT_TABLES["qc"]: "Preprocessing QC: distribution of every QC measure and the flagged "
    "subjects.",
}


@dataclass(frozen=True)
class SummaryInputs:
    """What the summary is computed from."""

    config: Mapping
    variants: Mapping[str, Mapping]
    reference: str
    cohort: pd.DataFrame
    folds: pd.DataFrame
    metric_spec: Mapping
    scores: pd.DataFrame
    paired: pd.DataFrame
    complete: pd.DataFrame
    tables: Sequence[Table]
    failures: Mapping[str, str]
    #: Participants left out by discovery -> reason (the cohort sidecar); None: no sidecar.
    excluded: Mapping[str, str] | None = None
    #: Plain statements on the synthetic PETs' uncertainty: calibration, flagged inputs.
    uncertainty: Sequence[str] = ()


def findings(*, inputs: SummaryInputs) -> list[str]:
    """Plain statements of what the results show."""
    return [
        real_pet_finding(paired=inputs.paired),
        baseline_finding(scores=inputs.scores, variants=inputs.variants),
        *reference_findings(scores=inputs.scores, paired=inputs.paired,
                            complete=inputs.complete, variants=inputs.variants,
                            reference=inputs.reference),
        completion_finding(complete=inputs.complete, variants=inputs.variants),
        *(completed_subjects_finding(table=table, variants=inputs.variants)
          for table in inputs.tables
          if table.name == REPORT_TABLES["classification_completed_subjects"]),
        *filter(None, [trusted_finding(tables=inputs.tables, reference=inputs.reference,
                                       variants=inputs.variants)]),
        *task_findings(tables=inputs.tables, reference=inputs.reference,
                       variants=inputs.variants),
    ]


def real_pet_finding(*, paired: pd.DataFrame) -> str:
    """Whether real PET beats MRI only in the paired classification (accuracy and AUC),
    tested as Table II is (paired t-test over outer folds)."""
    units = classification_units(results=paired.loc[paired["source"].isin([REAL_PET,
                                                                           MRI_FEATURES])],
                                 experiment=PAIRED_EXPERIMENT)
    tests = stats.compare_to_best(rows=units.rows, metrics=("accuracy", "auc"), by="source",
                                  pair_on=units.pair_on, test=units.test,
                                  higher_is_better={"accuracy": True, "auc": True})
    means = units.rows.groupby("source")[["accuracy", "auc"]].mean()
    parts = []
    for metric in ("accuracy", "auc"):
        real, mri = means.loc[REAL_PET, metric], means.loc[MRI_FEATURES, metric]
        test = tests.loc[(tests["metric"] == metric) & (tests["source"] != tests["best"])]
        verdict = "higher" if real > mri else "not higher"
        parts.append(f"{METRIC_LABELS[metric]} {real:.3f} vs {mri:.3f} ({verdict}; "
                     f"t {format_p(test['t_pvalue'].iloc[0])}, n = {len(units.rows) // 2} "
                     "folds)")
    real_better = all(means.loc[REAL_PET] > means.loc[MRI_FEATURES])
    head = ("Real PET beats MRI only" if real_better
            else "Real PET does NOT beat MRI only on both metrics")
    return f"{head} in paired classification: " + "; ".join(parts) + "."


def baseline_finding(*, scores: pd.DataFrame, variants: Mapping[str, Mapping]) -> str:
    """Whether every variant beats the mean-training-PET baseline on MAE and SSIM."""
    check = baseline_check(scores=scores).set_index("variant")
    base = check.loc[BASELINE]
    reported = [name for name in variants if name in check.index]
    failing = [name for name in reported if not check.loc[name, "beats_mean_train_pet"]]
    detail = f"(baseline MAE {base['mae_mean']:.4f}, SSIM {base['ssim_mean']:.4f})"
    if not failing:
        return (f"Every model ({len(reported)}) beats the mean-training-PET baseline on both "
                f"MAE and SSIM {detail}.")
    listed = ", ".join(
        f"{variants[name]['label']} (MAE {check.loc[name, 'mae_mean']:.4f}, "
        f"SSIM {check.loc[name, 'ssim_mean']:.4f})" for name in failing)
    return (f"NOT every model beats the mean-training-PET baseline on MAE and SSIM "
            f"{detail}: {listed} do(es) not.")


def reference_findings(*, scores: pd.DataFrame, paired: pd.DataFrame,
                       complete: pd.DataFrame, variants: Mapping[str, Mapping],
                       reference: str) -> list[str]:
    """Per main table, whether the reference (GLA-GAN) is the best *model* on each metric:
    among the main variants (and the mean-PET baseline in Table I; real PET and MRI only
    are judged by the other findings), with p-values against the best model."""
    if reference not in variants:
        return [f"The reference model {reference!r} was not run, so no statement is made "
                "about whether it is best."]
    label = variants[reference]["label"]
    models = [name for name, spec in variants.items() if spec["group"] == "main"]
    if reference not in models:
        models.append(reference)
    statements = []
    image = image_units()
    paired_units = classification_units(results=paired.loc[paired["source"].isin(models)],
                                        experiment=PAIRED_EXPERIMENT)
    complete_units = classification_units(
        results=complete.loc[complete["source"].isin(models)], experiment=COMPLETE_EXPERIMENT)
    for title, rows, key, metrics, units, higher in (
            ("Table I", scores.loc[scores["variant"].isin([*models, BASELINE])], "variant",
             IMAGE_METRICS, image, stats.HIGHER_IS_BETTER),
            ("Table II", paired_units.rows, "source", CLASSIFICATION_METRICS, paired_units,
             dict.fromkeys(CLASSIFICATION_METRICS, True)),
            ("Table III", complete_units.rows, "source", CLASSIFICATION_METRICS,
             complete_units, dict.fromkeys(CLASSIFICATION_METRICS, True))):
        tests = stats.compare_to_best(rows=rows, metrics=metrics, by=key,
                                      pair_on=units.pair_on, test=units.test,
                                      higher_is_better=dict(higher)).set_index(["metric", key])
        best, not_best = [], []
        for metric in metrics:
            row = tests.loc[(metric, reference)]
            if row["best"] == reference:
                best.append(METRIC_LABELS[metric])
                continue
            winner = (variants[row["best"]]["label"] if row["best"] in variants
                      else BASELINE_LABEL)
            significant = row["t_pvalue_holm"] < ALPHA
            not_best.append(
                f"{METRIC_LABELS[metric]} (best: {winner}; Holm-corrected t "
                f"{format_p(row['t_pvalue_holm'])}, "
                f"{'significant' if significant else 'not significant'} at {ALPHA})")
        if not not_best:
            statements.append(f"{title}: {label} is the best model on every metric.")
        else:
            statements.append(f"{title}: {label} is NOT the best model on {len(not_best)} of "
                              f"{len(metrics)} metrics: " + "; ".join(not_best)
                              + f". It is best on {', '.join(best) or 'no metric'}.")
    return statements


def completion_finding(*, complete: pd.DataFrame, variants: Mapping[str, Mapping]) -> str:
    """Which models' completed cohorts beat MRI only and the mean-imputed PET control on
    mean accuracy (Table III)."""
    means = complete.groupby("source")["accuracy"].mean()
    mri, imputed = means.loc[MRI_FEATURES], means.loc[MEAN_IMPUTED_PET]
    names = [name for name in variants if name in means.index]
    better = [variants[name]["label"] for name in names if means.loc[name] > max(mri, imputed)]
    worse = [variants[name]["label"] for name in names
             if means.loc[name] <= max(mri, imputed)]
    return (f"Completed cohort (Table III, all test subjects, most with real PET), accuracy "
            f"vs MRI only ({mri:.3f}) and mean-imputed PET ({imputed:.3f}): higher than both "
            f"with {', '.join(better) or 'no model'}; not with "
            f"{', '.join(worse) or 'no model'}.")


def completed_subjects_finding(*, table: Table, variants: Mapping[str, Mapping]) -> str:
    """Plainly: did synthetic PET help the subjects who had none, against MRI features only
    and against naive mean imputation, on those subjects alone?"""
    data = table.data.set_index("source")
    mri = data.loc[MRI_FEATURES, "accuracy_mean"]
    imputed = data.loc[MEAN_IMPUTED_PET, "accuracy_mean"]
    helped, not_helped = [], []
    for name in variants:
        if name not in data.index:
            continue
        accuracy = data.loc[name, "accuracy_mean"]
        (helped if accuracy > max(mri, imputed) else not_helped).append(
            f"{variants[name]['label']} {accuracy:.3f}")
    n = int(data["n"].max())
    verdict = ("Synthetic PET helped the subjects who had none" if helped
               else "Synthetic PET did NOT help the subjects who had none")
    return (f"{verdict} (Table III on the {n} MRI-only subjects alone, accuracy; MRI only "
            f"{mri:.3f}, mean-imputed PET {imputed:.3f}): better than both with "
            f"{', '.join(helped) or 'no model'}; not better with "
            f"{', '.join(not_helped) or 'no model'}. With n = {n}, differences of one or two "
            "subjects are within chance (see the table's Holm-corrected tests).")


def _feature_lines(config: Mapping) -> list[str]:
    mri = config["features"]["mri"]
    return [f"- MRI ({mri}): {MRI_FEATURE_DESCRIPTIONS[mri]}.",
            f"- PET: {PET_FEATURE_DESCRIPTION}."]


def summary_markdown(*, inputs: SummaryInputs) -> str:
    """The whole ``summary.md``."""
    lines = ["# GLA-GAN reproduction: summary of this run", "",
             "## Findings", "", *(f"- {f}" for f in findings(inputs=inputs)), "",
             "## Where synthetic PET can be trusted", "", *_uncertainty_lines(inputs), "",
             "## ROI features (Tables II and III)", "", *_feature_lines(inputs.config), "",
             "## Configuration", "", *(f"- {line}" for line in _config_lines(inputs.config)),
             "", "Models reported:", "", markdown_table(_variant_rows(inputs.variants)), "",
             "## Cohort", "", markdown_table(_cohort_counts(inputs.cohort)), "",
             f"{len(inputs.folds)} paired subjects are in the cross-validation folds.", "",
             "## Excluded participants", "", *_exclusion_lines(inputs.excluded), "",
             "## Failed subjects", "", *_failure_lines(inputs.failures), "",
             "## Metric spec", "", *(f"- {line}" for line in metric_spec_lines(inputs.metric_spec)),
             "", "## Tables", "",
             *(f"- `{t.name}`: {table_description(t.name)}" for t in inputs.tables), ""]
    return "\n".join(lines)


def table_description(name: str) -> str:
    """What a report table shows, in a sentence (a task's tables are described by task)."""
    for task in CLASSIFICATION_TASKS:
        for experiment in EXPERIMENTS:
            if task != PAPER_TASK and name == classification_table_name(task=task,
                                                                         experiment=experiment):
                return (f"{task_title(task)}: the RBF-SVM of Table "
                        f"{'II' if experiment == PAIRED_EXPERIMENT else 'III'} for this task, "
                        "with the same feature sets and statistics.")
    return TABLE_DESCRIPTIONS.get(name, name)


def _config_lines(config: Mapping, prefix: str = "") -> list[str]:
    lines = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        if path == "models.variants":
            continue
        if isinstance(value, Mapping):
            lines.extend(_config_lines(value, prefix=f"{path}."))
        else:
            lines.append(f"{path}: {value}")
    return lines


def _variant_rows(variants: Mapping[str, Mapping]) -> pd.DataFrame:
    return pd.DataFrame([{
        "name": name, "label": spec["label"], "group": spec["group"],
        "arch": spec.get("arch", ""), "k_patches": spec.get("k_patches", ""),
        "width": spec.get("width", ""),
        "losses": ", ".join(f"{k}={v}" for k, v in spec.get("losses", {}).items() if v)}
        for name, spec in variants.items()])


def _cohort_counts(cohort: pd.DataFrame) -> pd.DataFrame:
    counts = pd.crosstab(cohort["group"], cohort["diagnosis"], margins=True,
                         margins_name="total")
    return counts.reset_index().rename(columns={"group": "group \\ diagnosis"})


def _exclusion_lines(excluded: Mapping[str, str] | None) -> list[str]:
    if excluded is None:
        return ["Not recorded: the cohort table has no sidecar (cohort.json); rerun "
                "`gla-model cohort` to list who was excluded and why."]
    if not excluded:
        return ["No participant of participants.tsv was excluded."]
    return [f"{len(excluded)} participant(s) of participants.tsv are left out of everything "
            "(reason (count): participants):", "",
            *(f"- {line}" for line in exclusion_lines(excluded=excluded))]


def _uncertainty_lines(inputs: SummaryInputs) -> list[str]:
    if not inputs.uncertainty:
        return ["No uncertainty results were reported in this run."]
    return [f"- {line}" for line in inputs.uncertainty]


def _failure_lines(failures: Mapping[str, str]) -> list[str]:
    if not failures:
        return ["No subject failed preprocessing."]
    return [f"{len(failures)} subject(s) failed preprocessing and are excluded:", "",
            *(f"- sub-{pid}: {reason}" for pid, reason in failures.items())]
