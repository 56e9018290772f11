"""Brain-like phantoms already on the model grid, for tests and benchmarks that train or run
a model in seconds without preprocessing a cohort.

Each phantom is an ellipsoid brain: white matter (bright in T1w, low FDG uptake) inside a
grey-matter shell (darker, high uptake) around dark ventricles, with its own size,
position and noise. Intensities are as preprocessing leaves them: zero outside the brain,
T1w scaled to 1 at its 99.5th percentile, PET in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from gla_model.layout import preprocessed_path
from gla_model.niftiio import write_image_atomic
from gla_model.resources import model_grid

#: Mean T1w and PET per tissue class (grey matter, white matter, ventricles).
T1W_BY_TISSUE = (0.55, 0.9, 0.2)
PET_BY_TISSUE = (0.75, 0.35, 0.1)
#: SD of the Gaussian noise added to both images.
NOISE_SD = 0.03


def write_phantoms(*, preproc_dir: Path | str, participant_ids: Sequence[str], grid: int,
                   seed: int = 0) -> None:
    """Write each subject's preprocessed ``t1w``, ``pet`` and ``mask`` (float32, on the
    ``grid``^3 model grid) where :func:`gla_model.layout.preprocessed_path` puts them.
    The same ids, grid and seed give the same images."""
    rng = np.random.default_rng(seed)
    _, affine = model_grid(size=grid)
    zz, yy, xx = (np.mgrid[:grid, :grid, :grid] + 0.5) / grid - 0.5
    for pid in participant_ids:
        scale = rng.uniform(0.92, 1.08)
        centre = rng.uniform(-0.02, 0.02, 3)
        radius = np.sqrt(((xx - centre[0]) / 0.36) ** 2 + ((yy - centre[1]) / 0.42) ** 2
                         + ((zz - centre[2]) / 0.34) ** 2) / scale
        mask = radius < 1.0
        tissue = np.select([radius < 0.25, radius < 0.7], [2, 1], 0)  # CSF, WM, GM
        t1w = np.choose(tissue, T1W_BY_TISSUE) + rng.normal(0, NOISE_SD, mask.shape)
        pet = np.choose(tissue, PET_BY_TISSUE) + rng.normal(0, NOISE_SD, mask.shape)
        t1w = np.where(mask, np.clip(t1w / np.percentile(t1w[mask], 99.5), 0, 1), 0)
        for field, data in (("t1w", t1w), ("pet", np.where(mask, np.clip(pet, 0, 1), 0)),
                            ("mask", mask)):
            path = preprocessed_path(preproc_dir=preproc_dir, participant_id=pid, field=field)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_image_atomic(nib.Nifti1Image(data.astype(np.float32), affine), path)
