"""Fig 10: what the units of the global path's last feature maps respond to, region by region.

Inputs are those of the interpolation figure (Fig 11): the generator of
``report.interpolation_variant`` for ``report.interpolation_fold`` (its checkpoint, run through
the synthesis code path on the CPU in float32), that fold's test subjects (refused if any of
them trained the model), their preprocessed T1w and brain mask, and the AAL atlas on the model
grid with its labels table. Only generators with a global path (GLA-GAN, global only) qualify.

Per test subject a forward hook on the global path (``GlaGenerator.global_path``) captures
its last feature maps, ``(C, G, G, G)``: one map per unit (channel). Per unit and AAL region:
the mean activation over the region's voxels inside the subject's brain mask.

Top units (:func:`select_units`): the :data:`UNIT_COUNT` units whose regional profile (the
regions' mean activation over all test subjects) varies most across regions (standard
deviation over regions). The choice ignores the diagnoses, so it does not bias the AD-vs-CN
tests; MCI test subjects count in it (and in the mean maps) like any other. A unit
emphasizes its :data:`REGION_COUNT` regions of highest mean activation.

Tests (:func:`unit_table`): for every (top unit, emphasized region) pair, Welch's two-sided
t-test (unequal variances) of the subjects' regional mean activation, AD vs CN, n = the
fold's AD and CN test subjects (MCI subjects are in neither group); Holm correction across
all pairs tested (the table's rows).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats as scipy_stats
from torch import nn

from gla_model import folds as folds_module
from gla_model.errors import LeakageError
from gla_model.evaluate.stats import holm
from gla_model.layout import preprocessed_path
from gla_model.niftiio import load_image
from gla_model.report.inputs import ReportInputError
from gla_model.tsvio import read_table
from gla_model.vocabulary import DIAGNOSES

#: Units shown in the figure and tested, and regions per unit.
UNIT_COUNT = 4
REGION_COUNT = 5
VIEWS = ("axial", "coronal")
#: A unit's mean map is drawn where it exceeds this percentile of its brain voxels (the
#: rest shows the T1w), up to the upper percentile.
OVERLAY_PERCENTILES = (75.0, 99.0)
#: The two groups the tests compare (AD vs CN, the paper's), with their colours.
DIAGNOSIS_COLOURS = {"CN": "tab:blue", "AD": "tab:red"}


@dataclass(frozen=True)
class UnitStudy:
    """The global path's units on one fold's test subjects.

    Attributes:
        participants, diagnoses: the test subjects and their diagnoses, in the same order.
        regions: atlas indices of the regions studied; ``region_names`` their AAL names.
        regional: ``(subjects, units, regions)`` mean activation (NaN: no voxel in the mask).
        maps: per diagnosis present (CN, AD and any MCI), the ``(units, G, G, G)`` mean
            activation map of its subjects.
        t1w: the subjects' average T1w; ``labels``: the atlas on the model grid.
    """

    participants: tuple[str, ...]
    diagnoses: tuple[str, ...]
    regions: tuple[int, ...]
    region_names: dict[int, str]
    regional: np.ndarray
    maps: dict[str, np.ndarray]
    t1w: np.ndarray
    labels: np.ndarray

    def profile(self) -> np.ndarray:
        """``(units, regions)`` mean activation over every test subject."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a region empty in every mask
            return np.nanmean(self.regional, axis=0)

    def mean_map(self) -> np.ndarray:
        """``(units, G, G, G)`` mean activation map over every test subject."""
        counts = {d: self.diagnoses.count(d) for d in self.maps}
        return sum(counts[d] * m for d, m in self.maps.items()) / sum(counts.values())


def global_path(*, generator: nn.Module) -> nn.Module:
    """The global path of a GLA generator, inside its brain mask wrapper or not."""
    network = getattr(generator, "network", generator)
    path = getattr(network, "global_path", None)
    if path is None:
        raise ReportInputError(
            f"the generator ({type(network).__name__}) has no global path; Fig 10 needs a "
            "GLA-GAN or global-only variant as report.interpolation_variant.")
    return path


