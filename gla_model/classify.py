"""AD-vs-CN classification with an RBF SVM on AAL ROI features (Tables II and III).

Every outer split fits ``StandardScaler -> SVC(rbf)`` whose C and gamma are chosen by a
stratified inner CV (balanced accuracy) on that split's training rows only; the test
rows are scored once with the refitted best model. AD is the positive class; AUC comes
from ``decision_function``.

* ``paired`` (Table II): outer folds are the generators' folds (folds.tsv). Training
  rows (the fold's train + val subjects) always carry REAL PET; test rows carry the
  source's PET: a variant's synthetic PET from the model of that same fold
  (``pet_origin == fold-<k>``, checked), ``real_pet``, or none (``mri_only``).
* ``complete`` (Table III): paired subjects with real PET plus MRI-only subjects completed
  with the variant's synthetic PET (``pet_origin == full``), stratified K-fold CV whose
  shuffling follows the seed; ``mri_only`` uses the same subjects with MRI features, and
  the control ``mean_imputed_pet`` fills the MRI-only subjects' PET features with each
  split's training mean (naive imputation, which synthetic PET has to beat).

The seed sets the inner CV shuffling (and, for ``complete``, the outer split).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skmetrics
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from gla_model import folds as folds_module
from gla_model import vocabulary
from gla_model.cohort.table import cohort_frame, read_cohort_table
from gla_model.errors import ConfigError, GlaModelError, LeakageError
from gla_model.features import PET_ORIGIN_REAL, feature_columns, read_features
from gla_model.layout import model_folder
from gla_model.settings import SvmSettings, job_value, read_job_settings
from gla_model.tsvio import write_table
from gla_model.vocabulary import MEAN_IMPUTED_PET, MRI_FEATURES, REAL_PET

LOG = logging.getLogger(__name__)

METRICS = ("accuracy", "sensitivity", "specificity", "f1", "mcc", "auc")
RESULT_COLUMNS = ("experiment", "source", "seed", "fold", *METRICS, "C", "gamma",
                  "n_train", "n_test")
PREDICTION_COLUMNS = ("participant_id", "seed", "fold", "y_true", "y_pred", "score")
INNER_SCORING = "balanced_accuracy"


def fit_svm(
    *, X: np.ndarray, y: np.ndarray, svm_config: SvmSettings, seed: int,
    probability: bool = False,
) -> Pipeline | CalibratedClassifierCV:
    """Tune C and gamma by stratified inner CV on (X, y) only; return the refitted pipeline.

    With ``probability`` the tuned pipeline is wrapped in a sigmoid calibration fitted on
    the inner folds' out-of-fold scores (``predict_proba``; the pipeline is ``.estimator``).

    Args:
        X: training features, ``(n_subjects, n_features)``.
        y: training labels, 1 = AD, 0 = CN.
        svm_config: grids and inner folds.
        seed: shuffles the inner folds.
        probability: also calibrate probabilities (``predict_proba``, column 1 = AD).
    """
    config = svm_config
    smallest = int(np.bincount(np.asarray(y, dtype=int), minlength=2).min())
    if smallest < config.inner_folds:
        raise ConfigError(
            f"the smallest class of a training set has {smallest} subjects, fewer than "
            f"svm inner_folds = {config.inner_folds}; lower inner_folds or add subjects."
        )
    inner = StratifiedKFold(n_splits=config.inner_folds, shuffle=True, random_state=seed)
    pipeline = Pipeline([("scale", StandardScaler()), ("svm", SVC(kernel="rbf"))])
    search = GridSearchCV(
        pipeline, {"svm__C": list(config.C), "svm__gamma": list(config.gamma)},
        scoring=INNER_SCORING, cv=inner, refit=True,
    )
    search.fit(X, y)
    if not probability:
        return search.best_estimator_
    # Platt scaling on out-of-fold decision values of the tuned pipeline, final model
    # refitted on all rows (what the deprecated ``SVC(probability=True)`` did).
    calibrated = CalibratedClassifierCV(search.best_estimator_, method="sigmoid", cv=inner,
                                        ensemble=False)
    return calibrated.fit(X, y)


def classification_metrics(
    *, y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray
) -> dict[str, float]:
    """Accuracy, sensitivity, specificity, F1, MCC (AD = 1 positive) and AUC of ``score``;
    AUC is NaN when the test set holds one class."""
    tn, fp, fn, tp = skmetrics.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    ratio = lambda a, b: float(a / b) if b else float("nan")  # noqa: E731
    both_classes = len(np.unique(y_true)) == 2
    return {
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "f1": float(skmetrics.f1_score(y_true, y_pred, labels=[0, 1], zero_division=0.0)),
        "mcc": _mcc(tp=tp, tn=tn, fp=fp, fn=fn),
        "auc": float(skmetrics.roc_auc_score(y_true, score)) if both_classes else float("nan"),
    }


def _mcc(*, tp: int, tn: int, fp: int, fn: int) -> float:
    """Matthews correlation from the confusion counts; 0 when a margin is empty (sklearn's
    convention)."""
    denominator = float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return float((tp * tn - fp * fn) / np.sqrt(denominator)) if denominator else 0.0


def evaluate_split(
    *, train: pd.DataFrame, test: pd.DataFrame, columns: Sequence[str],
    svm_config: SvmSettings, seed: int, impute_pet: bool = False,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fit on ``train`` rows, score ``test`` rows: (metrics + C, gamma, sizes; predictions).

    ``impute_pet`` fills missing PET features, in training and test rows alike, with the
    mean PET features of the training rows that have PET (nothing from the test rows)."""
    folds_module.assert_no_leakage(train=list(train["participant_id"]), val=[],
                                   test=list(test["participant_id"]))
    if impute_pet:
        train, test = mean_imputed(train=train, test=test)
    X_train, X_test = _matrix(train, columns), _matrix(test, columns)
    y_train, y_test = diagnosis_labels(train), diagnosis_labels(test)
    model = fit_svm(X=X_train, y=y_train, svm_config=svm_config, seed=seed)
    score = model.decision_function(X_test)
    y_pred = model.predict(X_test)
    svm = model.named_steps["svm"]
    result = {**classification_metrics(y_true=y_test, y_pred=y_pred, score=score),
              "C": svm.C, "gamma": svm.gamma, "n_train": len(train), "n_test": len(test)}
    predictions = pd.DataFrame({"participant_id": test["participant_id"].to_numpy(),
                                "y_true": y_test, "y_pred": y_pred, "score": score})
    return result, predictions


