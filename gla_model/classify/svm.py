"""One split of a classification experiment: tune, fit, score.

Every split fits ``StandardScaler -> SVC(rbf)`` whose C and gamma are chosen by a
stratified inner CV (balanced accuracy) on that split's training rows only; the test rows
are scored once with the refitted best model. Scores come from ``decision_function``
(one-vs-rest, one column per class, for a multi-class task).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from gla_model import folds as folds_module
from gla_model.classify.metrics import task_scores
from gla_model.classify.tasks import score_columns, task_classes, task_labels
from gla_model.errors import ConfigError, GlaModelError
from gla_model.features import feature_columns
from gla_model.settings import SvmSettings
from gla_model.vocabulary import MRI_FEATURES

INNER_SCORING = "balanced_accuracy"


def fit_svm(
    *, X: np.ndarray, y: np.ndarray, svm_config: SvmSettings, seed: int,
    probability: bool = False, n_classes: int = 2,
) -> Pipeline | CalibratedClassifierCV:
    """Tune C and gamma by stratified inner CV on (X, y) only; return the refitted pipeline.

    With ``probability`` the tuned pipeline is wrapped in a sigmoid calibration fitted on
    the inner folds' out-of-fold scores (``predict_proba``; the pipeline is ``.estimator``).

    Args:
        X: training features, ``(n_subjects, n_features)``.
        y: training labels ``0 .. n_classes - 1`` (:func:`.tasks.task_labels`).
        svm_config: grids and inner folds.
        seed: shuffles the inner folds.
        probability: also calibrate probabilities (``predict_proba``, one column a class).
        n_classes: classes of the task; each needs ``inner_folds`` training rows.
    """
    config = svm_config
    smallest = int(np.bincount(np.asarray(y, dtype=int), minlength=n_classes).min())
    if smallest < config.inner_folds:
        raise ConfigError(
            f"the smallest class of a training set has {smallest} subjects, fewer than "
            f"svm inner_folds = {config.inner_folds}; lower inner_folds or add subjects."
        )
    inner = StratifiedKFold(n_splits=config.inner_folds, shuffle=True, random_state=seed)
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("svm", SVC(kernel="rbf", decision_function_shape="ovr"))])
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


def tuned(model: Pipeline | CalibratedClassifierCV) -> dict[str, Any]:
    """C and gamma the inner CV chose for a :func:`fit_svm` model."""
    pipeline = model.estimator if isinstance(model, CalibratedClassifierCV) else model
    svm = pipeline.named_steps["svm"]
    return {"C": svm.C, "gamma": svm.gamma}


def evaluate_split(
    *, task: str, train: pd.DataFrame, test: pd.DataFrame, columns: Sequence[str],
    svm_config: SvmSettings, seed: int, impute_pet: bool = False,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fit on ``train`` rows, score ``test`` rows: (metrics + C, gamma, sizes; predictions).

    ``impute_pet`` fills missing PET features, in training and test rows alike, with the
    mean PET features of the training rows that have PET (nothing from the test rows)."""
    folds_module.assert_no_leakage(train=list(train["participant_id"]), val=[],
                                   test=list(test["participant_id"]))
    if impute_pet:
        train, test = mean_imputed(train=train, test=test)
    y_train = task_labels(train, task=task)
    model = fit_svm(X=matrix(train, columns), y=y_train, svm_config=svm_config, seed=seed,
                    n_classes=len(task_classes(task)))
    X_test = matrix(test, columns)
    return scored(task=task, train=train, test=test, y_pred=model.predict(X_test),
                  score=model.decision_function(X_test), fitted=tuned(model))


def scored(*, task: str, train: pd.DataFrame, test: pd.DataFrame, y_pred: np.ndarray,
           score: np.ndarray, fitted: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """The result row (metrics, ``fitted``, sizes) and predictions of one split's test rows."""
    y_test = task_labels(test, task=task)
    result = {**task_scores(task=task, y_true=y_test, y_pred=y_pred, score=score), **fitted,
              "n_train": len(train), "n_test": len(test)}
    scores = np.asarray(score, dtype=float).reshape(len(test), -1)
    predictions = pd.DataFrame({"participant_id": test["participant_id"].to_numpy(),
                                "y_true": y_test, "y_pred": np.asarray(y_pred, dtype=int),
                                **dict(zip(score_columns(task), scores.T, strict=True))})
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


def feature_set(*, source: str) -> list[str]:
    """MRI features only for ``mri_only``, MRI and PET features otherwise."""
    return feature_columns(modalities=("mri",) if source == MRI_FEATURES else ("mri", "pet"))


def matrix(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The ``columns`` of ``table`` as floats; a row with NaN is an error naming it."""
    X = table.loc[:, list(columns)].to_numpy(dtype=np.float64)
    bad = table.loc[~np.isfinite(X).all(axis=1), "participant_id"].tolist()
    if bad:
        raise GlaModelError(f"subjects {bad} have missing (NaN) features for this experiment.")
    return X
