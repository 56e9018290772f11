"""Preprocessed subject volumes (T1w, PET, brain mask) as tensors on the model grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gla_model.errors import InputImageError
from gla_model.layout import preprocessed_path
from gla_model.niftiio import load_image


@dataclass(frozen=True)
class SubjectFiles:
    """The preprocessed files of one subject."""

    participant_id: str
    t1w: Path
    pet: Path
    mask: Path


def subject_files(*, preproc_dir: Path | str, participant_id: str) -> SubjectFiles:
    """Paths of ``sub-<id>``'s preprocessed T1w, PET and brain mask under ``preproc_dir``."""
    paths = {field: preprocessed_path(preproc_dir=preproc_dir, participant_id=participant_id,
                                      field=field) for field in ("t1w", "pet", "mask")}
    return SubjectFiles(participant_id=participant_id, **paths)


def load_volume(path: Path, *, role: str, grid: int | None = None) -> torch.Tensor:
    """A NIfTI volume as a float32 (1, D, H, W) tensor, checked against ``grid``^3."""
    data = np.asarray(load_image(path, role=role).dataobj, dtype=np.float32)
    if data.ndim != 3 or (grid is not None and data.shape != (grid,) * 3):
        expected = f"{grid}^3" if grid is not None else "3D"
        raise InputImageError(
            f"{role} image {path} has shape {data.shape}, expected {expected} (the model grid); "
            "preprocess it with `gla-model preprocess` on the same grid"
        )
    if not np.isfinite(data).all():
        raise InputImageError(f"{role} image {path} contains NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(data))[None]


class PairedVolumes:
    """MRI, PET and mask of a list of subjects; preloaded into memory or read per batch."""

    def __init__(self, *, preproc_dir: Path, subjects: list[str], grid: int,
                 preload: bool) -> None:
        self.files = [subject_files(preproc_dir=preproc_dir, participant_id=s)
                      for s in subjects]
        self.grid = grid
        self._cache = [self._read(f) for f in self.files] if preload else None

    def _read(self, files: SubjectFiles) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (load_volume(files.t1w, role="T1w", grid=self.grid),
                load_volume(files.pet, role="PET", grid=self.grid),
                load_volume(files.mask, role="brain mask", grid=self.grid))

    def __len__(self) -> int:
        return len(self.files)

    def batch(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stacked (B, 1, G, G, G) MRI, PET and mask of ``indices``."""
        items = [self._cache[i] if self._cache is not None else self._read(self.files[i])
                 for i in indices]
        return tuple(torch.stack(parts) for parts in zip(*items, strict=True))