def mean_imputed(*, train: pd.DataFrame, test: pd.DataFrame
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Missing PET features of both sets replaced by the training rows' PET feature means."""
    pet = feature_columns(modalities=("pet",))
    means = train[pet].mean(axis=0, skipna=True)
    if means.isna().any():
        raise GlaModelError("no training row has PET features to impute from.")
    return (train.assign(**{c: train[c].fillna(means[c]) for c in pet}),
            test.assign(**{c: test[c].fillna(means[c]) for c in pet}))


def diagnosis_labels(table: pd.DataFrame) -> np.ndarray:
    """1 for AD, 0 for CN; anything else is an error."""
    bad = sorted(set(table["diagnosis"]) - {"AD", "CN"})
    if bad:
        raise GlaModelError(f"diagnosis must be AD or CN, found {bad}; fix the cohort table.")
    return (table["diagnosis"] == "AD").to_numpy(dtype=int)


def feature_set(*, source: str) -> list[str]:
    """MRI features only for ``mri_only``, MRI and PET features otherwise."""
    return feature_columns(modalities=("mri",) if source == MRI_FEATURES else ("mri", "pet"))


def paired_experiment(
    *, source: str, features_real: pd.DataFrame, features_synth: pd.DataFrame | None,
    folds: pd.DataFrame, svm_config: SvmSettings, seeds: Sequence[int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table II: the generators' outer folds; real-PET training rows, source test rows."""
    columns = feature_set(source=source)
    real = _indexed(features_real, name="real features")
    synth = None if features_synth is None else _indexed(features_synth, name="synthetic")
    results, predictions = [], []
    for fold in folds_module.fold_numbers(folds=folds):
        split = folds_module.fold_subjects(folds=folds, fold=fold)
        train_ids = [*split["train"], *split["val"]]
        folds_module.assert_no_leakage(train=train_ids, val=[], test=list(split["test"]))
        train = _rows(real, train_ids, name="real features")
        if synth is None:
            test = _rows(real, list(split["test"]), name="real features")
        else:
            test = _rows(synth, list(split["test"]), name="synthetic features")
            wrong = test.loc[test["pet_origin"] != model_folder(fold), "participant_id"].tolist()
            if wrong:
                raise LeakageError(
                    f"test subjects {wrong} of fold {fold} have synthetic PET not made by the "
                    f"fold-{fold} model; recompute the {source} features from its synthesize "
                    "outputs."
                )
        if source != MRI_FEATURES:
            _require_real_pet(train, name="paired training rows")
        for seed in seeds:
            result, prediction = evaluate_split(train=train, test=test, columns=columns,
                                                svm_config=svm_config, seed=seed)
            results.append({"experiment": vocabulary.PAIRED_EXPERIMENT, "source": source,
                            "seed": seed, "fold": fold, **result})
            predictions.append(prediction.assign(seed=seed, fold=fold))
    return _tables(results, predictions)


def complete_experiment(
    *, source: str, features_real: pd.DataFrame, features_synth: pd.DataFrame | None,
    cohort: pd.DataFrame, n_folds: int, svm_config: SvmSettings, seeds: Sequence[int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table III: stratified K-fold CV over paired (real PET) + MRI-only (synthetic PET)."""
    columns = feature_set(source=source)
    real = _indexed(features_real, name="real features")
    paired_ids = cohort.loc[cohort["group"] == vocabulary.PAIRED, "participant_id"].tolist()
    mri_only_ids = cohort.loc[cohort["group"] == vocabulary.MRI_ONLY_SUBJECTS,
                              "participant_id"].tolist()
    if source in (MRI_FEATURES, MEAN_IMPUTED_PET):
        table = _rows(real, [*paired_ids, *mri_only_ids], name="real features")
        _require_real_pet(table.iloc[:len(paired_ids)], name="paired subjects")
    else:
        paired = _rows(real, paired_ids, name="real features")
        _require_real_pet(paired, name="paired subjects")
        completed = _rows(_indexed(features_synth, name="synthetic features"), mri_only_ids,
                          name="synthetic features")
        wrong = completed.loc[completed["pet_origin"] != vocabulary.FULL_FOLD,
                              "participant_id"].tolist()
        if wrong:
            raise GlaModelError(
                f"MRI-only subjects {wrong} lack synthetic PET from the full model; "
                f"recompute the {source} features from synthesize/<variant>/full."
            )
        table = pd.concat([paired, completed], ignore_index=True)
    y = diagnosis_labels(table)
    results, predictions = [], []
    for seed in seeds:
        outer = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        for fold, (train_index, test_index) in enumerate(outer.split(table, y)):
            result, prediction = evaluate_split(
                train=table.iloc[train_index], test=table.iloc[test_index], columns=columns,
                svm_config=svm_config, seed=seed, impute_pet=source == MEAN_IMPUTED_PET)
            results.append({"experiment": vocabulary.COMPLETE_EXPERIMENT, "source": source,
                            "seed": seed, "fold": fold, **result})
            predictions.append(prediction.assign(seed=seed, fold=fold))
    return _tables(results, predictions)


def _indexed(table: pd.DataFrame, *, name: str) -> pd.DataFrame:
    duplicated = table.loc[table["participant_id"].duplicated(), "participant_id"].tolist()
    if duplicated:
        raise GlaModelError(f"{name} list subjects {duplicated} more than once.")
    return table.set_index("participant_id", drop=False)


def _rows(table: pd.DataFrame, ids: Sequence[str], *, name: str) -> pd.DataFrame:
    missing = [i for i in ids if i not in table.index]
    if missing:
        raise GlaModelError(f"{name} lack the subjects {missing}; recompute them for this cohort.")
    return table.loc[list(ids)].reset_index(drop=True)


def _require_real_pet(table: pd.DataFrame, *, name: str) -> None:
    wrong = table.loc[table["pet_origin"] != PET_ORIGIN_REAL, "participant_id"].tolist()
    if wrong:
        raise GlaModelError(f"{name} {wrong} have no real PET features; use the real "
                            f"feature table (gla-model features --source {REAL_PET}).")


def _matrix(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    X = table.loc[:, list(columns)].to_numpy(dtype=np.float64)
    bad = table.loc[~np.isfinite(X).all(axis=1), "participant_id"].tolist()
    if bad:
        raise GlaModelError(f"subjects {bad} have missing (NaN) features for this experiment.")
    return X


def _tables(results: list[dict], predictions: list[pd.DataFrame]) -> tuple[pd.DataFrame,
                                                                           pd.DataFrame]:
    return (pd.DataFrame(results, columns=list(RESULT_COLUMNS)),
            pd.concat(predictions, ignore_index=True).loc[:, list(PREDICTION_COLUMNS)])


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model classify``."""
    parser.add_argument("--settings", required=True,
                        help="JSON (or a JSON file) with classification and, for the "
                             "complete experiment, cv.n_folds, as the workflow writes it")
    parser.add_argument("--experiment", choices=vocabulary.EXPERIMENTS, required=True)
    parser.add_argument("--source", required=True,
                        help=f"a model variant, {MRI_FEATURES}, or {REAL_PET} (paired only)")
    parser.add_argument("--features-real", type=Path, required=True,
                        help=f"results/features/{REAL_PET}.tsv")
    parser.add_argument("--features-synth", type=Path,
                        help="results/features/<variant>.tsv (variant sources only)")
    parser.add_argument("--folds", type=Path, help="results/folds/folds.tsv (paired)")
    parser.add_argument("--cohort", type=Path, help="results/cohort/cohort.tsv (complete)")
    parser.add_argument("--out", type=Path, required=True, help="per-fold results TSV")
    parser.add_argument("--out-predictions", type=Path, required=True,
                        help="per-subject predictions TSV")


def run_command(args: argparse.Namespace) -> None:
    """Run one classification experiment for one source and write its tables."""
    paired = args.experiment == vocabulary.PAIRED_EXPERIMENT
    references = (MRI_FEATURES, REAL_PET) if paired else (MRI_FEATURES, MEAN_IMPUTED_PET)
    is_variant = args.source not in (MRI_FEATURES, REAL_PET, MEAN_IMPUTED_PET)
    if not paired and args.source == REAL_PET:
        raise ConfigError(f"--source {REAL_PET} exists only for --experiment paired.")
    if paired and args.source == MEAN_IMPUTED_PET:
        raise ConfigError(f"--source {MEAN_IMPUTED_PET} exists only for --experiment complete.")
    if is_variant != (args.features_synth is not None):
        raise ConfigError(
            f"--features-synth is required for a variant source and must be left out for "
            f"{' / '.join(references)} (got source {args.source!r})."
        )
    payload = read_job_settings(args.settings)
    classification = job_value(payload, "classification")
    real = read_features(args.features_real)
    synth = read_features(args.features_synth) if is_variant else None
    if paired:
        if args.folds is None:
            raise ConfigError("--experiment paired needs --folds results/folds/folds.tsv.")
        results, predictions = paired_experiment(
            source=args.source, features_real=real, features_synth=synth,
            folds=folds_module.read_folds(args.folds), svm_config=classification.svm,
            seeds=classification.seeds)
    else:
        if args.cohort is None:
            raise ConfigError("--experiment complete needs --cohort results/cohort/cohort.tsv.")
        results, predictions = complete_experiment(
            source=args.source, features_real=real, features_synth=synth,
            cohort=cohort_frame(read_cohort_table(path=args.cohort)),
            n_folds=job_value(payload, "cv.n_folds"), svm_config=classification.svm,
            seeds=classification.seeds)
    write_table(results, args.out)
    write_table(predictions, args.out_predictions)
    LOG.info("%s %s: mean accuracy %.3f over %d folds", args.experiment, args.source,
             results["accuracy"].mean(), len(results))
