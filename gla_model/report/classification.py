"""The report's classification parts of every task: Tables II and III (the paper's AD vs CN,
with the trusted-completion row), Table III on the completed subjects, one table per
experiment for each other task of ``--tasks``, and a multi-class task's confusion matrices.

Functions take the parsed ``gla-model report`` arguments (``classify_dir``, ``cohort``,
``out_dir``, ``tasks``, and ``reference``: ``evaluation.reference_variant``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from gla_model.classify.tasks import task_classes
from gla_model.cohort.table import read_cohort_table
from gla_model.errors import ConfigError
from gla_model.layout import report as report_layout
from gla_model.report import figures, inputs, tables
from gla_model.report.tasks import confusion_counts, task_title
from gla_model.vocabulary import (
    COMPLETE_EXPERIMENT,
    EXPERIMENTS,
    MRI_FEATURES,
    MRI_ONLY_SUBJECTS,
    PAIRED_EXPERIMENT,
    PAPER_TASK,
    REAL_PET,
    experiment_sources,
)


def task_tables(*, args: argparse.Namespace, variants: Mapping[str, Mapping], task: str,
                results: Mapping[str, pd.DataFrame]) -> list[tables.Table]:
    """A task's paired and complete tables (Tables II and III for the paper's task)."""
    return [tables.classification_table(results=results[experiment], variants=variants,
                                        experiment=experiment, task=task,
                                        reference=args.reference)
            for experiment in (PAIRED_EXPERIMENT, COMPLETE_EXPERIMENT)]


def completed_subjects(*, args: argparse.Namespace, variants: Mapping[str, Mapping]
                       ) -> tables.Table:
    """Table III on the MRI-only subjects alone, from the complete experiment's predictions."""
    sources = experiment_sources(experiment=COMPLETE_EXPERIMENT, variants=variants)
    predictions = inputs.read_predictions(directory=args.classify_dir, task=PAPER_TASK,
                                          experiment=COMPLETE_EXPERIMENT, sources=sources)
    subjects = read_cohort_table(path=args.cohort)
    mri_only = [s.participant_id for s in subjects if s.group == MRI_ONLY_SUBJECTS]
    return tables.completed_subjects_table(predictions=predictions, mri_only_ids=mri_only,
                                           variants=variants, reference=args.reference)


def confusion(*, args: argparse.Namespace, variants: Mapping[str, Mapping], task: str
              ) -> Path:
    """The multi-class ``task``'s confusion matrices in the paired experiment: MRI only,
    real PET and the reference variant's synthetic PET, pooled over folds and seeds."""
    sources = {MRI_FEATURES: tables.SOURCE_LABELS[MRI_FEATURES],
               REAL_PET: tables.SOURCE_LABELS[REAL_PET],
               args.reference: f"{variants[args.reference]['label']} (synthetic PET)"}
    predictions = inputs.read_predictions(directory=args.classify_dir, task=task,
                                          experiment=PAIRED_EXPERIMENT, sources=list(sources))
    classes = task_classes(task)
    counts = {label: confusion_counts(predictions=predictions.loc[predictions["source"] == s],
                                      n_classes=len(classes)) for s, label in sources.items()}
    figure = figures.confusion_figure(
        counts=counts, classes=classes,
        title=f"{task_title(task)}, paired cohort: test subjects pooled over folds and seeds")
    return figures.save_figure(figure=figure, path=report_layout.report_figure_path(
        report_dir=args.out_dir, stem=report_layout.confusion_name(task)))


def task_results(*, args: argparse.Namespace, variants: Mapping[str, Mapping], task: str
                 ) -> dict[str, pd.DataFrame]:
    """Every source's results of ``task`` per experiment (the trusted source: complete)."""
    return {experiment: inputs.read_classification(
                directory=args.classify_dir, task=task, experiment=experiment,
                sources=experiment_sources(experiment=experiment, variants=variants))
            for experiment in EXPERIMENTS}


def other_tasks(args: argparse.Namespace) -> list[str]:
    """The tasks of ``--tasks`` besides the paper's (which must be among them)."""
    if PAPER_TASK not in args.tasks:
        raise ConfigError(f"--tasks must include {PAPER_TASK} (Tables II and III).")
    return [task for task in dict.fromkeys(args.tasks) if task != PAPER_TASK]
