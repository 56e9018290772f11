"""Config files to settings: merge YAML files, validate once, and derive the schema."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gla_model.errors import ConfigError
from gla_model.settings.fields import build_dataclass, schema_of
from gla_model.settings.sections import Settings, cross_key_problems


def load_config(*, paths: list[Path | str]) -> dict[str, Any]:
    """Read YAML config files, later files overriding earlier ones key by key."""
    merged: dict[str, Any] = {}
    for path in paths:
        with open(path) as handle:
            merged = merge_config(base=merged, override=yaml.safe_load(handle) or {})
    return merged


def merge_config(*, base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``override`` merged into ``base`` recursively (lists are replaced)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_config(base=merged[key], override=value)
        else:
            merged[key] = value
    return merged


def build_settings(*, config: Mapping[str, Any]) -> Settings:
    """Validate the merged config into :class:`Settings`, or raise listing every problem."""
    problems: list[str] = []
    settings = build_dataclass(Settings, config, key="", problems=problems)
    if not problems:
        problems = cross_key_problems(settings)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return settings


def config_schema() -> dict[str, Any]:
    """The JSON schema of config.yaml, derived from the settings fields."""
    schema = schema_of(Settings)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "description": "Configuration of the GLA-GAN workflow (generated from "
                           "gla_model/settings/sections.py; config.yaml documents every key).",
            **schema}


