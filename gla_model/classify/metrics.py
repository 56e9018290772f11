"""A task's metrics from true labels, predicted labels and scores (see :mod:`.tasks`)."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skmetrics

from gla_model.classify.tasks import is_binary, task_classes


def task_scores(*, task: str, y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray
                ) -> dict[str, float]:
    """The metrics of :func:`.tasks.task_metrics`: :func:`classification_metrics` for a binary
    task (``score`` of the positive class), :func:`multiclass_metrics` otherwise (``score``:
    one column per class)."""
    if is_binary(task):
        return classification_metrics(y_true=y_true, y_pred=y_pred, score=score)
    return multiclass_metrics(y_true=y_true, y_pred=y_pred, score=score,
                              classes=task_classes(task))


def classification_metrics(
    *, y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray
) -> dict[str, float]:
    """Accuracy, sensitivity, specificity, F1, MCC (label 1 positive) and AUC of ``score``;
    AUC is NaN when the test set holds one class."""
    tn, fp, fn, tp = skmetrics.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    both_classes = len(np.unique(y_true)) == 2
    return {
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "f1": float(skmetrics.f1_score(y_true, y_pred, labels=[0, 1], zero_division=0.0)),
        "mcc": _mcc(tp=tp, tn=tn, fp=fp, fn=fn),
        "auc": float(skmetrics.roc_auc_score(y_true, score)) if both_classes else float("nan"),
    }


def multiclass_metrics(*, y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray,
                       classes: tuple[str, ...]) -> dict[str, float]:
    """Balanced accuracy (mean recall over the classes present), each class's sensitivity
    (recall; NaN when absent), macro-F1 and the one-vs-rest AUC: the mean over classes of
    the AUC of ``score[:, k]`` for class k against the rest (NaN unless every class is
    present)."""
    labels = list(range(len(classes)))
    matrix = skmetrics.confusion_matrix(y_true, y_pred, labels=labels)
    recall = [_ratio(matrix[k, k], matrix[k].sum()) for k in labels]
    present = [r for r in recall if not np.isnan(r)]
    score = np.asarray(score, dtype=float).reshape(len(y_true), len(classes))
    every_class = set(np.unique(y_true)) == set(labels)
    auc = (float(np.mean([skmetrics.roc_auc_score(np.asarray(y_true) == k, score[:, k])
                          for k in labels])) if every_class else float("nan"))
    return {
        "balanced_accuracy": float(np.mean(present)) if present else float("nan"),
        **{f"sensitivity_{c.lower()}": r for c, r in zip(classes, recall, strict=True)},
        "macro_f1": float(skmetrics.f1_score(y_true, y_pred, labels=labels, average="macro",
                                             zero_division=0.0)),
        "auc_ovr": auc,
    }


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def _mcc(*, tp: int, tn: int, fp: int, fn: int) -> float:
    """Matthews correlation from the confusion counts; 0 when a margin is empty (sklearn's
    convention)."""
    denominator = float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return float((tp * tn - fp * fn) / np.sqrt(denominator)) if denominator else 0.0
