"""The report's figures (matplotlib, Agg backend, PNG): ablation bars (Figs 8-9), qualitative
slices (Figs 4 and 7), training curves, the MRI interpolation (Fig 11) and the confusion
matrices of a multi-class task.

Builders return a ``matplotlib.figure.Figure`` made without pyplot (no global state; saving
uses the Agg canvas), so tests can count its panels; :func:`save_figure` writes it atomically.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import ndimage

from gla_model.niftiio import write_atomic
from gla_model.report.inputs import CLASSIFICATION_METRICS
from gla_model.report.tables import METRIC_LABELS

#: Characters per line of a column title in the qualitative figure (1.8-inch columns).
COLUMN_TITLE_CHARS = 22
#: Characters per line of a panel title in the confusion figure (2.9-inch panels).
CONFUSION_TITLE_CHARS = 34

ABLATION_IMAGE_METRICS = ("ssim", "psnr", "mae")
#: Classification metrics an ablation figure shows when its table has them, in this order.
ABLATION_CLASSIFICATION_METRICS = CLASSIFICATION_METRICS
EXPERIMENT_COLOURS = {"paired": "tab:blue", "complete": "tab:orange"}
#: Panels per row of the ablation figure.
ABLATION_COLUMNS = 3
VIEWS = ("axial", "coronal", "sagittal")
DPI = 120


def save_figure(*, figure: Figure, path: Path | str) -> Path:
    """Write ``figure`` as PNG to ``path`` atomically, readable by the group
    (:func:`gla_model.niftiio.write_atomic`)."""
    return write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=DPI,
                                                         bbox_inches="tight"))


def ablation_series(*, table: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Panel metric -> {experiment ("" for image metrics): column stem} of an ablation table:
    SSIM, PSNR, MAE, then every classification metric of
    :data:`ABLATION_CLASSIFICATION_METRICS` with a ``<experiment>_<metric>_mean`` column."""
    panels: dict[str, dict[str, str]] = {metric: {"": metric}
                                         for metric in ABLATION_IMAGE_METRICS}
    for metric in ABLATION_CLASSIFICATION_METRICS:
        series = {experiment: f"{experiment}_{metric}" for experiment in EXPERIMENT_COLOURS
                  if f"{experiment}_{metric}_mean" in table.columns}
        if series:
            panels[metric] = series
    return panels


