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

from gla_model.settings.config import build_settings, config_schema, load_config, merge_config
from gla_model.settings.fields import as_mapping, setting
from gla_model.settings.jobs import job_settings, job_value, read_job_settings, resolve_key
from gla_model.settings.sections import (
    RESOURCE_KEYS,
    ClassificationSettings,
    CohortSettings,
    CvSettings,
    DemoCohortSettings,
    DiagnosisLabels,
    EvaluationSettings,
    FeaturesSettings,
    LossWeights,
    ModelSpec,
    ModelsSettings,
    ParticipantsSettings,
    PreprocessingSettings,
    ReportSettings,
    Settings,
    SpmSettings,
    SvmSettings,
    TrainingSettings,
    VariantSettings,
    without_resources,
)

__all__ = [
    "RESOURCE_KEYS",
    "ClassificationSettings",
    "CohortSettings",
    "CvSettings",
    "DemoCohortSettings",
    "DiagnosisLabels",
    "EvaluationSettings",
    "FeaturesSettings",
    "LossWeights",
    "ModelSpec",
    "ModelsSettings",
    "ParticipantsSettings",
    "PreprocessingSettings",
    "ReportSettings",
    "Settings",
    "SpmSettings",
    "SvmSettings",
    "TrainingSettings",
    "VariantSettings",
    "as_mapping",
    "build_settings",
    "config_schema",
    "job_settings",
    "job_value",
    "load_config",
    "merge_config",
    "read_job_settings",
    "resolve_key",
    "setting",
    "without_resources",
]
