"""The report's uncertainty part: the calibration table, the reliability figure, the MRI-only
subjects' uncertainty with the out-of-distribution warnings, and summary lines in plain words.

Reads each reported variant's ``results/uncertainty/<variant>/{subjects, calibration,
reliability}.tsv`` (written by ``gla-model uncertainty``; see
:mod:`gla_model.uncertainty.calibration`). Calibration uses only test-fold subjects, each
scored by members that never saw it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from gla_model import vocabulary
from gla_model.evaluate.stats import holm
from gla_model.layout import uncertainty_path
from gla_model.layout.report import REPORT_TABLES
from gla_model.report.markdown import format_p, markdown_rows
from gla_model.report.tables import Table
from gla_model.tsvio import read_table
from gla_model.uncertainty.calibration import (
    CALIBRATION_COLUMNS,
    GAUSSIAN_ABS_RATIO,
    RELIABILITY_COLUMNS,
)
from gla_model.uncertainty.summary import SUBJECT_COLUMNS
from gla_model.uncertainty.typicality import MARGIN

#: The tables of a variant this part reads.
KINDS = {"subjects": SUBJECT_COLUMNS, "calibration": CALIBRATION_COLUMNS,
         "reliability": RELIABILITY_COLUMNS}
CALIBRATION_NOTES = (
    "Test-fold subjects only, each scored by the members that never saw it: its own fold's "
    "model under test-time augmentation (every other fold's model trained on it).",
    "Voxel ρ: Spearman's rank correlation of SD and |error| over one subject's brain voxels; "
    "median [IQR] over the subjects (no p-value: neighbouring voxels are not independent).",
    "Region ρ: Spearman's rank correlation across the test subjects of an AAL region's mean "
    "SD and mean |error| (its grey-matter voxels); median [IQR] over the regions.",
    "Subject ρ: Spearman's rank correlation across the test subjects of the mean SD in the "
    "brain and the MAE, two-sided p (scipy), Holm-corrected over the models of this table.",
    "Subject ρ within folds: the same with both ranked within each fold before pooling, so "
    "the differences between the fold models (one model both more uncertain and worse) are "
    "left out; p and correction as for subject ρ.",
    "Observed / expected |error|: the pooled mean |error| over sqrt(2/π) × the mean SD, the "
    "mean |error| of unbiased Gaussian errors with that SD: 1 is calibrated, above 1 the SD "
    "is too small (overconfident), below 1 too large.",
)


def read_uncertainty(*, uncertainty_dir: Path, variants: Mapping[str, Mapping]
                     ) -> dict[str, dict[str, pd.DataFrame]]:
    """variant -> kind -> table, for every variant and kind of :data:`KINDS`."""
    return {variant: {kind: read_table(uncertainty_path(uncertainty_dir=uncertainty_dir,
                                                        variant=variant, kind=kind),
                                       columns=columns, role=f"{variant} uncertainty {kind}")
                      for kind, columns in KINDS.items()}
            for variant in variants}


def calibration_report(*, results: Mapping[str, Mapping[str, pd.DataFrame]],
                       variants: Mapping[str, Mapping]) -> Table:
    """One row per variant: how well its SD ranks the error of the test-fold subjects."""
    rows = [_calibration_row(variant=v, label=variants[v]["label"], tables=results[v])
            for v in variants]
    data = pd.DataFrame(rows)
    for name in ("subject", "within_fold"):
        data[f"{name}_p_holm"] = holm(data[f"{name}_p"].to_numpy(float)) if len(data) else []
    cells = pd.DataFrame({
        "Model": data["label"], "Test subjects": data["n_subjects"],
        "Mean SD": [f"{v:.4f}" for v in data["sd_mean"]],
        "MAE": [f"{v:.4f}" for v in data["mae_mean"]],
        "Voxel ρ, median [IQR]": [_median_iqr(r, "voxel_spearman") for _, r in data.iterrows()],
        "Region ρ, median [IQR] (regions)": [
            f"{_median_iqr(r, 'region_spearman')} ({int(r['n_regions'])})"
            for _, r in data.iterrows()],
        "Subject ρ (n, p Holm)": [
            f"{r['subject_spearman']:.2f} ({int(r['subject_n'])}, "
            f"{format_p(r['subject_p_holm'])})" for _, r in data.iterrows()],
        "Subject ρ within folds (p Holm)": [
            f"{r['within_fold_spearman']:.2f} ({format_p(r['within_fold_p_holm'])})"
            for _, r in data.iterrows()],
        "Observed / expected |error|": [f"{v:.2f}" for v in data["error_ratio"]]})
    markdown = "\n".join(["# Uncertainty calibration on the test-fold subjects", "",
                          markdown_rows(cells), "", *(f"- {note}" for note in CALIBRATION_NOTES),
                          ""])
    return Table(name=REPORT_TABLES["uncertainty_calibration"], data=data, markdown=markdown)


def mri_only_report(*, results: Mapping[str, Mapping[str, pd.DataFrame]],
                    variants: Mapping[str, Mapping]) -> Table:
    """The MRI-only subjects' uncertainty per variant, how it ranks among the test-fold
    subjects', the input check, and a warning for every out-of-distribution subject."""
    frames = []
    for variant in variants:
        subjects = results[variant]["subjects"]
        tests = subjects.loc[subjects["group"] == vocabulary.PAIRED,
                             "sd_fold_models"].to_numpy(float)
        part = subjects.loc[subjects["group"] == vocabulary.MRI_ONLY_SUBJECTS].copy()
        part.insert(0, "label", variants[variant]["label"])
        part.insert(0, "variant", variant)
        part["sd_fold_models_percentile"] = [100.0 * np.mean(tests <= value) if tests.size
                                             else np.nan for value in part["sd_fold_models"]]
        frames.append(part)
    columns = ["variant", "label", "participant_id", "model", "n_members", "sd_mean",
               "sd_primary", "sd_fold_models", "sd_fold_models_percentile",
               "input_typicality", "typicality_threshold", "out_of_distribution"]
    data = (pd.concat(frames, ignore_index=True)[columns] if frames
            else pd.DataFrame(columns=columns))
    lines = ["# Uncertainty of the MRI-only subjects' synthetic PET", ""]
    if data.empty:
        lines += ["The cohort has no MRI-only subject.", ""]
    else:
        lines += [markdown_rows(_mri_only_cells(data=data, variants=variants)), "",
                  "- Mean SD in the brain. Folds: each fold model's SD over its own test-time "
                  "augmentations, averaged over the fold models (pct: its percentile among "
                  "the test-fold subjects' SD, each from its fold model the same way: like "
                  "with like, since the spread under augmentation is largely a property of "
                  "the model). Full: the full model's, whose PET is used. All: every valid "
                  "member (the full model and every fold model; none saw the subject).",
                  f"- Typicality: mean |z| of the T1w against the full model's training T1w; "
                  f"out of distribution above {MARGIN:g} × the median leave-one-out value of "
                  "the training subjects.", ""]
    lines += ["## Out-of-distribution inputs", "", *ood_warnings(results=results), ""]
    return Table(name=REPORT_TABLES["uncertainty_mri_only"], data=data,
                 markdown="\n".join(lines))


