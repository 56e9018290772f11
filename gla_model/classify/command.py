"""``gla-model classify``: one experiment for one source, every requested task.

Writes, per task, ``<classify-dir>/<task>/<experiment>/<source>.tsv`` (per seed and outer
fold) and ``<source>_predictions.tsv`` beside it (per subject), paths from
:mod:`gla_model.layout`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from gla_model import folds as folds_module
from gla_model import vocabulary
from gla_model.classify.experiments import complete_experiment, paired_experiment
from gla_model.classify.tasks import task_metrics
from gla_model.cohort.table import cohort_frame, read_cohort_table
from gla_model.errors import ConfigError
from gla_model.features import read_features
from gla_model.layout import classification_path, predictions_path
from gla_model.settings import job_value, read_job_settings
from gla_model.tsvio import read_table, write_table
from gla_model.vocabulary import MEAN_IMPUTED_PET, MRI_FEATURES, REAL_PET, TRUSTED_SYNTH_PET

LOG = logging.getLogger(__name__)

#: Columns the trusted source reads from ``uncertainty/<reference>/subjects.tsv``.
UNCERTAINTY_COLUMNS = ("participant_id", "group", "sd_fold_models")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model classify``."""
    parser.add_argument("--settings", required=True,
                        help="JSON (or a JSON file) with classification.seeds and "
                             "classification.svm; for the complete experiment cv.n_folds; "
                             f"for {TRUSTED_SYNTH_PET} uncertainty.threshold_quantile and "
                             "evaluation.reference_variant; as the workflow writes it")
    parser.add_argument("--experiment", choices=vocabulary.EXPERIMENTS, required=True)
    parser.add_argument("--source", required=True,
                        help=f"a model variant, {MRI_FEATURES}, {REAL_PET} (paired), "
                             f"{MEAN_IMPUTED_PET} or {TRUSTED_SYNTH_PET} (complete)")
    parser.add_argument("--tasks", nargs="+", required=True,
                        choices=tuple(vocabulary.CLASSIFICATION_TASKS),
                        help="the tasks to run (those the cohort has the classes for)")
    parser.add_argument("--features-real", type=Path, required=True,
                        help=f"results/features/{REAL_PET}.tsv")
    parser.add_argument("--features-synth", type=Path,
                        help="results/features/<variant>.tsv (a variant source; for "
                             f"{TRUSTED_SYNTH_PET}, the reference variant's)")
    parser.add_argument("--uncertainty", type=Path,
                        help=f"results/uncertainty/<reference>/subjects.tsv "
                             f"({TRUSTED_SYNTH_PET} only)")
    parser.add_argument("--folds", type=Path, help="results/folds/folds.tsv (paired)")
    parser.add_argument("--cohort", type=Path, help="results/cohort/cohort.tsv (complete)")
    parser.add_argument("--classify-dir", type=Path, required=True,
                        help="results/classify (written: <task>/<experiment>/<source>*.tsv)")


def run_command(args: argparse.Namespace) -> None:
    """Run one classification experiment for one source and write its tables per task."""
    experiment, source = args.experiment, args.source
    paired = experiment == vocabulary.PAIRED_EXPERIMENT
    references = vocabulary.experiment_sources(experiment=experiment, variants=())
    others = set(vocabulary.BASELINE_SOURCES) - {vocabulary.MEAN_TRAIN_PET, *references}
    if source in others:
        raise ConfigError(f"--source {source} does not exist for --experiment {experiment}; "
                          f"its sources are {list(references)} and the model variants.")
    trusted = source == TRUSTED_SYNTH_PET
    reads_synth = source not in references or trusted
    if reads_synth and args.features_synth is None:
        raise ConfigError(f"--source {source} needs --features-synth results/features/"
                          "<variant>.tsv (the reference variant's for the trusted source).")
    if not reads_synth and args.features_synth is not None:
        raise ConfigError(f"--source {source} reads no synthetic PET; leave out "
                          "--features-synth.")
    if trusted != (args.uncertainty is not None):
        raise ConfigError(f"--uncertainty is required for --source {TRUSTED_SYNTH_PET} and "
                          "only for it.")
    payload = read_job_settings(args.settings)
    seeds = job_value(payload, "classification.seeds")
    svm = job_value(payload, "classification.svm")
    real = read_features(args.features_real)
    synth = read_features(args.features_synth) if reads_synth else None
    if paired:
        if args.folds is None:
            raise ConfigError("--experiment paired needs --folds results/folds/folds.tsv.")
        run = paired_experiment
        options = {"folds": folds_module.read_folds(args.folds)}
    else:
        if args.cohort is None:
            raise ConfigError("--experiment complete needs --cohort results/cohort/cohort.tsv.")
        run = complete_experiment
        options = {"cohort": cohort_frame(read_cohort_table(path=args.cohort)),
                   "n_folds": job_value(payload, "cv.n_folds")}
        if trusted:
            options |= trusted_options(payload=payload, synth=synth, path=args.uncertainty)
    for task in dict.fromkeys(args.tasks):
        results, predictions = run(task=task, source=source, features_real=real,
                                   features_synth=synth, svm_config=svm, seeds=seeds, **options)
        scores = classification_path(classify_dir=args.classify_dir, task=task,
                                     experiment=experiment, source=source)
        write_table(results, scores)
        write_table(predictions, predictions_path(scores=scores))
        headline = task_metrics(task)[0]
        LOG.info("%s %s %s: mean %s %.3f over %d splits", task, experiment, source, headline,
                 results[headline].mean(), len(results))


def trusted_options(*, payload: dict, synth: pd.DataFrame, path: Path) -> dict:
    """The trusted source's uncertainty table and quantile; its synthetic features must be
    the reference variant's (``evaluation.reference_variant``)."""
    reference = job_value(payload, "evaluation.reference_variant")
    found = sorted(set(synth["source"].astype(str)))
    if found != [reference]:
        raise ConfigError(f"--features-synth holds source {found}, not the reference variant "
                          f"{reference!r}; pass results/features/{reference}.tsv.")
    return {"uncertainty": read_table(path, columns=UNCERTAINTY_COLUMNS,
                                      role="uncertainty (subjects)"),
            "threshold_quantile": job_value(payload, "uncertainty.threshold_quantile")}