def capture_global_features(*, synthesize: Callable[[np.ndarray], np.ndarray],
                            path: nn.Module, mri: np.ndarray) -> np.ndarray:
    """``(C, G, G, G)`` float32 output of ``path`` (a module ``synthesize`` runs) for one MRI,
    caught by a forward hook that is removed afterwards."""
    caught: list[np.ndarray] = []
    handle = path.register_forward_hook(
        lambda module, inputs, output: caught.append(output.detach().float().cpu().numpy()))
    try:
        synthesize(mri)
    finally:
        handle.remove()
    if len(caught) != 1:
        raise ReportInputError(f"the global path ran {len(caught)} times for one volume")
    return np.ascontiguousarray(caught[0][0], dtype=np.float32)


def regional_means(*, activations: np.ndarray, labels: np.ndarray, mask: np.ndarray,
                   regions: Sequence[int]) -> np.ndarray:
    """``(units, regions)`` mean of each unit's map over each region's voxels in ``mask``;
    NaN for a region without voxels there."""
    if activations.shape[1:] != labels.shape or mask.shape != labels.shape:
        raise ReportInputError(f"feature maps {activations.shape[1:]}, atlas {labels.shape} "
                               f"and mask {mask.shape} are on different grids")
    count = len(regions)
    position = np.full(max(int(labels.max()), max(regions)) + 1, count)
    position[list(regions)] = np.arange(count)
    bins = np.where((mask != 0) & (labels > 0), position[np.clip(labels, 0, None)], count)
    bins = bins.ravel()
    voxels = np.bincount(bins, minlength=count + 1)[:count]
    sums = np.stack([np.bincount(bins, weights=unit.ravel().astype(np.float64),
                                 minlength=count + 1)[:count] for unit in activations])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(voxels > 0, sums / voxels, np.nan)


def read_atlas_labels(*, path: Path) -> dict[int, str]:
    """Atlas index -> region name from the labels table (columns ``index``, ``name``)."""
    table = read_table(path, columns=("index", "name"), role="atlas labels")
    return {int(i): str(n) for i, n in zip(table["index"], table["name"], strict=True)}


def study_units(*, synthesize: Callable[[np.ndarray], np.ndarray], generator: nn.Module,
                trained: Sequence[str], preproc_dir: Path, atlas: Path, atlas_labels: Path,
                folds: pd.DataFrame, fold: int) -> UnitStudy:
    """Capture the global path's units on the test subjects of ``fold`` (module doc).

    Args:
        synthesize: the fold's generator as ``mri -> pet``
            (:func:`gla_model.synthesize.load_synthesizer`), which runs ``generator``.
        trained: the subjects that trained or validated it; none may be a test subject.
    """
    path = global_path(generator=generator)
    test = folds_module.fold_subjects(folds=folds, fold=str(fold))["test"]
    leaked = sorted(set(test) & set(trained))
    if leaked:
        raise LeakageError(f"test subjects {leaked} of fold {fold} trained the generator; "
                           "use that fold's own checkpoint")
    diagnosis_of = dict(zip(folds["participant_id"].astype(str), folds["diagnosis"],
                            strict=True))
    labels = np.rint(load_image(atlas, role="AAL atlas").get_fdata()).astype(np.int64)
    names = read_atlas_labels(path=atlas_labels)
    regions = tuple(sorted(set(np.unique(labels).tolist()) & set(names)))
    if not regions:
        raise ReportInputError(f"no region of {atlas_labels} has a voxel in {atlas}; give the "
                               "labels table that belongs to the atlas.")
    regional, t1w_sum = [], None
    sums: dict[str, np.ndarray] = {}
    for participant_id in test:
        def read(field: str, pid: str = participant_id) -> np.ndarray:
            image_path = preprocessed_path(preproc_dir=preproc_dir, participant_id=pid,
                                           field=field)
            return load_image(image_path, role=f"{field} of sub-{pid}").get_fdata()

        mri, mask = read("t1w"), read("mask")
        maps = capture_global_features(synthesize=synthesize, path=path, mri=mri)
        regional.append(regional_means(activations=maps, labels=labels, mask=mask,
                                       regions=regions))
        diagnosis = diagnosis_of[participant_id]
        sums[diagnosis] = maps if diagnosis not in sums else sums[diagnosis] + maps
        t1w_sum = mri if t1w_sum is None else t1w_sum + mri
    diagnoses = tuple(diagnosis_of[p] for p in test)
    missing = [d for d in DIAGNOSIS_COLOURS if d not in diagnoses]
    if missing:
        raise ReportInputError(f"fold {fold} has no {' or '.join(missing)} test subject; "
                               "choose another report.interpolation_fold.")
    return UnitStudy(participants=tuple(test), diagnoses=diagnoses, regions=regions,
                     region_names={r: names[r] for r in regions},
                     regional=np.stack(regional),
                     maps={d: total / diagnoses.count(d) for d, total in sums.items()},
                     t1w=t1w_sum / len(test), labels=labels)


