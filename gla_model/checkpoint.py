"""Checkpoint files: atomic writes, safe loading (``weights_only=True``) and checks.

Two kinds: the training state ``last.pt`` (everything needed to resume exactly) and the
selected model ``model.pt`` (generator weights + how to rebuild it). Both are plain dicts
of tensors, numbers, strings and lists, tagged with ``kind`` and the code version.

A file that is not the checkpoint asked for (a table, an image, an empty file, a folder,
another program's pickle, the training state where a model is expected) fails with one
:class:`CheckpointError` that names the file, says what it is and what to pass instead.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from gla_model import __version__
from gla_model.errors import CheckpointError, ConfigError
from gla_model.layout import checkpoint_path, training_state
from gla_model.nets import ModelBundle, build_model
from gla_model.niftiio import write_atomic
from gla_model.settings import ModelSpec, job_value

MODEL_KIND = "gla-model/model"
STATE_KIND = "gla-model/training-state"
FORMAT = 1
#: The file names of the two kinds (from the layout), for messages.
MODEL_FILE = checkpoint_path(train_dir=".", variant="v", fold="0").name
STATE_FILE = training_state(checkpoint=MODEL_FILE).name
_WANTED = {
    MODEL_KIND: (f"the {MODEL_FILE} that `gla-model train` writes ("
                 f"{checkpoint_path(train_dir='results/train', variant='<variant>', fold='<k>')})"),
    STATE_KIND: f"the {STATE_FILE} that `gla-model train` keeps beside {MODEL_FILE}",
}
_ZIP, _PICKLE = b"PK\x03\x04", b"\x80"


def save_atomic(payload: dict[str, Any], path: Path) -> Path:
    """``torch.save`` through :func:`gla_model.niftiio.write_atomic` (temporary file, rename,
    readable by the group)."""
    return write_atomic(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path | str, *, kind: str) -> dict[str, Any]:
    """Load a checkpoint of ``kind`` written by this code version, or raise CheckpointError."""
    path = Path(path)
    payload = _read(path, kind=kind)
    found = payload.get("kind") if isinstance(payload, dict) else None
    if found != kind:
        raise CheckpointError(_wrong_kind(path, payload=payload, kind=kind))
    if payload.get("code_version") != __version__:
        raise CheckpointError(
            f"{path} was written by gla-model {payload.get('code_version')}, this is "
            f"{__version__}; retrain the model or use the matching gla-model version"
        )
    return payload


def _read(path: Path, *, kind: str) -> Any:
    """The unpickled content of a PyTorch file, or CheckpointError saying what ``path`` is."""
    wanted = _WANTED[kind]
    if path.is_dir():
        inside = path / MODEL_FILE
        hint = inside if kind == MODEL_KIND and inside.is_file() else wanted
        raise CheckpointError(f"checkpoint {path} is a folder, not a file; pass {hint}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; train the model first or "
                              f"pass {wanted}")
    with path.open("rb") as handle:
        head = handle.read(512)
    if not head:
        raise CheckpointError(f"checkpoint {path} is an empty file (0 bytes; an interrupted "
                              f"copy?); pass {wanted}")
    if not head.startswith((_ZIP, _PICKLE)):
        raise CheckpointError(f"checkpoint {path} is {describe_content(head, name=path.name)},"
                              f" not a PyTorch checkpoint; pass {wanted}")
    if head.startswith(_ZIP):
        _check_archive(path, wanted=wanted)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refers = re.search(r"GLOBAL (\S+) was not an allowed global", str(error))
        objects = f" such as {refers.group(1)}" if refers else ""
        raise CheckpointError(
            f"checkpoint {path} is a PyTorch file that stores Python objects{objects} "
            "besides tensors and plain values (a whole pickled model, or another program's "
            f"file), not a gla-model checkpoint, and is not loaded for safety; pass {wanted}"
        ) from error
    except Exception as error:  # torch.load raises many types for damaged files
        raise CheckpointError(f"checkpoint {path} is a damaged PyTorch file "
                              f"({type(error).__name__}); pass {wanted}") from error


def _check_archive(path: Path, *, wanted: str) -> None:
    """A zip file is a PyTorch checkpoint when it is whole and holds ``<name>/data.pkl``."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(f"checkpoint {path} is a truncated or damaged PyTorch file "
                              f"(an incomplete zip archive); copy it again or pass {wanted}"
                              ) from error
    if not any(name.count("/") == 1 and name.endswith("/data.pkl") for name in names):
        raise CheckpointError(f"checkpoint {path} is a zip archive of other files (first: "
                              f"{names[:1]}), not a PyTorch checkpoint; pass {wanted}")


def describe_content(head: bytes, *, name: str) -> str:
    """What a file that is not a PyTorch archive is, from its first bytes (for messages)."""
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file" + (" (a NIfTI image)" if name.endswith(".nii.gz")
                                           else "")
    if head[344:347] in (b"n+1", b"ni1"):
        return "a NIfTI image"
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text:
        return "a binary file of another format"
    line = text.splitlines()[0][:60] if text.strip() else ""
    table = "a tab-separated table" if "\t" in line else "a text file"
    return f"{table} (first line: {line!r})"


def _wrong_kind(path: Path, *, payload: Any, kind: str) -> str:
    wanted = _WANTED[kind]
    found = payload.get("kind") if isinstance(payload, dict) else None
    if found == STATE_KIND and kind == MODEL_KIND:
        return (f"checkpoint {path} is the training state ({STATE_FILE}) that `gla-model "
                "train` keeps to resume a run, not a trained model; pass the selected model "
                f"beside it, {path.with_name(MODEL_FILE)}")
    if found == MODEL_KIND and kind == STATE_KIND:
        return (f"checkpoint {path} is a trained model ({MODEL_FILE}), not a training "
                f"state; pass {wanted}")
    if isinstance(payload, dict) and payload and found is None and all(
            isinstance(value, torch.Tensor) for value in payload.values()):
        content = f"a bare state dict of {len(payload)} tensors, without gla-model's record"
    elif found is not None:
        content = f"kind {found!r}"
    else:
        content = f"a {type(payload).__name__} without gla-model's record"
    return f"checkpoint {path} is not a {kind} checkpoint ({content}); pass {wanted}"


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