def ablation_figure(*, table: pd.DataFrame, title: str) -> Figure:
    """Bars with ±1 SD error bars of one ablation table (``tables.ablation_table(...).data``):
    SSIM, PSNR, MAE, then each classification metric the table has (accuracy, sensitivity,
    specificity, F1, MCC, AUC; :func:`ablation_series`) with paired and complete side by
    side, :data:`ABLATION_COLUMNS` panels a row."""
    labels = table["label"].tolist()
    positions = np.arange(len(labels))
    panels = ablation_series(table=table)
    ncols = min(ABLATION_COLUMNS, len(panels))
    nrows = -(-len(panels) // ncols)
    figure = Figure(figsize=(3.0 * ncols, 3.4 * nrows), layout="constrained")
    grid = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for axis in grid[len(panels):]:
        figure.delaxes(axis)
    for axis, (metric, series) in zip(grid, panels.items(), strict=False):
        width = 0.8 / len(series)
        for index, (experiment, column) in enumerate(series.items()):
            offset = (index - (len(series) - 1) / 2) * width
            axis.bar(positions + offset, table[f"{column}_mean"], width,
                     yerr=table[f"{column}_std"].fillna(0.0), capsize=3,
                     color=EXPERIMENT_COLOURS.get(experiment, "tab:grey"),
                     label=experiment or None)
        _zoom_to_bars(axis, table=table, columns=series.values())
        axis.set_title(METRIC_LABELS[metric])
        axis.set_xticks(positions, labels, rotation=30, ha="right")
        if len(series) > 1:
            axis.legend(fontsize="small")
    figure.suptitle(title)
    return figure


def qualitative_figure(*, truth: np.ndarray, synthetic: Mapping[str, np.ndarray],
                       voxel_size: Sequence[float], title: str) -> Figure:
    """Ground truth, then synthetic PET and ``|synthetic - truth|`` per model (columns), in
    axial, coronal and sagittal slices through the truth's centre of mass (rows).

    Intensities share one grey scale; errors share one colour scale across models.
    """
    centre = _centre(truth)
    vmax = max(float(np.max(truth)), *(float(np.max(v)) for v in synthetic.values()))
    errors = {label: np.abs(volume - truth) for label, volume in synthetic.items()}
    error_max = max(float(np.max(e)) for e in errors.values()) or 1.0
    columns = [("Ground truth", truth, "gray", vmax)]
    for label, volume in synthetic.items():
        columns += [(label, volume, "gray", vmax), (f"|error| {label}", errors[label],
                                                     "inferno", error_max)]
    figure = Figure(figsize=(1.8 * len(columns) + 0.8, 1.9 * len(VIEWS)), layout="constrained")
    axes = figure.subplots(len(VIEWS), len(columns), squeeze=False)
    error_image = None
    for row, view in enumerate(VIEWS):
        for column, (label, volume, cmap, top) in enumerate(columns):
            axis = axes[row, column]
            image = _show_slice(axis, volume=volume, view=view, centre=centre,
                                voxel_size=voxel_size, cmap=cmap, vmax=top)
            if cmap == "inferno":
                error_image = image
            if row == 0:
                # Wrapped to the column's width, or long variant labels run into each other.
                axis.set_title(textwrap.fill(label, width=COLUMN_TITLE_CHARS,
                                             break_on_hyphens=False), fontsize="small")
            if column == 0:
                axis.set_ylabel(view)
    if error_image is not None:
        figure.colorbar(error_image, ax=axes[:, -1], shrink=0.8, label="|error|")
    figure.suptitle(title)
    return figure


def training_curves_figure(*, histories: Mapping[str, pd.DataFrame]) -> Figure:
    """One panel per model: every loss term logged for both train and val (unweighted terms
    such as l1, ms_ssim, roi; see :func:`shared_terms`) per epoch, train solid and val
    dashed, the mean over folds with a ±1 SD band.

    Args:
        histories: label -> rows with epoch, split, fold and one column per term.
    """
    count = len(histories)
    ncols = min(count, 4)
    nrows = -(-count // ncols)
    figure = Figure(figsize=(3.6 * ncols, 2.9 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False)
    for axis, (label, history) in zip(axes.flat, histories.items(), strict=False):
        for colour, term in enumerate(shared_terms(history)):
            for split, style in (("train", "-"), ("val", "--")):
                part = history.loc[history["split"] == split]
                curve = part.groupby("epoch")[term].agg(["mean", "std"]).fillna({"std": 0.0})
                axis.plot(curve.index, curve["mean"], style, color=f"C{colour}",
                          label=f"{term} ({split})")
                axis.fill_between(curve.index, curve["mean"] - curve["std"],
                                  curve["mean"] + curve["std"], color=f"C{colour}", alpha=0.15)
        axis.set_title(label, fontsize="small")
        axis.set_xlabel("epoch")
        axis.set_ylabel("loss term")
        axis.legend(fontsize="x-small")
    for axis in axes.flat[count:]:
        axis.set_visible(False)
    figure.suptitle("Training curves: train (solid) and val (dashed), mean ± SD over folds")
    return figure


def shared_terms(history: pd.DataFrame) -> list[str]:
    """Numeric columns with values in both the train and the val rows of a history."""
    splits = [history.loc[history["split"] == s] for s in ("train", "val")]
    return [column for column in history.columns
            if column not in ("epoch", "split", "fold")
            and pd.api.types.is_numeric_dtype(history[column])
            and all(part[column].notna().any() for part in splits)]


def interpolation_figure(*, real: Mapping[str, Mapping[str, np.ndarray]],
                         interpolated: Sequence[Mapping[str, np.ndarray]],
                         alphas: Sequence[float], p_cn_real: Mapping[str, float],
                         p_cn_steps: Sequence[float], voxel_size: Sequence[float]) -> Figure:
    """Fig 11: real CN (left) and AD (right) MRI/PET, and between them the interpolated MRIs
    with their synthetic PETs (rows MRI, PET; axial slice); P(CN) under every PET.

    Args:
        real: ``{"CN": {"mri", "pet"}, "AD": {...}}`` real volumes.
        interpolated: per step ``{"mri", "pet"}`` (the synthetic PET).
        alphas: the AD weight of each step (0 = CN, 1 = AD).
        p_cn_real: the SVM's P(CN) of the real pairs, ``{"CN": p, "AD": p}``.
        p_cn_steps: the SVM's P(CN) of every interpolation step.
        voxel_size: voxel size (mm) for the aspect ratio.
    """
    columns = [("Real CN", real["CN"], p_cn_real["CN"])]
    columns += [(f"α = {alpha:.2f}", step, p) for alpha, step, p in
                zip(alphas, interpolated, p_cn_steps, strict=True)]
    columns.append(("Real AD", real["AD"], p_cn_real["AD"]))
    centre = _centre(real["CN"]["pet"])
    limits = {kind: max(float(np.max(c[1][kind])) for c in columns) for kind in ("mri", "pet")}
    figure = Figure(figsize=(1.7 * len(columns), 4.2), layout="constrained")
    axes = figure.subplots(2, len(columns), squeeze=False)
    for column, (label, volumes, probability) in enumerate(columns):
        for row, kind in enumerate(("mri", "pet")):
            _show_slice(axes[row, column], volume=volumes[kind], view="axial", centre=centre,
                        voxel_size=voxel_size, cmap="gray", vmax=limits[kind])
        axes[0, column].set_title(label, fontsize="small")
        axes[1, column].set_xlabel(f"P(CN) = {probability:.2f}", fontsize="small")
    axes[0, 0].set_ylabel("MRI")
    axes[1, 0].set_ylabel("PET (real at the ends,\nsynthetic between)", fontsize="small")
    figure.suptitle("Linear MRI interpolation from a CN to an AD subject")
    return figure


def confusion_figure(*, counts: Mapping[str, np.ndarray], classes: Sequence[str],
                     title: str) -> Figure:
    """One confusion matrix per feature set (panels): rows the true class, columns the
    predicted one, coloured by the row-normalized fraction (each row sums to 1), each cell
    reading the fraction and the count.

    Args:
        counts: panel label -> ``(n_classes, n_classes)`` counts, rows = true class
            (:func:`gla_model.report.tasks.confusion_counts`).
        classes: class names in label order.
        title: the figure title.
    """
    figure = Figure(figsize=(2.9 * len(counts) + 0.8, 3.2), layout="constrained")
    axes = figure.subplots(1, len(counts), squeeze=False)[0]
    image = None
    ticks = np.arange(len(classes))
    for axis, (label, matrix) in zip(axes, counts.items(), strict=True):
        totals = matrix.sum(axis=1, keepdims=True)
        fractions = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
        image = axis.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
        for (row, column), count in np.ndenumerate(matrix):
            share = fractions[row, column]
            axis.text(column, row, f"{share:.2f}\n({count})", ha="center", va="center",
                      fontsize="small", color="white" if share > 0.6 else "black")
        axis.set_xticks(ticks, classes)
        axis.set_yticks(ticks, classes)
        axis.set_xlabel("predicted")
        axis.set_title(textwrap.fill(label, width=CONFUSION_TITLE_CHARS,
                                     break_on_hyphens=False), fontsize="small")
    axes[0].set_ylabel("true")
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="fraction of the true class")
    figure.suptitle(title)
    return figure


def _show_slice(axis, *, volume: np.ndarray, view: str, centre: Sequence[int],
                voxel_size: Sequence[float], cmap: str, vmax: float):
    x, y, z = centre
    vx, vy, vz = voxel_size
    plane, aspect = {"axial": (volume[:, :, z], vy / vx),
                     "coronal": (volume[:, y, :], vz / vx),
                     "sagittal": (volume[x, :, :], vz / vy)}[view]
    image = axis.imshow(plane.T, origin="lower", cmap=cmap, vmin=0.0, vmax=vmax,
                        aspect=aspect, interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])
    return image


def _centre(volume: np.ndarray) -> tuple[int, int, int]:
    weights = np.clip(volume, 0.0, None)
    if not np.any(weights):
        return tuple(s // 2 for s in volume.shape)
    return tuple(round(c) for c in ndimage.center_of_mass(weights))


def _zoom_to_bars(axis, *, table: pd.DataFrame, columns) -> None:
    """Start the y axis near the smallest bar so that small differences are visible."""
    lows = [table[f"{c}_mean"] - table[f"{c}_std"].fillna(0.0) for c in columns]
    highs = [table[f"{c}_mean"] + table[f"{c}_std"].fillna(0.0) for c in columns]
    low_values = [float(s.min()) for s in lows if np.isfinite(s.min())]
    high_values = [float(s.max()) for s in highs if np.isfinite(s.max())]
    if not low_values or not high_values:
        return  # no bar has a value (a metric undefined in every run): matplotlib's limits
    low, high = min(low_values), max(high_values)
    span = (high - low) or abs(high) or 1.0
    axis.set_ylim(max(0.0, low - 0.5 * span) if low >= 0 else low - 0.5 * span,
                  high + 0.2 * span)
