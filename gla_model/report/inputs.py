"""Reading the evaluation stages' outputs for the report, with errors that name the file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from gla_model.classify.tasks import BINARY_METRICS, score_columns, task_metrics
from gla_model.errors import GlaModelError
from gla_model.layout import classification_path, history_path, image_quality_path, predictions_path
from gla_model.tsvio import read_table

IMAGE_METRICS = ("ssim", "ms_ssim", "psnr", "mae")
#: Metrics of a binary task (the paper's Tables II and III).
CLASSIFICATION_METRICS = BINARY_METRICS


class ReportInputError(GlaModelError):
    """An input of the report is missing or malformed."""


def read_metric_spec(path: Path | str) -> dict:
    """The metric spec JSON written by ``gla-model evaluate --spec-out``."""
    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"metric spec {path} does not exist; run `gla-model evaluate "
                               "--spec-out` first.")
    try:
        parsed = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ReportInputError(f"metric spec {path} is not valid JSON ({error}).") from error
    if not isinstance(parsed, dict):
        raise ReportInputError(f"metric spec {path} must be a JSON object.")
    return parsed


def read_image_quality(*, directory: Path, names: Iterable[str]) -> pd.DataFrame:
    """Per-subject image-quality rows of ``names`` (the evaluate stage's tables)."""
    tables = [read_table(image_quality_path(image_quality_dir=directory, source=name),
                         columns=("participant_id", "variant", "fold", *IMAGE_METRICS),
                         role=f"image-quality ({name})") for name in names]
    return pd.concat(tables, ignore_index=True)


def read_classification(*, directory: Path, task: str, experiment: str,
                        sources: Iterable[str]) -> pd.DataFrame:
    """Per-(seed, fold) rows of every source's classification results for ``task``."""
    tables = [read_table(classification_path(classify_dir=directory, task=task,
                                             experiment=experiment, source=source),
                         columns=("experiment", "source", "seed", "fold", "n_train",
                                  "n_test", *task_metrics(task)),
                         role=f"classification ({task}, {experiment}, {source})")
              for source in sources]
    return pd.concat(tables, ignore_index=True)


def read_predictions(*, directory: Path, task: str, experiment: str, sources: Iterable[str]
                     ) -> pd.DataFrame:
    """Per-subject predictions of every source for ``task``, with a ``source`` column."""
    tables = []
    for source in sources:
        scores = classification_path(classify_dir=directory, task=task, experiment=experiment,
                                     source=source)
        table = read_table(predictions_path(scores=scores),
                           columns=("participant_id", "seed", "fold", "y_true", "y_pred",
                                    *score_columns(task)),
                           role=f"predictions ({task}, {experiment}, {source})")
        tables.append(table.assign(source=source))
    return pd.concat(tables, ignore_index=True)


def read_history(*, train_dir: Path, variant: str, folds: Iterable[int]) -> pd.DataFrame:
    """The ``history.tsv`` of ``variant`` in every test fold, with a ``fold`` column added."""
    tables = [read_table(history_path(train_dir=train_dir, variant=variant, fold=str(fold)),
                         columns=("epoch", "split"), role=f"training history ({variant})"
                         ).assign(fold=int(fold)) for fold in folds]
    if not tables:
        raise ReportInputError(f"no folds to read the training history of {variant} from.")
    return pd.concat(tables, ignore_index=True)


def read_failures(*, directory: Path) -> dict[str, str]:
    """Failed subjects (``<directory>/sub-<id>.txt``) and the first line of each reason."""
    failures = {}
    for path in sorted(Path(directory).glob("*.txt")):
        lines = path.read_text().strip().splitlines()
        failures[path.stem.removeprefix("sub-")] = lines[0] if lines else "(no reason given)"
    return failures
