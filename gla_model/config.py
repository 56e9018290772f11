"""Workflow configuration: validation against the JSON schema plus cross-key rules."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gla_model.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"
PATCH_ARCHS = frozenset({"glagan", "glagan_local"})


#: Keys of a variant that only label it in the report; changing them retrains nothing.
REPORT_ONLY_KEYS = ("group", "label")
#: Keys of a variant that override the ``training:`` settings for that variant alone.
TRAINING_OVERRIDE_KEYS = ("epochs",)


def model_spec(*, variant: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of a ``models.variants`` entry that define its networks and losses."""
    return {k: v for k, v in variant.items()
            if k not in REPORT_ONLY_KEYS + TRAINING_OVERRIDE_KEYS}


def variant_training(*, training: Mapping[str, Any], variant: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """``training:`` without ``threads`` (a job resource), with the variant's overrides."""
    settings = {k: v for k, v in training.items() if k != "threads"}
    return {**settings, **{k: v for k, v in variant.items() if k in TRAINING_OVERRIDE_KEYS}}


def load_config(*, paths: list[Path | str]) -> dict[str, Any]:
    """Read YAML config files, later files overriding earlier ones key by key."""
    merged: dict[str, Any] = {}
    for path in paths:
        with open(path) as handle:
            merged = merge_config(base=merged, override=yaml.safe_load(handle) or {})
    return merged


def merge_config(*, base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``override`` merged into ``base`` recursively (lists are replaced)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(base=merged[key], override=value)
        else:
            merged[key] = value
    return merged


def validate_config(*, config: dict[str, Any], schema_path: Path | str = SCHEMA_PATH) -> None:
    """Raise ConfigError listing every invalid key, with what it allows."""
    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    validator = jsonschema.Draft202012Validator(schema)
    problems = [
        f"config key '{_key(error)}': {error.message}"
        for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    ]
    if not problems:
        problems = _cross_key_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def enabled_variants(*, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The enabled variant specs, by name, in the order of ``models.enabled``."""
    variants = config["models"]["variants"]
    return {name: variants[name] for name in config["models"]["enabled"]}


def _key(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def _cross_key_problems(config: dict[str, Any]) -> list[str]:
    variants = config["models"]["variants"]
    enabled = config["models"]["enabled"]
    problems = [
        f"config key 'models.enabled': '{name}' is not defined; defined variants: "
        f"{sorted(variants)}"
        for name in enabled if name not in variants
    ]
    problems += [
        f"config key 'models.variants.{name}.k_patches': required for arch '{spec['arch']}' "
        "(one of 1, 2, 4, 8)"
        for name, spec in variants.items()
        if spec["arch"] in PATCH_ARCHS and "k_patches" not in spec
    ]
    for key, name in [("evaluation.reference_variant", config["evaluation"]["reference_variant"]),
                      ("report.interpolation_variant", config["report"]["interpolation_variant"])]:
        if name not in enabled:
            problems.append(f"config key '{key}': '{name}' is not enabled; choose one of {enabled}")
    fold, n_folds = config["report"]["interpolation_fold"], config["cv"]["n_folds"]
    if fold >= n_folds:
        problems.append(f"config key 'report.interpolation_fold': {fold} is not a fold; "
                        f"choose 0 to {n_folds - 1}")
    return problems
