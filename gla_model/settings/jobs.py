"""Settings handed to one job: a JSON object of dotted config keys, written by the rules
and read back by the ``gla-model`` verbs with the same checks as the config."""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gla_model.errors import ConfigError
from gla_model.settings.fields import as_mapping, convert
from gla_model.settings.sections import ModelSpec, Settings, variant_problems


def job_settings(**sections: Any) -> str:
    """Compact, stable JSON of settings for one job, by dotted config key.

    Keyword names use ``__`` for dots (``models__variants__glagan=spec``); values are
    settings objects or plain values. Quote it in a shell rule with ``{params.x:q}``.
    """
    payload = {name.replace("__", "."): as_mapping(value) for name, value in sections.items()}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def read_job_settings(text: str) -> dict[str, Any]:
    """The object :func:`job_settings` wrote, from inline JSON or a JSON file."""
    source = text
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"--settings {text!r} is neither a JSON object nor a JSON file")
        source = path.read_text()
    try:
        payload = json.loads(source)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--settings is not valid JSON ({error})") from error
    if not isinstance(payload, dict):
        raise ConfigError(f"--settings must be a JSON object, got {type(payload).__name__}")
    return payload


def job_value(payload: Mapping[str, Any], key: str, *, as_type: type | None = None,
              **resources: Any) -> Any:
    """The typed value of dotted config ``key`` in a job's settings, checked by the same
    fields as the config. ``as_type`` narrows a section (a variant read as its
    :class:`ModelSpec`); ``resources`` fill job-resource keys (``threads``) that the rule
    passes on their own so that a change of them reruns nothing."""
    if key not in payload:
        raise ConfigError(f"--settings lacks {key!r}; it has {sorted(payload)}")
    value = payload[key]
    if resources and isinstance(value, Mapping):
        value = {**value, **resources}
    hint, metadata = resolve_key(key)
    problems: list[str] = []
    typed = convert(value, as_type or hint, metadata, key=key, problems=problems)
    if not problems and isinstance(typed, ModelSpec):
        problems = variant_problems(key, typed)
    if problems:
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems))
    return typed


def resolve_key(key: str) -> tuple[Any, Mapping[str, Any]]:
    """The type and field metadata of a dotted config key."""
    hint: Any = Settings
    metadata: Mapping[str, Any] = {}
    for part in key.split("."):
        if dataclasses.is_dataclass(hint):
            fields_ = {f.name: f for f in dataclasses.fields(hint)}
            if part not in fields_:
                raise ConfigError(f"{key!r} is not a config key")
            hint, metadata = typing.get_type_hints(hint)[part], fields_[part].metadata
        elif typing.get_origin(hint) is dict:
            hint, metadata = typing.get_args(hint)[1], {}
        else:
            raise ConfigError(f"{key!r} is not a config key")
    return hint, metadata


