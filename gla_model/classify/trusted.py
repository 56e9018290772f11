"""Table III's trusted completions: synthetic PET only where its uncertainty is low.

Source ``trusted_synth_pet`` of the complete experiment: MRI-only subjects carry the
reference variant's synthetic PET. Per outer split:

1. The threshold is the ``uncertainty.threshold_quantile`` quantile of ``sd_fold_models``
   (a subject's mean voxel SD over the test-time augmentations of a fold model, averaged
   over the fold models that may score it: a paired subject's own test-fold model, every
   fold model for an MRI-only subject; ``uncertainty/<reference>/subjects.tsv``) over the
   split's TRAINING rows that are paired subjects. Nothing of the test rows enters it. The
   fold models' spread, not the full model's, is the quantity both groups share: each model
   has its own typical spread, and the full model's is not the fold models'.
2. MRI-only rows above the threshold are untrusted, in training and test rows alike.
3. An MRI+PET SVM is fitted on the training rows with real or trusted PET, an MRI-only SVM
   on every training row; test rows with trusted PET are scored by the first, untrusted
   ones by the second. Both give calibrated probabilities (Platt scaling), so all test
   rows share one score scale for the AUC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gla_model import folds as folds_module
from gla_model.classify.svm import feature_set, fit_svm, matrix, scored, tuned
from gla_model.classify.tasks import is_binary, task_classes, task_labels
from gla_model.errors import GlaModelError
from gla_model.features import PET_ORIGIN_REAL
from gla_model.settings import SvmSettings
from gla_model.vocabulary import MRI_FEATURES, TRUSTED_SYNTH_PET

#: The column of the uncertainty table a completion is trusted by (see the docstring).
UNCERTAINTY_COLUMN = "sd_fold_models"
#: Result columns the trusted source adds: the quantile, the split's threshold, and how
#: many training and test rows were untrusted (of the test rows' MRI-only subjects).
TRUSTED_COLUMNS = ("threshold_quantile", "threshold", "n_untrusted_train", "n_untrusted_test",
                   "n_mri_only_test")


def uncertainty_of(*, uncertainty: pd.DataFrame, participant_ids: Sequence[str]) -> pd.Series:
    """``sd_fold_models`` of ``participant_ids`` (indexed by participant); a missing subject or
    a non-finite value is an error."""
    sd = pd.to_numeric(uncertainty.set_index("participant_id")[UNCERTAINTY_COLUMN],
                       errors="coerce")
    ids = list(participant_ids)
    bad = [p for p in ids if p not in sd.index or not np.isfinite(sd.get(p, np.nan))]
    if bad:
        raise GlaModelError(f"the uncertainty table has no finite {UNCERTAINTY_COLUMN} for "
                            f"subjects {bad}; rerun the uncertainty stage of the reference "
                            "variant.")
    return sd.loc[ids]


def trusted_split(*, task: str, train: pd.DataFrame, test: pd.DataFrame, sd: pd.Series,
                  quantile: float, svm_config: SvmSettings, seed: int
                  ) -> tuple[dict[str, Any], pd.DataFrame]:
    """One split of the trusted source (see the module docstring): the result row (metrics
    of the pooled test rows, the PET model's C and gamma, sizes, :data:`TRUSTED_COLUMNS`)
    and the predictions (``untrusted``: scored by the MRI-only SVM)."""
    folds_module.assert_no_leakage(train=list(train["participant_id"]), val=[],
                                   test=list(test["participant_id"]))
    threshold = training_threshold(train=train, sd=sd, quantile=quantile)
    untrusted_train = _untrusted(train, sd=sd, threshold=threshold)
    untrusted_test = _untrusted(test, sd=sd, threshold=threshold)
    n_classes = len(task_classes(task))
    y_train = task_labels(train, task=task)
    pet_columns = feature_set(source=TRUSTED_SYNTH_PET)
    pet_model = fit_svm(X=matrix(train.loc[~untrusted_train], pet_columns),
                        y=y_train[~untrusted_train], svm_config=svm_config, seed=seed,
                        probability=True, n_classes=n_classes)
    probabilities = np.zeros((len(test), n_classes))
    if (~untrusted_test).any():
        probabilities[~untrusted_test] = pet_model.predict_proba(
            matrix(test.loc[~untrusted_test], pet_columns))
    if untrusted_test.any():
        mri_columns = feature_set(source=MRI_FEATURES)
        mri_model = fit_svm(X=matrix(train, mri_columns), y=y_train, svm_config=svm_config,
                            seed=seed, probability=True, n_classes=n_classes)
        probabilities[untrusted_test] = mri_model.predict_proba(
            matrix(test.loc[untrusted_test], mri_columns))
    score = probabilities[:, 1] if is_binary(task) else probabilities
    result, predictions = scored(task=task, train=train, test=test,
                                 y_pred=probabilities.argmax(axis=1), score=score,
                                 fitted=tuned(pet_model))
    result.update(threshold_quantile=quantile, threshold=threshold,
                  n_untrusted_train=int(untrusted_train.sum()),
                  n_untrusted_test=int(untrusted_test.sum()),
                  n_mri_only_test=int((test["pet_origin"] != PET_ORIGIN_REAL).sum()))
    return result, predictions.assign(untrusted=untrusted_test)


def training_threshold(*, train: pd.DataFrame, sd: pd.Series, quantile: float) -> float:
    """The ``quantile`` of ``sd`` over the training rows that are paired subjects (real PET)."""
    paired = train.loc[train["pet_origin"] == PET_ORIGIN_REAL, "participant_id"]
    if paired.empty:
        raise GlaModelError("a training set of the complete experiment has no paired "
                            "subject to set the uncertainty threshold on.")
    return float(np.quantile(sd.loc[list(paired)].to_numpy(dtype=float), quantile))


def _untrusted(table: pd.DataFrame, *, sd: pd.Series, threshold: float) -> np.ndarray:
    """True for the completed (not real-PET) rows whose uncertainty is above ``threshold``."""
    above = sd.loc[list(table["participant_id"])].to_numpy(dtype=float) > threshold
    return (table["pet_origin"] != PET_ORIGIN_REAL).to_numpy() & above
