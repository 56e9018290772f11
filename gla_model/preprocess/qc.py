"""Quality control of one preprocessed subject: a one-row metrics table and a figure.

Metrics (all on the model grid unless said otherwise):

* ``t1w_template_ncc``: normalized cross-correlation of the T1w with the MNI template
  inside the template brain mask (registration quality).
* ``brain_volume_ml``: native-space brain mask volume; ``gm_fraction``: GM / brain volume.
* ``pet_t1w_ncc``: correlation of PET with the GM probability inside the brain mask
  (FDG follows GM, so a failed PET-to-MRI registration shows as a low value).
* ``pet_reference_mean`` (input units) and ``pet_clipped_fraction`` (of brain voxels).
* ``flags``: ``;``-joined names of the checks below that fail, empty when all pass.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage

#: Flag name -> (metric, lowest acceptable, highest acceptable).
QC_LIMITS = {
    "low_template_similarity": ("t1w_template_ncc", 0.6, None),
    "brain_volume_out_of_range": ("brain_volume_ml", 800.0, 2500.0),
    "gm_fraction_out_of_range": ("gm_fraction", 0.25, 0.65),
    "low_pet_mri_similarity": ("pet_t1w_ncc", 0.4, None),
    "pet_clipped": ("pet_clipped_fraction", None, 0.01),
}


def ncc(*, a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Normalized cross-correlation of ``a`` and ``b`` inside ``mask``."""
    x, y = a[mask].astype(np.float64), b[mask].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else 0.0


def qc_row(*, participant_id: str, backend: str, metrics: dict[str, float]) -> dict:
    """The QC table row: identifiers, ``metrics`` (rounded) and the failed-check flags."""
    flags = []
    for flag, (metric, low, high) in QC_LIMITS.items():
        value = metrics.get(metric)
        if value is None:
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            flags.append(flag)
    row = {"participant_id": participant_id, "backend": backend}
    row.update({key: round(float(value), 4) for key, value in metrics.items()})
    row["flags"] = ";".join(flags)
    return row


def qc_figure(*, path, participant_id: str, t1w: np.ndarray, gm: np.ndarray,
              template: np.ndarray, pet: np.ndarray | None) -> None:
    """Three planes per row: T1w with GM outline; PET with GM outline; template edges on T1w."""
    rows = [("T1w + GM outline", t1w, "gray", True, False)]
    if pet is not None:
        rows.append(("PET + GM outline", pet, "hot", True, False))
    rows.append(("template edges on T1w", t1w, "gray", False, True))
    edges = _edges(template)
    center = [n // 2 for n in t1w.shape]
    figure, axes = plt.subplots(len(rows), 3, figsize=(7.5, 2.6 * len(rows)), squeeze=False)
    for row, (title, volume, cmap, outline, show_edges) in enumerate(rows):
        for axis in range(3):
            ax = axes[row, axis]
            ax.imshow(_plane(volume, axis, center).T, origin="lower", cmap=cmap, vmin=0, vmax=1)
            if outline:
                ax.contour(_plane(gm, axis, center).T, levels=[0.5], colors="c", linewidths=0.6)
            if show_edges:
                ax.contour(_plane(edges, axis, center).T, levels=[0.5], colors="r",
                           linewidths=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(title, fontsize=8)
    figure.suptitle(f"sub-{participant_id}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _plane(volume: np.ndarray, axis: int, center: list[int]) -> np.ndarray:
    return np.take(volume, center[axis], axis=axis)


def _edges(template: np.ndarray) -> np.ndarray:
    """Tissue edges of the template: gradient magnitude above its 85th percentile."""
    smooth = ndimage.gaussian_filter(template.astype(np.float32), 0.7)
    magnitude = np.sqrt(sum(g**2 for g in np.gradient(smooth)))
    inside = template > 0
    if not inside.any():
        return np.zeros_like(magnitude)
    return (magnitude > np.percentile(magnitude[inside], 85)).astype(np.float32)
