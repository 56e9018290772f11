"""Classification tasks: their classes, metrics and labels, and which ones a cohort can run.

A task (``classification.tasks``, :data:`gla_model.vocabulary.CLASSIFICATION_TASKS`) uses
only the subjects of its classes. A row's label is the index of its diagnosis among the
task's classes: binary tasks score the last class as positive (AD in ad_vs_cn and
ad_vs_mci, MCI in mci_vs_cn); the three-class task labels CN 0, MCI 1, AD 2.

No scikit-learn here: the Snakefile calls :func:`runnable_tasks` at DAG-build time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from gla_model.errors import CohortError, ConfigError, GlaModelError
from gla_model.vocabulary import CLASSIFICATION_TASKS, PAPER_TASK

#: Metrics of a binary task (positive class = the task's last class).
BINARY_METRICS = ("accuracy", "sensitivity", "specificity", "f1", "mcc", "auc")
#: Metrics of a multi-class task besides the per-class sensitivities (``sensitivity_<class>``).
MULTICLASS_SUMMARY = ("balanced_accuracy", "macro_f1", "auc_ovr")


def task_classes(task: str) -> tuple[str, ...]:
    """The diagnoses of ``task``, reference first (binary: positive last)."""
    if task not in CLASSIFICATION_TASKS:
        raise ConfigError(f"unknown classification task {task!r}; one of "
                          f"{list(CLASSIFICATION_TASKS)} (classification.tasks).")
    return CLASSIFICATION_TASKS[task]


def is_binary(task: str) -> bool:
    return len(task_classes(task)) == 2


def task_metrics(task: str) -> tuple[str, ...]:
    """Binary: :data:`BINARY_METRICS`. Multi-class: balanced accuracy, the sensitivity
    (recall) of each class, macro-F1 and the one-vs-rest AUC averaged over classes."""
    if is_binary(task):
        return BINARY_METRICS
    balanced, macro_f1, auc = MULTICLASS_SUMMARY
    return (balanced, *(f"sensitivity_{c.lower()}" for c in task_classes(task)), macro_f1, auc)


def score_columns(task: str) -> tuple[str, ...]:
    """Prediction-table score columns: ``score`` (the positive class's) for a binary task,
    ``score_<class>`` (one-vs-rest, per class) for a multi-class one."""
    if is_binary(task):
        return ("score",)
    return tuple(f"score_{c.lower()}" for c in task_classes(task))


def task_rows(table: pd.DataFrame, *, task: str) -> pd.DataFrame:
    """The rows of ``table`` whose ``diagnosis`` is a class of ``task``, in their order."""
    return table.loc[table["diagnosis"].isin(task_classes(task))]


def task_labels(table: pd.DataFrame, *, task: str) -> np.ndarray:
    """Each row's class index in ``task`` (see the module docstring); a diagnosis outside
    the task is an error."""
    classes = task_classes(task)
    bad = sorted(set(table["diagnosis"]) - set(classes))
    if bad:
        raise GlaModelError(f"task {task} takes diagnoses {list(classes)}, found {bad}; "
                            "select the task's rows first (or fix the cohort table).")
    return table["diagnosis"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)


def subjects_needed(*, n_folds: int, inner_folds: int) -> int:
    """Paired subjects a class needs: one per outer fold, and a training part (all but the
    largest test fold's share, ``ceil(n / n_folds)``) that fills the inner CV's folds."""
    count = n_folds
    while count - math.ceil(count / n_folds) < inner_folds:
        count += 1
    return count


def runnable_tasks(*, tasks: Sequence[str], paired_counts: Mapping[str, int], n_folds: int,
                   inner_folds: int) -> tuple[tuple[str, ...], dict[str, str]]:
    """The tasks of ``tasks`` this cohort can run, and why each other one cannot.

    A task runs when every class has :func:`subjects_needed` paired subjects (the paired
    experiment's folds; the complete experiment has at least as many per class). The
    paper's task must run: a cohort too small for it is an error.

    Args:
        tasks: ``classification.tasks``.
        paired_counts: paired subjects per diagnosis.
        n_folds: ``cv.n_folds``.
        inner_folds: ``classification.svm.inner_folds``.
    """
    needed = subjects_needed(n_folds=n_folds, inner_folds=inner_folds)
    runnable, skipped = [], {}
    for task in tasks:
        short = {c: paired_counts.get(c, 0) for c in task_classes(task)
                 if paired_counts.get(c, 0) < needed}
        if not short:
            runnable.append(task)
            continue
        skipped[task] = (", ".join(f"{n} paired {c}" for c, n in short.items())
                         + f", needs {needed} per class")
    if PAPER_TASK in skipped:
        raise CohortError(
            f"the cohort cannot run the paper's task {PAPER_TASK}: {skipped[PAPER_TASK]} "
            f"(cv.n_folds {n_folds}, classification.svm.inner_folds {inner_folds}); add "
            "paired subjects or lower cv.n_folds or classification.svm.inner_folds.")
    return tuple(runnable), skipped


def describe_skipped(*, skipped: Mapping[str, str], n_folds: int, inner_folds: int) -> str:
    """One line naming the skipped tasks and why (empty when none was skipped)."""
    if not skipped:
        return ""
    reasons = "; ".join(f"{task} ({why})" for task, why in skipped.items())
    return (f"Classification tasks skipped, too few subjects for cv.n_folds {n_folds} and "
            f"classification.svm.inner_folds {inner_folds}: {reasons}")
