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

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
from scipy import ndimage

from gla_model.preprocess.spatial import resample

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


def quality_control(*, participant_id: str, backend: str, t1w: nib.Nifti1Image,
                    gm: np.ndarray, wm: np.ndarray, mask: np.ndarray,
                    native_mask: nib.Nifti1Image, template: nib.Nifti1Image,
                    pet: np.ndarray | None, pet_metrics: Mapping[str, float] | None,
                    figure: Path | str) -> dict:
    """A subject's QC row (see the module docstring), and its figure written to ``figure``.

    Args:
        t1w, gm, wm, mask: the T1w, GM/WM probabilities and brain mask on the model grid.
        native_mask: the brain mask in native space (for the brain volume).
        template: the MNI T1 template (resampled onto the T1w's grid here).
        pet, pet_metrics: the scaled PET on the grid and the metrics of its
            normalization (:func:`gla_model.preprocess.pet.normalize_pet`); None for an
            MRI-only subject.
    """
    template_grid = resample(image=template, shape=t1w.shape, affine=t1w.affine,
                             pull=np.eye(4), order=1)
    template_grid /= max(float(template_grid.max()), 1e-6)
    voxel_ml = abs(np.linalg.det(native_mask.affine[:3, :3])) / 1000.0
    brain = mask > 0
    metrics = {
        "t1w_template_ncc": ncc(a=t1w.get_fdata(), b=template_grid, mask=template_grid > 0.05),
        "brain_volume_ml": float((np.asarray(native_mask.dataobj) > 0).sum() * voxel_ml),
        "gm_fraction": float(gm[brain].sum() / max(brain.sum(), 1)),
        "wm_fraction": float(wm[brain].sum() / max(brain.sum(), 1)),
    }
    if pet is not None:
        metrics["pet_t1w_ncc"] = ncc(a=pet, b=gm, mask=brain)
        metrics.update(pet_metrics or {})
    row = qc_row(participant_id=participant_id, backend=backend, metrics=metrics)
    qc_figure(path=figure, participant_id=participant_id, t1w=t1w.get_fdata(), gm=gm,
              template=template_grid, pet=pet)
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
