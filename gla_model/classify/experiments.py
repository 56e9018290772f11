"""The two classification experiments, one task at a time (the task's subjects only).

* ``paired`` (Table II): outer folds are the generators' folds (folds.tsv). Training
  rows (the fold's train + val subjects) always carry REAL PET; test rows carry the
  source's PET: a variant's synthetic PET from the model of that same fold
  (``pet_origin == fold-<k>``, checked), ``real_pet``, or none (``mri_only``).
* ``complete`` (Table III): paired subjects with real PET plus MRI-only subjects completed
  with the variant's synthetic PET (``pet_origin == full``), stratified K-fold CV whose
  shuffling follows the seed; ``mri_only`` uses the same subjects with MRI features, the
  control ``mean_imputed_pet`` fills the MRI-only subjects' PET features with each split's
  training mean (naive imputation, which synthetic PET has to beat), and
  ``trusted_synth_pet`` keeps the reference variant's synthetic PET only where its
  uncertainty is low (:mod:`.trusted`).

The seed sets the inner CV shuffling (and, for ``complete``, the outer split).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sklearn.model_selection import StratifiedKFold

from gla_model import folds as folds_module
from gla_model import vocabulary
from gla_model.classify.svm import evaluate_split, feature_set
from gla_model.classify.tasks import score_columns, task_labels, task_metrics, task_rows
from gla_model.classify.trusted import TRUSTED_COLUMNS, trusted_split, uncertainty_of
from gla_model.errors import GlaModelError, LeakageError
from gla_model.features import PET_ORIGIN_REAL
from gla_model.layout import model_folder
from gla_model.settings import SvmSettings
from gla_model.vocabulary import MEAN_IMPUTED_PET, MRI_FEATURES, REAL_PET, TRUSTED_SYNTH_PET

PREDICTION_KEYS = ("participant_id", "seed", "fold", "y_true", "y_pred")


def result_columns(*, task: str, source: str) -> tuple[str, ...]:
    """Columns of a results table: keys, the task's metrics, the tuned C and gamma, the
    split sizes, and for the trusted source its threshold columns."""
    extra = TRUSTED_COLUMNS if source == TRUSTED_SYNTH_PET else ()
    return ("task", "experiment", "source", "seed", "fold", *task_metrics(task), "C", "gamma",
            "n_train", "n_test", *extra)


def prediction_columns(*, task: str, source: str) -> tuple[str, ...]:
    """Columns of a predictions table (the trusted source adds ``untrusted``)."""
    extra = ("untrusted",) if source == TRUSTED_SYNTH_PET else ()
    return (*PREDICTION_KEYS, *score_columns(task), *extra)


def paired_experiment(
    *, task: str, source: str, features_real: pd.DataFrame,
    features_synth: pd.DataFrame | None, folds: pd.DataFrame, svm_config: SvmSettings,
    seeds: Sequence[int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table II: the generators' outer folds; real-PET training rows, source test rows."""
    columns = feature_set(source=source)
    real = _indexed(features_real, name="real features")
    synth = None if features_synth is None else _indexed(features_synth, name="synthetic")
    folds = task_rows(folds, task=task)
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
            require_real_pet(train, name="paired training rows")
        for seed in seeds:
            result, prediction = evaluate_split(task=task, train=train, test=test,
                                                columns=columns, svm_config=svm_config,
                                                seed=seed)
            results.append({"task": task, "experiment": vocabulary.PAIRED_EXPERIMENT,
                            "source": source, "seed": seed, "fold": fold, **result})
            predictions.append(prediction.assign(seed=seed, fold=fold))
    return _tables(results, predictions, task=task, source=source)