def ood_warnings(*, results: Mapping[str, Mapping[str, pd.DataFrame]]) -> list[str]:
    """A warning line per subject flagged out of distribution (any variant, any group)."""
    subjects = pd.concat([r["subjects"] for r in results.values()], ignore_index=True)
    flagged = subjects.loc[_flags(subjects["out_of_distribution"])].drop_duplicates(
        ["participant_id", "model"])
    if flagged.empty:
        return ["No subject's T1w is out of distribution."]
    return [f"- **Warning**: sub-{r['participant_id']} ({r['group']}, model {r['model']}): its "
            f"T1w is unlike the model's training T1w (typicality {r['input_typicality']:.2f} "
            f"> {r['typicality_threshold']:.2f}); do not trust its synthetic PET. Its "
            "uncertainty map is raised to at least the RMS difference between its PET and "
            "the training subjects' real PETs." for _, r in flagged.iterrows()]


def reliability_figure(*, results: Mapping[str, Mapping[str, pd.DataFrame]],
                       variants: Mapping[str, Mapping]) -> Figure:
    """Observed mean |error| against the mean predicted SD of each SD bin, one line per
    variant, with the line |e| = sqrt(2/π) SD of calibrated Gaussian errors."""
    figure = Figure(figsize=(5.5, 4.5), layout="constrained")
    axis = figure.subplots()
    values = []
    for variant in variants:
        bins = results[variant]["reliability"]
        axis.plot(bins["sd_mean"], bins["abs_error_mean"], marker="o",
                  label=variants[variant]["label"])
        values += [*bins["sd_mean"], *bins["abs_error_mean"]]
    positive = [v for v in values if v > 0]
    if positive:
        low, high = min(positive), max(positive)
        line = np.geomspace(low / GAUSSIAN_ABS_RATIO, high / GAUSSIAN_ABS_RATIO, 50)
        axis.plot(line, GAUSSIAN_ABS_RATIO * line, "k--",
                  label="calibrated: |e| = sqrt(2/π) SD")
        axis.set_xscale("log")
        axis.set_yscale("log")
        for scale in (axis.xaxis, axis.yaxis):  # 1-2-5 decimals, no crowded minor labels
            scale.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            scale.set_major_formatter(ticker.FormatStrFormatter("%.3g"))
            scale.set_minor_formatter(ticker.NullFormatter())
    axis.set_xlabel("predicted SD (mean of the bin)")
    axis.set_ylabel("observed |error| (mean of the bin)")
    axis.set_title("Reliability: test-fold voxels in SD deciles")
    axis.legend(fontsize="small")
    return figure


