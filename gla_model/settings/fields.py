"""The validation engine of the settings: fields with a type and a range or choices,
checked value by value, and the JSON schema derived from the same fields."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import field
from typing import Any

ABSENT = dataclasses.MISSING


def setting(*, default: Any = ABSENT, minimum: float | None = None,
            maximum: float | None = None, above: float | None = None,
            below: float | None = None, choices: tuple | None = None,
            pattern: str | None = None, min_items: int | None = None,
            unique: bool = False) -> Any:
    """A settings field: ``above``/``below`` are exclusive bounds, ``choices`` an enum;
    for tuples the constraints apply to every item."""
    metadata = {"minimum": minimum, "maximum": maximum, "above": above, "below": below,
                "choices": choices, "pattern": pattern, "min_items": min_items,
                "unique": unique}
    return field(default=default, metadata={k: v for k, v in metadata.items()
                                            if v is not None and v is not False})


def required(f: dataclasses.Field) -> bool:
    return f.default is ABSENT and f.default_factory is ABSENT


def matches(value: Any, hint: type) -> bool:
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def build_dataclass(cls: type, values: Any, *, key: str, problems: list[str]) -> Any:
    where = f"config key '{key}'" if key else "the configuration"
    if not isinstance(values, Mapping):
        problems.append(f"{where}: must be a mapping, got {values!r}")
        return None
    hints = typing.get_type_hints(cls)
    fields_ = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields_))
    if unknown:
        problems.append(f"{where}: unknown keys {unknown}; allowed: {sorted(fields_)}")
    built = {}
    for name, f in fields_.items():
        sub = f"{key}.{name}" if key else name
        if name not in values:
            if required(f):
                problems.append(f"config key '{sub}': missing (see config.yaml)")
            continue
        built[name] = convert(values[name], hints[name], f.metadata, key=sub,
                               problems=problems)
    if problems:
        return None
    return cls(**built)


def convert(value: Any, hint: Any, metadata: Mapping[str, Any], *, key: str,
             problems: list[str]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, key=key, problems=problems)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        for member in members:
            trial: list[str] = []
            converted = convert(value, member, metadata, key=key, problems=trial)
            if not trial:
                return converted
        problems.append(f"config key '{key}': {value!r} is not {describe(hint, metadata)}")
        return None
    if origin is tuple:
        if not isinstance(value, list | tuple):
            problems.append(f"config key '{key}': must be a list, got {value!r}")
            return None
        if len(value) < metadata.get("min_items", 0):
            problems.append(f"config key '{key}': needs at least {metadata['min_items']} "
                            "item(s)")
        if metadata.get("unique") and len(set(map(repr, value))) != len(value):
            problems.append(f"config key '{key}': items must be unique, got {list(value)}")
        return tuple(convert(item, args[0], metadata, key=f"{key}.{index}", problems=problems)
                     for index, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            problems.append(f"config key '{key}': must be a mapping, got {value!r}")
            return None
        pattern = metadata.get("pattern")
        bad = [name for name in value if pattern and not re.match(pattern, str(name))]
        if bad:
            problems.append(f"config key '{key}': names {bad} do not match {pattern}")
        return {name: convert(item, args[1], {}, key=f"{key}.{name}", problems=problems)
                for name, item in value.items()}
    return check_scalar(value, hint, metadata, key=key, problems=problems)


def check_scalar(value: Any, hint: type, metadata: Mapping[str, Any], *, key: str,
                  problems: list[str]) -> Any:
    choices = [c for c in metadata.get("choices", ()) if matches(c, hint)]
    if not matches(value, hint):
        problems.append(f"config key '{key}': {value!r} is not {describe(hint, metadata)}")
        return None
    if choices:
        if value not in choices:
            problems.append(f"config key '{key}': {value!r} is not one of {choices}")
        return value
    value = float(value) if hint is float else value
    limits = (("minimum", lambda v, b: v >= b, ">="), ("maximum", lambda v, b: v <= b, "<="),
              ("above", lambda v, b: v > b, ">"), ("below", lambda v, b: v < b, "<"))
    for name, holds, symbol in limits:
        if name in metadata and hint in (int, float) and not holds(value, metadata[name]):
            problems.append(f"config key '{key}': {value!r} must be {symbol} {metadata[name]}")
    if hint is str and "pattern" in metadata and not re.match(metadata["pattern"], value):
        problems.append(f"config key '{key}': {value!r} does not match {metadata['pattern']}")
    return value


def describe(hint: Any, metadata: Mapping[str, Any]) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(describe(a, metadata) for a in args)
    if hint is type(None):
        return "null"
    choices = [c for c in metadata.get("choices", ()) if matches(c, hint)]
    if choices:
        return f"one of {choices}"
    return {bool: "true or false", int: "an integer", float: "a number",
            str: "a string"}.get(hint, str(hint))


def schema_of(hint: Any, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    metadata = metadata or {}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields_ = dataclasses.fields(hint)
        return {"type": "object", "additionalProperties": False,
                "required": [f.name for f in fields_ if required(f)],
                "properties": {f.name: schema_of(hints[f.name], f.metadata) for f in fields_}}
    if origin in (types.UnionType, typing.Union):
        members = [a for a in args if a is not type(None)]
        options = [schema_of(a, metadata) for a in members]
        if type(None) in args:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin is tuple:
        schema: dict[str, Any] = {"type": "array", "items": schema_of(args[0], metadata)}
        if "min_items" in metadata:
            schema["minItems"] = metadata["min_items"]
        if metadata.get("unique"):
            schema["uniqueItems"] = True
        return schema
    if origin is dict:
        names = {"pattern": metadata["pattern"]} if "pattern" in metadata else {}
        return {"type": "object", "propertyNames": names,
                "additionalProperties": schema_of(args[1])}
    return scalar_schema(hint, metadata)


def scalar_schema(hint: type, metadata: Mapping[str, Any]) -> dict[str, Any]:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string"}[hint]
    choices = [c for c in metadata.get("choices", ()) if matches(c, hint)]
    if choices:
        return {"enum": choices}
    schema: dict[str, Any] = {"type": kind}
    for name, keyword in (("minimum", "minimum"), ("maximum", "maximum"),
                          ("above", "exclusiveMinimum"), ("below", "exclusiveMaximum")):
        if name in metadata and hint in (int, float):
            schema[keyword] = metadata[name]
    if "pattern" in metadata and hint is str:
        schema["pattern"] = metadata["pattern"]
    return schema


def as_mapping(value: Any) -> Any:
    """Settings back to plain JSON-able values (tuples as lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: as_mapping(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: as_mapping(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [as_mapping(v) for v in value]
    return value
