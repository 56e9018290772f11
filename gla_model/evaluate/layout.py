"""Where the evaluation stages find their input images (the file contracts of preprocess
and synthesize)."""

from __future__ import annotations

from pathlib import Path

from gla_model.preprocess.outputs import output_names

TISSUES = ("GM", "WM", "CSF")


def preproc_path(*, preproc_dir: Path, participant_id: str, kind: str) -> Path:
    """A preprocessed image of one subject.

    Args:
        preproc_dir: the preprocess stage's folder (``results/preprocess``).
        participant_id: the label without ``sub-``.
        kind: ``"T1w"``, ``"pet"``, ``"mask"`` or a tissue (``"GM"``, ``"WM"``, ``"CSF"``).
    """
    fields = {"T1w": "t1w", "pet": "pet", "mask": "mask"} | {t: t.lower() for t in TISSUES}
    if kind not in fields:
        raise ValueError(f"unknown preprocessed image kind {kind!r}; one of {sorted(fields)}")
    name = output_names(participant_id=participant_id, has_pet=True)[fields[kind]]
    return Path(preproc_dir) / f"sub-{participant_id}" / name


def synth_path(*, synth_dir: Path, participant_id: str, model: str) -> Path:
    """A synthetic PET: ``model`` is ``"fold-<k>"`` (test subjects of fold k) or ``"full"``."""
    return Path(synth_dir) / model / f"sub-{participant_id}_desc-synth_pet.nii.gz"