def summary_lines(*, calibration: pd.DataFrame, mri_only: pd.DataFrame) -> list[str]:
    """Plain-words lines for summary.md, from the data of :func:`calibration_report` and
    :func:`mri_only_report` (their TSVs as read back)."""
    lines = []
    for _, r in calibration.iterrows():
        ranks = ("have" if r["subject_p_holm"] < 0.05 and r["subject_spearman"] > 0
                 else "do not significantly have")
        voxel = r["voxel_spearman_median"]
        shows = ("shows" if voxel > 0.3 else "weakly shows" if voxel > 0.1
                 else "does not show")
        confidence = ("overconfident" if r["error_ratio"] > 1 else "cautious")
        lines.append(
            f"{r['label']}: on the {int(r['n_subjects'])} test-fold subjects (each scored only "
            f"by members that never saw it), subjects with a higher mean uncertainty {ranks} "
            f"a larger MAE (Spearman ρ = {r['subject_spearman']:.2f}, "
            f"{format_p(r['subject_p_holm'])} Holm; ranked within each fold, i.e. among "
            f"subjects scored by one model: ρ = {r['within_fold_spearman']:.2f}, "
            f"{format_p(r['within_fold_p_holm'])} Holm). Within a subject the voxelwise ρ between "
            f"SD and |error| has median {voxel:.2f} (per AAL region across subjects: median "
            f"{r['region_spearman_median']:.2f}), so the SD map {shows} where a synthetic PET "
            f"errs more. The SD is {confidence}: the observed |error| is "
            f"{r['error_ratio']:.3g} times what calibrated Gaussian errors with that SD would "
            "give.")
    if not mri_only.empty:
        flags = _flags(mri_only["out_of_distribution"])
        flagged = sorted(set(mri_only.loc[flags, "participant_id"]))
        total = mri_only["participant_id"].nunique()
        lines.append(
            f"MRI-only subjects: {len(flagged)} of {total} have a T1w out of distribution"
            + (f" ({', '.join(f'sub-{p}' for p in flagged)}; do not trust their synthetic PET)"
               if flagged else "") + ".")
        for _, part in mri_only.groupby("variant", sort=False):
            above = part.loc[part["sd_fold_models_percentile"] >= 100, "participant_id"]
            lines.append(
                f"{part['label'].iloc[0]}: {len(above)} of {len(part)} MRI-only subjects have "
                "a higher uncertainty (the fold models' SD under augmentation, as for the "
                "test-fold subjects) than every test-fold subject"
                + (f" ({', '.join(f'sub-{p}' for p in above)})" if len(above) else "") + ".")
    return lines


