"""Plain statements for ``summary.md`` on what the run adds beyond the paper: leaving out
uncertain completions (Table III's trusted row) and the MCI tasks, read from the built
report tables so that every number quoted is one a table shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from gla_model.classify.tasks import is_binary
from gla_model.layout.report import REPORT_TABLES, classification_table_name
from gla_model.report.markdown import format_p
from gla_model.report.tables import METRIC_LABELS, Table
from gla_model.report.tasks import MULTICLASS_LABELS, task_title
from gla_model.vocabulary import (
    CLASSIFICATION_TASKS,
    COMPLETE_EXPERIMENT,
    EXPERIMENTS,
    MEAN_IMPUTED_PET,
    MRI_FEATURES,
    PAIRED_EXPERIMENT,
    PAPER_TASK,
    REAL_PET,
    TRUSTED_SYNTH_PET,
)

ALPHA = 0.05
#: The two metrics a task's finding quotes: threshold-free and threshold-dependent.
HEADLINE_METRICS = {True: ("auc", "accuracy"), False: ("auc_ovr", "balanced_accuracy")}
EXPERIMENT_WORDS = {PAIRED_EXPERIMENT: "paired cohort, classifier trained on real PET",
                    COMPLETE_EXPERIMENT: "cohort completed with synthetic PET"}
#: The test behind a row's p-value against the best row, per experiment (as in its table).
TEST_WORDS = {PAIRED_EXPERIMENT: "paired t-test over {n} outer folds",
              COMPLETE_EXPERIMENT: "corrected resampled t-test over {n} repeats x folds"}


def trusted_finding(*, tables: Sequence[Table], reference: str,
                    variants: Mapping[str, Mapping]) -> str | None:
    """Whether leaving out the completions whose uncertainty exceeds the training folds'
    threshold helped Table III (all test rows, and the MRI-only subjects alone)."""
    complete = _table(tables, REPORT_TABLES["classification_complete"])
    if complete is None or TRUSTED_SYNTH_PET not in set(complete["source"]):
        return None
    data = complete.set_index("source")
    label = variants[reference]["label"]
    trusted, plain, mri = (data.loc[name] for name in (TRUSTED_SYNTH_PET, reference,
                                                       MRI_FEATURES))
    verdict = ("helped" if trusted["accuracy_mean"] > plain["accuracy_mean"]
               else "did NOT help")
    text = (f"Leaving out uncertain completions {verdict} Table III: with {label}'s synthetic "
            f"PET used only where its uncertainty is at or below the training folds' "
            f"threshold (on average {trusted['n_untrusted_test_mean']:.1f} of "
            f"{trusted['n_mri_only_test_mean']:.1f} MRI-only test subjects per split got MRI "
            f"features only), accuracy {trusted['accuracy_mean']:.3f} and AUC "
            f"{trusted['auc_mean']:.3f}, against {plain['accuracy_mean']:.3f} and "
            f"{plain['auc_mean']:.3f} with every completion and {mri['accuracy_mean']:.3f} "
            f"and {mri['auc_mean']:.3f} with MRI only (accuracy "
            f"{_versus_best(trusted, 'accuracy', experiment=COMPLETE_EXPERIMENT)})")
    if trusted["n_untrusted_test_mean"] == 0:
        text += ("; no completion's uncertainty exceeded its split's threshold, so the row "
                 "differs from the plain one only in its probability-calibrated SVM")
    alone = _table(tables, REPORT_TABLES["classification_completed_subjects"])
    if alone is not None and TRUSTED_SYNTH_PET in set(alone["source"]):
        rows = alone.set_index("source")
        text += (f"; on the {int(rows['n'].max())} MRI-only subjects alone accuracy "
                 f"{rows.loc[TRUSTED_SYNTH_PET, 'accuracy_mean']:.3f} against "
                 f"{rows.loc[reference, 'accuracy_mean']:.3f} with every completion and "
                 f"{rows.loc[MRI_FEATURES, 'accuracy_mean']:.3f} with MRI only")
    return text + "."


def task_findings(*, tables: Sequence[Table], reference: str,
                  variants: Mapping[str, Mapping]) -> list[str]:
    """Per task besides the paper's and per experiment: MRI only, real PET (paired) or the
    controls (complete), and the reference model's synthetic PET on two headline metrics,
    and which row is best, with the Holm-corrected test of each other row against it."""
    statements = []
    for task in CLASSIFICATION_TASKS:
        if task == PAPER_TASK:
            continue
        for experiment in EXPERIMENTS:
            data = _table(tables, classification_table_name(task=task, experiment=experiment))
            if data is None:
                continue
            statements.append(_task_statement(data=data, task=task, experiment=experiment,
                                              reference=reference, variants=variants))
    return statements


def _task_statement(*, data: pd.DataFrame, task: str, experiment: str, reference: str,
                    variants: Mapping[str, Mapping]) -> str:
    rows = data.set_index("source")
    names = [name for name in (MRI_FEATURES, REAL_PET, MEAN_IMPUTED_PET, reference,
                               TRUSTED_SYNTH_PET) if name in rows.index]
    headline = HEADLINE_METRICS[is_binary(task)]
    parts, significant = [], []
    for metric in headline:
        best = rows.index[rows[f"{metric}_best"].astype(bool)][0]
        values = []
        for name in names:
            value = f"{rows.loc[name, 'label']} {rows.loc[name, f'{metric}_mean']:.3f}"
            p = rows.loc[name, f"{metric}_t_pvalue_holm"]
            if name != best and not pd.isna(p):
                value += f" ({format_p(p)})"
                if p < ALPHA:
                    significant.append(f"{rows.loc[name, 'label']} on {_metric_label(metric)}")
            values.append(value)
        parts.append(f"{_metric_label(metric)}: {', '.join(values)} (best row: "
                     f"{rows.loc[best, 'label']})")
    first = headline[0]
    adds = ("adds to" if rows.loc[reference, f"{first}_mean"]
            > rows.loc[MRI_FEATURES, f"{first}_mean"] else "does NOT add to")
    test = TEST_WORDS[experiment].format(n=int(rows["n"].max()))
    verdict = (f"significantly below the best row: {', '.join(significant)}" if significant
               else "no row is significantly below the best")
    return (f"{task_title(task)} ({EXPERIMENT_WORDS[experiment]}): "
            f"{variants[reference]['label']}'s synthetic PET {adds} MRI features on "
            f"{_metric_label(first)}. " + "; ".join(parts) + f". p-values against the best "
            f"row: {test}, Holm-corrected over the table's rows; {verdict} at {ALPHA}.")


def _metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric) or MULTICLASS_LABELS[metric]


def _versus_best(row: pd.Series, metric: str, *, experiment: str) -> str:
    p = row[f"{metric}_t_pvalue_holm"]
    if pd.isna(p):
        return "the best row"
    significance = "significant" if p < ALPHA else "not significant"
    test = TEST_WORDS[experiment].format(n=int(row["n"]))
    return (f"vs the best row: {test}, Holm-corrected over the table's rows, "
            f"{format_p(p)}, {significance} at {ALPHA}")


def _table(tables: Sequence[Table], name: str) -> pd.DataFrame | None:
    found = [table.data for table in tables if table.name == name]
    return found[0] if found else None