def select_units(*, profile: np.ndarray, count: int = UNIT_COUNT) -> list[int]:
    """The ``count`` units whose regional profile has the largest standard deviation across
    regions (ties: lower unit first); label-blind, see the module doc."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanstd(profile, axis=1)
    spread = np.where(np.isnan(spread), -np.inf, spread)
    return [int(u) for u in np.argsort(-spread, kind="stable")[:count]]


def emphasized_regions(*, profile: np.ndarray, unit: int, count: int = REGION_COUNT
                       ) -> list[int]:
    """Positions (in ``UnitStudy.regions``) of the ``count`` regions of highest mean
    activation of ``unit`` (regions without a value last)."""
    values = np.where(np.isnan(profile[unit]), -np.inf, profile[unit])
    return [int(r) for r in np.argsort(-values, kind="stable")[:count]]


def unit_table(*, study: UnitStudy, units: Sequence[int], regions_per_unit: int = REGION_COUNT
               ) -> pd.DataFrame:
    """One row per (unit, emphasized region): CN and AD mean ± SD of the subjects' regional
    activation, AD - CN, Welch's t and p, and the Holm-corrected p over every row."""
    profile = study.profile()
    groups = {d: np.array([x == d for x in study.diagnoses]) for d in DIAGNOSIS_COLOURS}
    rows = []
    for unit in units:
        for rank, position in enumerate(emphasized_regions(profile=profile, unit=unit,
                                                           count=regions_per_unit), start=1):
            values = {d: study.regional[mask, unit, position] for d, mask in groups.items()}
            values = {d: v[~np.isnan(v)] for d, v in values.items()}
            t, p = _welch(values["AD"], values["CN"])
            region = study.regions[position]
            rows.append({
                "unit": unit, "rank": rank, "region_index": region,
                "region": study.region_names[region], "mean_all": profile[unit, position],
                **{f"n_{d.lower()}": len(v) for d, v in values.items()},
                **{f"mean_{d.lower()}": _stat(v, np.mean) for d, v in values.items()},
                **{f"sd_{d.lower()}": _stat(v, lambda x: np.std(x, ddof=1), minimum=2)
                   for d, v in values.items()},
                "difference": _stat(values["AD"], np.mean) - _stat(values["CN"], np.mean),
                "t_statistic": t, "p_value": p})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p_value"].to_numpy()) if len(table) else []
    return table