def _calibration_row(*, variant: str, label: str, tables: Mapping[str, pd.DataFrame]
                     ) -> dict[str, object]:
    calibration, subjects = tables["calibration"], tables["subjects"]
    reliability = tables["reliability"]
    voxel = calibration.loc[calibration["level"] == "subject", "spearman"].dropna()
    region = calibration.loc[calibration["level"] == "region", "spearman"].dropna()
    cohort = calibration.loc[calibration["level"] == "cohort"]
    within = calibration.loc[calibration["level"] == "cohort_within_fold"]
    tests = subjects.loc[subjects["group"] == vocabulary.PAIRED]
    weights = reliability["n_voxels"].to_numpy(float)
    expected = float(np.sum(weights * reliability["expected_abs_error"]))
    observed = float(np.sum(weights * reliability["abs_error_mean"]))
    row = {"variant": variant, "label": label, "n_subjects": len(tests),
           "sd_mean": tests["sd_mean"].mean(), "mae_mean": tests["mae"].mean(),
           "n_regions": len(region),
           "subject_spearman": float(cohort["spearman"].iloc[0]) if len(cohort) else math.nan,
           "subject_p": float(cohort["p_value"].iloc[0]) if len(cohort) else math.nan,
           "subject_n": int(cohort["n"].iloc[0]) if len(cohort) else 0,
           "within_fold_spearman": (float(within["spearman"].iloc[0]) if len(within)
                                    else math.nan),
           "within_fold_p": float(within["p_value"].iloc[0]) if len(within) else math.nan,
           "error_ratio": observed / expected if expected > 0 else math.nan}
    for name, values in (("voxel_spearman", voxel), ("region_spearman", region)):
        q1, median, q3 = (np.percentile(values, [25, 50, 75]) if len(values)
                          else (math.nan,) * 3)
        row |= {f"{name}_median": median, f"{name}_q1": q1, f"{name}_q3": q3}
    return row


def _median_iqr(row: pd.Series, name: str) -> str:
    if pd.isna(row[f"{name}_median"]):
        return "–"
    return (f"{row[f'{name}_median']:.2f} [{row[f'{name}_q1']:.2f}, "
            f"{row[f'{name}_q3']:.2f}]")


def _mri_only_cells(*, data: pd.DataFrame, variants: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per MRI-only subject; per variant its SD (percentile) and SD over all."""
    first = data.drop_duplicates("participant_id").set_index("participant_id")
    cells = pd.DataFrame({
        "Subject": [f"sub-{p}" for p in first.index],
        "Typicality (threshold)": [f"{r['input_typicality']:.2f} "
                                   f"({r['typicality_threshold']:.2f})"
                                   if not pd.isna(r["input_typicality"]) else "n/a"
                                   for _, r in first.iterrows()],
        "Out of distribution": ["**yes**" if flag else "no"
                                for flag in _flags(first["out_of_distribution"])]})
    for variant in variants:
        part = data.loc[data["variant"] == variant].set_index("participant_id")
        cells[f"{variants[variant]['label']}: SD folds (pct) / full / all"] = [
            f"{part.at[p, 'sd_fold_models']:.4f} ({part.at[p, 'sd_fold_models_percentile']:.0f})"
            f" / {part.at[p, 'sd_primary']:.4f} / {part.at[p, 'sd_mean']:.4f}"
            if p in part.index else "–" for p in first.index]
    return cells


def _flags(values: pd.Series) -> pd.Series:
    """``out_of_distribution`` as booleans (False where it is n/a)."""
    return values.map(lambda v: str(v).strip().lower() == "true")
