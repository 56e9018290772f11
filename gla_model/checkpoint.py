"""Checkpoint files: atomic writes, safe loading (``weights_only=True``) and checks.

Two kinds: the training state ``last.pt`` (everything needed to resume exactly) and the
selected model ``model.pt`` (generator weights + how to rebuild it). Both are plain dicts
of tensors, numbers, strings and lists, tagged with ``kind`` and the code version.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from gla_model import __version__
from gla_model.errors import CheckpointError, ConfigError
from gla_model.nets import ModelBundle, build_model
from gla_model.settings import ModelSpec, job_value

MODEL_KIND = "gla-model/model"
STATE_KIND = "gla-model/training-state"
FORMAT = 1


def save_atomic(payload: dict[str, Any], path: Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: Path | str, *, kind: str) -> dict[str, Any]:
    """Load a checkpoint of ``kind`` written by this code version, or raise CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; train the model first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError,
            ValueError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable gla-model checkpoint ({error})") from error
    found = payload.get("kind") if isinstance(payload, dict) else None
    if found != kind:
        raise CheckpointError(f"{path} is not a {kind} checkpoint (found kind {found!r}); "
                              "pass the model.pt written by `gla-model train`")
    if payload.get("code_version") != __version__:
        raise CheckpointError(
            f"{path} was written by gla-model {payload.get('code_version')}, this is "
            f"{__version__}; retrain the model or use the matching gla-model version"
        )
    return payload


def record_spec(record: dict[str, Any]) -> ModelSpec:
    """The :class:`ModelSpec` a ``model.pt`` record stores (``spec.as_dict()``), checked by
    the same settings fields as ``models.variants.<variant>`` of the config."""
    key = f"models.variants.{record['variant']}"
    return job_value({key: record["spec"]}, key, as_type=ModelSpec)


def load_model(path: Path | str) -> tuple[ModelBundle, dict[str, Any]]:
    """Rebuild the generator of a ``model.pt``; returns the bundle (eval mode) and the record."""
    record = load_checkpoint(path, kind=MODEL_KIND)
    try:
        bundle = build_model(spec=record_spec(record), grid=record["grid"])
        bundle.generator.load_state_dict(record["generator_state"])
    except (KeyError, RuntimeError, ConfigError) as error:
        raise CheckpointError(f"{path} does not match the model it describes ({error}); "
                              "retrain it") from error
    return bundle.eval(), record
