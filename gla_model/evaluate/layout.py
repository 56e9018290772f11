"""Where the evaluation stages find their input images (the file contracts of preprocess
and synthesize)."""

from __future__ import annotations

from pathlib import Path

TISSUES = ("GM", "WM", "CSF")


def preproc_path(*, preproc_dir: Path, participant_id: str, kind: str) -> Path:
    """A preprocessed image of one subject.

    Args:
        preproc_dir: the preprocess stage's folder (``results/preprocess``).
        participant_id: the label without ``sub-``.
        kind: ``"T1w"``, ``"pet"``, ``"mask"`` or a tissue (``"GM"``, ``"WM"``, ``"CSF"``).
    """
    stem = f"sub-{participant_id}_space-MNI"
    names = {"T1w": f"{stem}_desc-preproc_T1w", "pet": f"{stem}_desc-preproc_pet",
             "mask": f"{stem}_desc-brain_mask"}
    names.update({tissue: f"{stem}_label-{tissue}_probseg" for tissue in TISSUES})
    if kind not in names:
        raise ValueError(f"unknown preprocessed image kind {kind!r}; one of {sorted(names)}")
    return Path(preproc_dir) / f"sub-{participant_id}" / f"{names[kind]}.nii.gz"


def synth_path(*, synth_dir: Path, participant_id: str, model: str) -> Path:
    """A synthetic PET: ``model`` is ``"fold-<k>"`` (test subjects of fold k) or ``"full"``."""
    return Path(synth_dir) / model / f"sub-{participant_id}_desc-synth_pet.nii.gz"
