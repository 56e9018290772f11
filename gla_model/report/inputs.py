"""Reading the evaluation stages' outputs for the report, with errors that name the file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from gla_model.errors import GlaModelError
from gla_model.tsvio import read_table
from gla_model.report.outputs import GROUPS

IMAGE_METRICS = ("ssim", "ms_ssim", "psnr", "mae")
CLASSIFICATION_METRICS = ("accuracy", "sensitivity", "specificity", "f1", "mcc", "auc")
EXPERIMENTS = ("paired", "complete")
#: Classification sources that are not generators.
MRI_ONLY, REAL_PET = "mri_only", "real_pet"


class ReportInputError(GlaModelError):
    """An input of the report is missing or malformed."""


def read_json_argument(value: str, *, role: str) -> dict:
    """Parse ``value`` as inline JSON (starting with ``{``) or as the path of a JSON file."""
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        if not path.is_file():
            raise ReportInputError(f"{role} JSON file {path} does not exist; pass a file or "
                                   "inline JSON.")
        text = path.read_text()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportInputError(f"{role} is not valid JSON ({error}).") from error
    if not isinstance(parsed, dict):
        raise ReportInputError(f"{role} JSON must be an object, got {type(parsed).__name__}.")
    return parsed


def check_variants(variants: Mapping[str, Mapping]) -> dict[str, dict]:
    """Return the variant specs, after checking each has a known ``group`` and a ``label``."""
    if not variants:
        raise ReportInputError("no model variants to report; enable at least one in the config "
                               "(models.enabled).")
    bad = [name for name, spec in variants.items()
           if spec.get("group") not in GROUPS or not spec.get("label")]
    if bad:
        raise ReportInputError(f"variants {bad} lack a label or a group in {list(GROUPS)}; "
                               "set both under models.variants in the config.")
    return {name: dict(spec) for name, spec in variants.items()}


def read_image_quality(*, directory: Path, names: Iterable[str]) -> pd.DataFrame:
    """Per-subject image-quality rows of ``names`` (files ``<directory>/<name>.tsv``)."""
    tables = [read_table(Path(directory) / f"{name}.tsv",
                         columns=("participant_id", "variant", "fold", *IMAGE_METRICS),
                         role=f"image-quality ({name})") for name in names]
    return pd.concat(tables, ignore_index=True)


def read_classification(*, directory: Path, experiment: str, sources: Iterable[str]
                        ) -> pd.DataFrame:
    """Per-(seed, fold) rows of ``<directory>/<experiment>/<source>.tsv`` for every source."""
    tables = [read_table(Path(directory) / experiment / f"{source}.tsv",
                         columns=("experiment", "source", "seed", "fold",
                                  *CLASSIFICATION_METRICS),
                         role=f"classification ({experiment}, {source})") for source in sources]
    return pd.concat(tables, ignore_index=True)


def read_history(*, train_dir: Path, variant: str) -> pd.DataFrame:
    """Every numbered fold's ``history.tsv`` of ``variant``, with a ``fold`` column added."""
    fold_dirs = sorted(path for path in (Path(train_dir) / variant).glob("fold-*")
                       if path.name.removeprefix("fold-").isdigit())
    if not fold_dirs:
        raise ReportInputError(f"no fold-<k> folders under {Path(train_dir) / variant}; "
                               f"train variant {variant} first.")
    tables = []
    for fold_dir in fold_dirs:
        table = read_table(fold_dir / "history.tsv", columns=("epoch", "split"),
                           role=f"training history ({variant})")
        tables.append(table.assign(fold=int(fold_dir.name.removeprefix("fold-"))))
    return pd.concat(tables, ignore_index=True)


def read_failures(*, directory: Path) -> dict[str, str]:
    """Failed subjects (``<directory>/sub-<id>.txt``) and the first line of each reason."""
    failures = {}
    for path in sorted(Path(directory).glob("*.txt")):
        lines = path.read_text().strip().splitlines()
        failures[path.stem.removeprefix("sub-")] = lines[0] if lines else "(no reason given)"
    return failures
