"""The workflow's settings: typed, frozen, and validated once from the merged config.

Every key of ``config.yaml`` is a field below, with its type and its range or choices
stated once, in the field's :func:`setting`. :func:`build_settings` turns the merged
config into :class:`Settings`, or raises one :class:`ConfigError` that lists every
problem by its key as written in ``config.yaml``. :func:`config_schema` derives the JSON
schema (``workflow/schemas/config.schema.yaml``) from the same fields.

A job receives the settings it depends on as one JSON object of dotted config keys
(:func:`job_settings`); :func:`read_job_settings` rebuilds the typed values from it with
the same fields, so a job run by hand is checked exactly as the workflow checks it.
No field has a default that could disagree with ``config.yaml``; optional keys default
to "absent" (``None`` or zero weights) only.

Light on purpose: the Snakefile imports it at every DAG build (no numpy, no torch).
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gla_model import vocabulary
from gla_model.errors import ConfigError

_ABSENT = dataclasses.MISSING


def setting(*, default: Any = _ABSENT, minimum: float | None = None,
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
                                            if v not in (None, False)})


# ---------------------------------------------------------------- sections
@dataclass(frozen=True, kw_only=True)
class DiagnosisLabels:
    """participants.tsv values that count as each diagnosis."""

    CN: tuple[str, ...] = setting(min_items=1, pattern=r"^.+$")
    AD: tuple[str, ...] = setting(min_items=1, pattern=r"^.+$")

    def value_lists(self) -> dict[str, list[str]]:
        """Diagnosis -> its participants.tsv values."""
        return {name: list(getattr(self, name)) for name in vocabulary.DIAGNOSES}


@dataclass(frozen=True, kw_only=True)
class ParticipantsSettings:
    diagnosis_column: str = setting(pattern=r"^.+$")
    labels: DiagnosisLabels


@dataclass(frozen=True, kw_only=True)
class DemoCohortSettings:
    n_paired: int = setting(minimum=4)
    n_mri_only: int = setting(minimum=0)
    seed: int = setting(minimum=0)
    t1_voxel_mm: float = setting(minimum=0.8, maximum=3)
    pet_voxel_mm: float = setting(minimum=1, maximum=4)


@dataclass(frozen=True, kw_only=True)
class CohortSettings:
    source: str = setting(choices=("demo", "bids"))
    bids_dir: str | None = setting(pattern=r"^.+$")
    session: str | None = setting(pattern=r"^[A-Za-z0-9]+$")
    participants: ParticipantsSettings
    demo: DemoCohortSettings


@dataclass(frozen=True, kw_only=True)
class FslSettings:
    acpc: str = setting(choices=("spm", "flirt"))
    spm_mode: str = setting(choices=("matlab", "standalone"))
    spm_path: str | None = setting(pattern=r"^.+$")
    matlab: str | None = setting(pattern=r"^.+$")


@dataclass(frozen=True, kw_only=True)
class PreprocessingSettings:
    backend: str = setting(choices=("ants", "fsl"))
    grid: int = setting(choices=(32, 64))
    reference_region: str = setting(choices=("cerebellum_gm", "pons", "whole_brain"))
    threads: int = setting(minimum=1)
    template: str | None = setting(pattern=r"^.+$")
    atlas: str | None = setting(pattern=r"^.+$")
    atlas_labels: str | None = setting(pattern=r"^.+$")
    fsl: FslSettings


@dataclass(frozen=True, kw_only=True)
class CvSettings:
    n_folds: int = setting(minimum=2, maximum=20)
    val_fraction: float = setting(above=0, maximum=0.5)
    seed: int = setting(minimum=0)


@dataclass(frozen=True, kw_only=True)
class LossWeights:
    """The λ weights of the paper's Eq. 8 (0 = term off)."""

    adv: float = setting(default=0.0, minimum=0)
    l1: float = setting(default=0.0, minimum=0)
    ssim: float = setting(default=0.0, minimum=0)
    ms_ssim: float = setting(default=0.0, minimum=0)
    roi: float = setting(default=0.0, minimum=0)
    cycle: float = setting(default=0.0, minimum=0)
    identity: float = setting(default=0.0, minimum=0)

    def active(self, names: tuple[str, ...] = vocabulary.RECONSTRUCTION_TERMS
               ) -> dict[str, float]:
        """The terms among ``names`` with a non-zero weight."""
        return {n: getattr(self, n) for n in names if getattr(self, n) > 0}


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What defines a variant's networks and losses (a change retrains it)."""

    arch: str = setting(choices=vocabulary.ARCHITECTURES)
    #: Local patches; required for the architectures with a local module, else 1.
    k_patches: int | None = setting(default=None, choices=vocabulary.PATCH_COUNTS)
    width: float = setting(above=0, maximum=4)
    losses: LossWeights

    @property
    def adversarial(self) -> bool:
        return self.losses.adv > 0

    @property
    def patches(self) -> int:
        """``k_patches``, 1 for architectures without a local module."""
        return self.k_patches or 1

    def as_dict(self) -> dict[str, Any]:
        spec = as_mapping(self)
        return {k: v for k, v in spec.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class VariantSettings(ModelSpec):
    """One ``models.variants`` entry: the model spec plus its report label and group."""

    group: str = setting(choices=vocabulary.VARIANT_GROUPS)
    label: str = setting(pattern=r"^.+$")
    #: This variant's own number of epochs instead of ``training.epochs``.
    epochs: int | None = setting(default=None, minimum=1)

    def model_spec(self) -> ModelSpec:
        return ModelSpec(arch=self.arch, k_patches=self.k_patches, width=self.width,
                         losses=self.losses)


@dataclass(frozen=True, kw_only=True)
class ModelsSettings:
    enabled: tuple[str, ...] = setting(min_items=1, unique=True, pattern=r"^[a-z0-9_]+$")
    variants: dict[str, VariantSettings] = setting(pattern=r"^[a-z0-9_]+$")

    @property
    def enabled_variants(self) -> dict[str, VariantSettings]:
        """The enabled variants, by name, in the order of ``enabled``."""
        return {name: self.variants[name] for name in self.enabled}


@dataclass(frozen=True, kw_only=True)
class TrainingSettings:
    """Optimisation settings (the paper's are in ``workflow/presets/paper.yaml``).

    ``beta1``: the paper trains with "Adam with a momentum of 0.1", read as Adam's
    first-moment coefficient. ``lr_schedule``: ``constant`` (the paper) or
    ``warmup_cosine`` (see :func:`gla_model.train.schedule.learning_rate`).
    """

    epochs: int = setting(minimum=1)
    batch_size: int = setting(minimum=1)
    lr: float = setting(above=0)
    lr_schedule: str = setting(choices=("constant", "warmup_cosine"))
    beta1: float = setting(minimum=0, below=1)
    beta2: float = setting(minimum=0, below=1)
    seed: int = setting(minimum=0)
    device: str = setting(choices=vocabulary.DEVICES)
    precision: str = setting(choices=vocabulary.PRECISIONS)
    val_every: int = setting(minimum=1)
    preload: bool
    threads: int = setting(minimum=1)

    def as_dict(self) -> dict[str, Any]:
        """Every key but the job resources (see :func:`without_resources`)."""
        return without_resources(self)


@dataclass(frozen=True, kw_only=True)
class EvaluationSettings:
    reference_variant: str = setting(pattern=r"^[a-z0-9_]+$")


@dataclass(frozen=True, kw_only=True)
class SvmSettings:
    """RBF-SVM grid, tuned by inner stratified CV on the training folds only."""

    C: tuple[float, ...] = setting(min_items=1, above=0)
    gamma: tuple[float | str, ...] = setting(min_items=1, above=0, choices=("scale", "auto"))
    inner_folds: int = setting(minimum=2)


@dataclass(frozen=True, kw_only=True)
class ClassificationSettings:
    seeds: tuple[int, ...] = setting(min_items=1, unique=True, minimum=0)
    svm: SvmSettings


@dataclass(frozen=True, kw_only=True)
class ReportSettings:
    interpolation_variant: str = setting(pattern=r"^[a-z0-9_]+$")
    interpolation_fold: int = setting(minimum=0)
    interpolation_steps: int = setting(minimum=2, maximum=21)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The whole validated configuration."""

    cohort: CohortSettings
    preprocessing: PreprocessingSettings
    cv: CvSettings
    models: ModelsSettings
    training: TrainingSettings
    evaluation: EvaluationSettings
    classification: ClassificationSettings
    report: ReportSettings

    @property
    def variants(self) -> dict[str, VariantSettings]:
        """The enabled variants, by name, in the order of ``models.enabled``."""
        return self.models.enabled_variants

    def enabled_models(self) -> ModelsSettings:
        """``models`` with only the enabled variants (what the report depends on)."""
        return ModelsSettings(enabled=self.models.enabled, variants=self.variants)

    def variant_training(self, variant: str) -> TrainingSettings:
        """``training`` with the variant's own ``epochs`` when it sets one."""
        epochs = self.models.variants[variant].epochs
        return self.training if epochs is None else dataclasses.replace(self.training,
                                                                        epochs=epochs)


# ---------------------------------------------------------------- building
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
    settings = _build(Settings, config, key="", problems=problems)
    if not problems:
        problems = _cross_key_problems(settings)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return settings


def as_mapping(value: Any) -> Any:
    """Settings back to plain JSON-able values (tuples as lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: as_mapping(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: as_mapping(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [as_mapping(v) for v in value]
    return value


# ---------------------------------------------------------------- jobs
#: Section keys that are job resources: they change no result, so jobs get them on their
#: own (Snakemake's ``threads``) and a change of them reruns nothing.
RESOURCE_KEYS = ("threads",)


def without_resources(section: Any) -> dict[str, Any]:
    """A section as a plain mapping without its :data:`RESOURCE_KEYS`."""
    return {k: v for k, v in as_mapping(section).items() if k not in RESOURCE_KEYS}


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
    hint, metadata = _resolve(key)
    problems: list[str] = []
    typed = _convert(value, as_type or hint, metadata, key=key, problems=problems)
    if not problems and isinstance(typed, ModelSpec):
        problems = _variant_problems(key, typed)
    if problems:
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems))
    return typed


def _resolve(key: str) -> tuple[Any, Mapping[str, Any]]:
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


# ---------------------------------------------------------------- the schema
def config_schema() -> dict[str, Any]:
    """The JSON schema of config.yaml, derived from the settings fields."""
    schema = _schema_of(Settings)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "description": "Configuration of the GLA-GAN workflow (generated from "
                           "gla_model/settings.py; config.yaml documents every key).",
            **schema}


def _schema_of(hint: Any, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    metadata = metadata or {}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields_ = dataclasses.fields(hint)
        return {"type": "object", "additionalProperties": False,
                "required": [f.name for f in fields_ if _required(f)],
                "properties": {f.name: _schema_of(hints[f.name], f.metadata) for f in fields_}}
    if origin in (types.UnionType, typing.Union):
        members = [a for a in args if a is not type(None)]
        options = [_schema_of(a, metadata) for a in members]
        if type(None) in args:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin is tuple:
        schema: dict[str, Any] = {"type": "array", "items": _schema_of(args[0], metadata)}
        if "min_items" in metadata:
            schema["minItems"] = metadata["min_items"]
        if metadata.get("unique"):
            schema["uniqueItems"] = True
        return schema
    if origin is dict:
        names = {"pattern": metadata["pattern"]} if "pattern" in metadata else {}
        return {"type": "object", "propertyNames": names,
                "additionalProperties": _schema_of(args[1])}
    return _scalar_schema(hint, metadata)


def _scalar_schema(hint: type, metadata: Mapping[str, Any]) -> dict[str, Any]:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string"}[hint]
    choices = [c for c in metadata.get("choices", ()) if _matches(c, hint)]
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


# ---------------------------------------------------------------- internals
def _required(f: dataclasses.Field) -> bool:
    return f.default is _ABSENT and f.default_factory is _ABSENT


def _matches(value: Any, hint: type) -> bool:
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _build(cls: type, values: Any, *, key: str, problems: list[str]) -> Any:
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
            if _required(f):
                problems.append(f"config key '{sub}': missing (see config.yaml)")
            continue
        built[name] = _convert(values[name], hints[name], f.metadata, key=sub,
                               problems=problems)
    if problems:
        return None
    return cls(**built)


def _convert(value: Any, hint: Any, metadata: Mapping[str, Any], *, key: str,
             problems: list[str]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key=key, problems=problems)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        for member in members:
            trial: list[str] = []
            converted = _convert(value, member, metadata, key=key, problems=trial)
            if not trial:
                return converted
        problems.append(f"config key '{key}': {value!r} is not {_describe(hint, metadata)}")
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
        return tuple(_convert(item, args[0], metadata, key=f"{key}.{index}", problems=problems)
                     for index, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            problems.append(f"config key '{key}': must be a mapping, got {value!r}")
            return None
        pattern = metadata.get("pattern")
        bad = [name for name in value if pattern and not re.match(pattern, str(name))]
        if bad:
            problems.append(f"config key '{key}': names {bad} do not match {pattern}")
        return {name: _convert(item, args[1], {}, key=f"{key}.{name}", problems=problems)
                for name, item in value.items()}
    return _check_scalar(value, hint, metadata, key=key, problems=problems)


def _check_scalar(value: Any, hint: type, metadata: Mapping[str, Any], *, key: str,
                  problems: list[str]) -> Any:
    choices = [c for c in metadata.get("choices", ()) if _matches(c, hint)]
    if not _matches(value, hint):
        problems.append(f"config key '{key}': {value!r} is not {_describe(hint, metadata)}")
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


def _describe(hint: Any, metadata: Mapping[str, Any]) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(a, metadata) for a in args)
    if hint is type(None):
        return "null"
    choices = [c for c in metadata.get("choices", ()) if _matches(c, hint)]
    if choices:
        return f"one of {choices}"
    return {bool: "true or false", int: "an integer", float: "a number",
            str: "a string"}.get(hint, str(hint))


def _variant_problems(key: str, spec: ModelSpec) -> list[str]:
    problems = []
    if spec.arch in vocabulary.PATCH_ARCHS and spec.k_patches is None:
        problems.append(f"config key '{key}.k_patches': required for arch '{spec.arch}' "
                        f"(one of {list(vocabulary.PATCH_COUNTS)})")
    if not spec.losses.active():
        problems.append(f"config key '{key}.losses': at least one of "
                        f"{list(vocabulary.RECONSTRUCTION_TERMS)} needs a weight > 0")
    if spec.arch in vocabulary.ADVERSARIAL_ARCHS and not spec.adversarial:
        problems.append(f"config key '{key}.losses.adv': arch {spec.arch} is adversarial by "
                        "definition; set it > 0")
    if spec.arch != "cyclegan" and (spec.losses.cycle > 0 or spec.losses.identity > 0):
        problems.append(f"config key '{key}.losses': cycle and identity apply to arch "
                        f"cyclegan only, not {spec.arch}")
    return problems


def _cross_key_problems(settings: Settings) -> list[str]:
    variants, enabled = settings.models.variants, settings.models.enabled
    problems = [
        f"config key 'models.enabled': '{name}' is not defined; defined variants: "
        f"{sorted(variants)}"
        for name in enabled if name not in variants
    ]
    problems += [f"config key 'models.variants': '{name}' is a reserved source name"
                 for name in variants if name in vocabulary.BASELINE_SOURCES]
    for name, variant in variants.items():
        problems += _variant_problems(f"models.variants.{name}", variant)
    for key, name in [("evaluation.reference_variant", settings.evaluation.reference_variant),
                      ("report.interpolation_variant", settings.report.interpolation_variant)]:
        if name not in enabled:
            problems.append(f"config key '{key}': '{name}' is not enabled; choose one of "
                            f"{list(enabled)}")
    fold, n_folds = settings.report.interpolation_fold, settings.cv.n_folds
    if fold >= n_folds:
        problems.append(f"config key 'report.interpolation_fold': {fold} is not a fold; "
                        f"choose 0 to {n_folds - 1}")
    if settings.cohort.source == "bids" and settings.cohort.bids_dir is None:
        problems.append("config key 'cohort.bids_dir': required when cohort.source is bids")
    return problems
