"""How the report names classification tasks, their metrics and the trusted-completion row,
and the confusion counts of a multi-class task's predictions."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn import metrics as skmetrics

from gla_model.classify.tasks import is_binary, task_classes

#: Report labels of the multi-class metrics (the binary ones are in ``tables``).
MULTICLASS_LABELS = {"balanced_accuracy": "Balanced accuracy", "macro_f1": "Macro-F1",
                     "auc_ovr": "AUC (one-vs-rest)",
                     **{f"sensitivity_{c.lower()}": f"Sensitivity {c}"
                        for c in ("CN", "MCI", "AD")}}


def task_title(task: str) -> str:
    """``AD vs CN`` (positive class first) for a binary task, ``CN / MCI / AD`` otherwise."""
    classes = task_classes(task)
    return " vs ".join(reversed(classes)) if is_binary(task) else " / ".join(classes)


def trusted_label(*, variants: Mapping[str, Mapping], reference: str) -> str:
    """The trusted row's label: the reference variant's, uncertain completions left out."""
    return f"{variants[reference]['label']}, uncertain completions → MRI only"


def trusted_note(*, rows: pd.DataFrame, label: str) -> str:
    """A sentence on the trusted row: the quantile, the mean threshold over the splits, and
    how many MRI-only test subjects a split left with MRI features only."""
    quantile = float(rows["threshold_quantile"].iloc[0])
    return (f"{label}: an MRI-only subject's synthetic PET is used only when its uncertainty "
            "(mean voxel SD over the test-time augmentations of the fold models) is at or below "
            f"the {quantile:g} quantile of the split's training paired subjects' uncertainty "
            f"(mean threshold {rows['threshold'].mean():.4g}); otherwise the subject is "
            "scored by an MRI-only SVM. Left with MRI only: on average "
            f"{rows['n_untrusted_test'].mean():.1f} of {rows['n_mri_only_test'].mean():.1f} "
            "MRI-only test subjects per split. Both SVMs give calibrated probabilities.")


def confusion_counts(*, predictions: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) over every row of ``predictions`` (columns
    ``y_true``, ``y_pred``: class indices), rows = true class."""
    return skmetrics.confusion_matrix(predictions["y_true"].to_numpy(dtype=int),
                                      predictions["y_pred"].to_numpy(dtype=int),
                                      labels=list(range(n_classes)))