def units_figure(*, study: UnitStudy, table: pd.DataFrame,
                 voxel_size: Sequence[float]) -> Figure:
    """Fig 10: a row per top unit (in the table's order): its mean activation over the test
    subjects (above :data:`OVERLAY_PERCENTILES`' lower bound) on their average T1w in axial
    and coronal slices through its top region (outlined), the AD - CN mean map, and bars of
    its top regions' CN and AD activation."""
    units = list(dict.fromkeys(table["unit"]))
    mean_map, brain = study.mean_map(), study.t1w > 0
    figure = Figure(figsize=(13.0, 2.8 * len(units) + 0.6), layout="constrained")
    axes = figure.subplots(len(units), len(VIEWS) + 2, squeeze=False,
                           gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    for row, unit in enumerate(units):
        rows = table.loc[table["unit"] == unit]
        top = study.labels == int(rows["region_index"].iloc[0])
        centre = [int(np.argmax(top.sum(axis=tuple(a for a in range(3) if a != axis))))
                  for axis in range(3)]
        inside = mean_map[unit][brain]
        low, high = (np.percentile(inside, OVERLAY_PERCENTILES) if inside.size
                     else (0.0, 1.0))
        for column, view in enumerate(VIEWS):
            image = _overlay(axes[row, column], base=study.t1w, overlay=mean_map[unit],
                             brain=brain, outline=top, view=view, centre=centre,
                             voxel_size=voxel_size, cmap="hot", limits=(low, high),
                             floor=low)
            axes[row, column].set_title(f"{view}: {rows['region'].iloc[0]}", fontsize="small")
        figure.colorbar(image, ax=axes[row, len(VIEWS) - 1], shrink=0.8)
        difference = study.maps["AD"][unit] - study.maps["CN"][unit]
        bound = float(np.max(np.abs(difference[brain]))) if brain.any() else 1.0
        image = _overlay(axes[row, len(VIEWS)], base=study.t1w, overlay=difference,
                         brain=brain, outline=top, view=VIEWS[0], centre=centre,
                         voxel_size=voxel_size, cmap="RdBu_r", limits=(-bound, bound or 1.0))
        axes[row, len(VIEWS)].set_title("AD − CN (axial)", fontsize="small")
        figure.colorbar(image, ax=axes[row, len(VIEWS)], shrink=0.8)
        axes[row, 0].set_ylabel(f"unit {unit}")
        _region_bars(axes[row, -1], rows=rows)
    counts = ", ".join(f"{study.diagnoses.count(d)} {d}" for d in DIAGNOSES
                       if d in study.diagnoses)
    figure.suptitle(f"Global-path units on {len(study.participants)} test subjects "
                    f"({counts}): mean activation and its top AAL regions")
    return figure


def _welch(ad: np.ndarray, cn: np.ndarray) -> tuple[float, float]:
    if len(ad) < 2 or len(cn) < 2:
        return np.nan, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # both groups constant: NaN
        result = scipy_stats.ttest_ind(ad, cn, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def _stat(values: np.ndarray, function, *, minimum: int = 1) -> float:
    return float(function(values)) if len(values) >= minimum else np.nan


def _overlay(axis, *, base: np.ndarray, overlay: np.ndarray, brain: np.ndarray,
             outline: np.ndarray, view: str, centre: Sequence[int],
             voxel_size: Sequence[float], cmap: str, limits: tuple[float, float],
             floor: float = -np.inf):
    _, y, z = centre
    vx, vy, vz = voxel_size
    cut, aspect = {"axial": (lambda v: v[:, :, z], vy / vx),
                   "coronal": (lambda v: v[:, y, :], vz / vx)}[view]
    axis.imshow(cut(base).T, origin="lower", cmap="gray", aspect=aspect,
                interpolation="nearest")
    shown = np.ma.masked_where(~cut(brain).T | (floor > cut(overlay).T), cut(overlay).T)
    image = axis.imshow(shown, origin="lower", cmap=cmap, vmin=limits[0], vmax=limits[1],
                        alpha=0.7, aspect=aspect, interpolation="nearest")
    if cut(outline).any():
        axis.contour(cut(outline).T.astype(float), levels=[0.5], colors="cyan",
                     linewidths=0.8)
    axis.set_xticks([])
    axis.set_yticks([])
    return image


def _region_bars(axis, *, rows: pd.DataFrame) -> None:
    positions = np.arange(len(rows))
    for offset, diagnosis in ((-0.2, "CN"), (0.2, "AD")):
        key = diagnosis.lower()
        axis.barh(positions + offset, rows[f"mean_{key}"], 0.4,
                  xerr=rows[f"sd_{key}"].fillna(0.0), capsize=2,
                  color=DIAGNOSIS_COLOURS[diagnosis], label=diagnosis)
    axis.set_yticks(positions, [f"{r} (Holm p={p:.2g})" for r, p in
                                zip(rows["region"], rows["p_holm"], strict=True)],
                    fontsize="x-small")
    axis.invert_yaxis()
    axis.set_xlabel("mean activation ± SD", fontsize="small")
    axis.xaxis.set_major_locator(MaxNLocator(4))
    axis.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    axis.legend(fontsize="x-small")