def complete_experiment(
    *, task: str, source: str, features_real: pd.DataFrame,
    features_synth: pd.DataFrame | None, cohort: pd.DataFrame, n_folds: int,
    svm_config: SvmSettings, seeds: Sequence[int], uncertainty: pd.DataFrame | None = None,
    threshold_quantile: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table III: stratified K-fold CV over paired (real PET) + MRI-only (synthetic PET).

    ``uncertainty`` (``participant_id``, ``sd_fold_models``) and ``threshold_quantile`` are the
    trusted source's, required for it and unused otherwise."""
    table = task_rows(completed_table(source=source, features_real=features_real,
                                      features_synth=features_synth, cohort=cohort),
                      task=task).reset_index(drop=True)
    if source == TRUSTED_SYNTH_PET:
        if uncertainty is None or threshold_quantile is None:
            raise GlaModelError(f"source {source} needs the reference variant's uncertainty "
                                "table and uncertainty.threshold_quantile.")
        sd = uncertainty_of(uncertainty=uncertainty, participant_ids=table["participant_id"])
    columns = feature_set(source=source)
    y = task_labels(table, task=task)
    results, predictions = [], []
    for seed in seeds:
        outer = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        for fold, (train_index, test_index) in enumerate(outer.split(table, y)):
            train, test = table.iloc[train_index], table.iloc[test_index]
            if source == TRUSTED_SYNTH_PET:
                result, prediction = trusted_split(
                    task=task, train=train, test=test, sd=sd, quantile=threshold_quantile,
                    svm_config=svm_config, seed=seed)
            else:
                result, prediction = evaluate_split(
                    task=task, train=train, test=test, columns=columns,
                    svm_config=svm_config, seed=seed, impute_pet=source == MEAN_IMPUTED_PET)
            results.append({"task": task, "experiment": vocabulary.COMPLETE_EXPERIMENT,
                            "source": source, "seed": seed, "fold": fold, **result})
            predictions.append(prediction.assign(seed=seed, fold=fold))
    return _tables(results, predictions, task=task, source=source)


def completed_table(*, source: str, features_real: pd.DataFrame,
                    features_synth: pd.DataFrame | None, cohort: pd.DataFrame) -> pd.DataFrame:
    """Every cohort subject's features for ``source``: paired subjects with real PET, then
    MRI-only subjects with the full model's synthetic PET (NaN PET for ``mri_only`` and
    ``mean_imputed_pet``)."""
    real = _indexed(features_real, name="real features")
    paired_ids = cohort.loc[cohort["group"] == vocabulary.PAIRED, "participant_id"].tolist()
    mri_only_ids = cohort.loc[cohort["group"] == vocabulary.MRI_ONLY_SUBJECTS,
                              "participant_id"].tolist()
    if source in (MRI_FEATURES, MEAN_IMPUTED_PET):
        table = _rows(real, [*paired_ids, *mri_only_ids], name="real features")
        require_real_pet(table.iloc[:len(paired_ids)], name="paired subjects")
        return table
    paired = _rows(real, paired_ids, name="real features")
    require_real_pet(paired, name="paired subjects")
    completed = _rows(_indexed(features_synth, name="synthetic features"), mri_only_ids,
                      name="synthetic features")
    wrong = completed.loc[completed["pet_origin"] != vocabulary.FULL_FOLD,
                          "participant_id"].tolist()
    if wrong:
        raise GlaModelError(
            f"MRI-only subjects {wrong} lack synthetic PET from the full model; "
            f"recompute the {source} features from synthesize/<variant>/full."
        )
    return pd.concat([paired, completed], ignore_index=True)


def require_real_pet(table: pd.DataFrame, *, name: str) -> None:
    wrong = table.loc[table["pet_origin"] != PET_ORIGIN_REAL, "participant_id"].tolist()
    if wrong:
        raise GlaModelError(f"{name} {wrong} have no real PET features; use the real "
                            f"feature table (gla-model features --source {REAL_PET}).")


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


def _tables(results: list[dict], predictions: list[pd.DataFrame], *, task: str, source: str
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (pd.DataFrame(results, columns=list(result_columns(task=task, source=source))),
            pd.concat(predictions, ignore_index=True).loc[
                :, list(prediction_columns(task=task, source=source))])
