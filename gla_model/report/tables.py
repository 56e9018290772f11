"""Tables I-III, the ablation tables and the QC summary, as numbers (TSV) and Markdown.

Statistics come from ``gla_model.evaluate.stats``; this module only arranges and formats
them. Every table has one numeric TSV (``<metric>_mean``, ``_std``, ``_best``,
``_t_pvalue``, ``_wilcoxon_pvalue`` per metric) and a Markdown rendering in which each
cell reads ``mean ± std``, the best row of a metric is bold, and every other row carries
the paired two-tailed t-test and Wilcoxon p-values against that best row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gla_model.evaluate import stats
from gla_model.layout import REPORT_TABLES, ablation_name, group_members, report_table_paths
from gla_model.niftiio import write_text_atomic
from gla_model.report.inputs import (
    CLASSIFICATION_METRICS,
    IMAGE_METRICS,
    ReportInputError,
)
from gla_model.tsvio import write_table
from gla_model.vocabulary import COMPLETE_EXPERIMENT, EXPERIMENTS, PAIRED_EXPERIMENT, REAL_PET
from gla_model.vocabulary import MEAN_TRAIN_PET as BASELINE
from gla_model.vocabulary import MRI_FEATURES as MRI_ONLY

BASELINE_LABEL = "Mean training PET (baseline)"
SOURCE_LABELS = {MRI_ONLY: "MRI only", REAL_PET: "Real PET"}
METRIC_LABELS = {"ssim": "SSIM", "ms_ssim": "MS-SSIM", "psnr": "PSNR (dB)", "mae": "MAE",
                 "accuracy": "Accuracy", "sensitivity": "Sensitivity",
                 "specificity": "Specificity", "f1": "F1", "mcc": "MCC", "auc": "AUC"}
DECIMALS = {"ssim": 4, "ms_ssim": 4, "psnr": 2, "mae": 4} | dict.fromkeys(
    CLASSIFICATION_METRICS, 3)
ABLATION_CLASSIFICATION = ("accuracy", "auc")
P_VALUE_NOTE = ("Cells: mean ± standard deviation. **Bold**: best row of the metric. "
                "(t p, W p): paired two-tailed t-test and Wilcoxon signed-rank p-values "
                "against the best row.")


@dataclass(frozen=True)
class Table:
    """One report table: its numbers and its Markdown rendering."""

    name: str
    data: pd.DataFrame
    markdown: str


def synthesis_quality_table(*, scores: pd.DataFrame, variants: Mapping[str, Mapping],
                            metric_spec: Mapping) -> Table:
    """Table I: image quality of the main variants and the mean-training-PET baseline.

    ``std`` is the standard deviation of the per-fold means (``subject_std``, over test
    subjects, is in the TSV too); tests pair test subjects. ``beats_mean_train_pet`` is
    true when a variant has both a lower mean MAE and a higher mean SSIM than the baseline.
    """
    names = [*group_members(variants=variants, group="main"), BASELINE]
    rows = _select(scores, column="variant", names=names, role="image-quality")
    data = _metric_columns(rows=rows, by="variant", names=names, metrics=IMAGE_METRICS,
                           pair_on=("participant_id",), std_from="fold_std",
                           higher_is_better=stats.HIGHER_IS_BETTER)
    data.insert(1, "label", [_label(name, variants) for name in names])
    data["beats_mean_train_pet"] = data["variant"].map(
        baseline_check(scores=rows).set_index("variant")["beats_mean_train_pet"])
    cells = _metric_cells(data=data, metrics=IMAGE_METRICS)
    cells.insert(0, "Method", data["label"])
    cells["Beats baseline (MAE and SSIM)"] = [
        "–" if name == BASELINE else ("yes" if beats else "**no**")
        for name, beats in zip(data["variant"], data["beats_mean_train_pet"], strict=True)]
    markdown = "\n".join([
        "# Table I: PET synthesis quality", "",
        _markdown_rows(cells), "",
        P_VALUE_NOTE + " Standard deviation over the per-fold means; tests pair test subjects.",
        "", "Metric spec:", "", *(f"- {line}" for line in metric_spec_lines(metric_spec)), ""])
    return Table(name=REPORT_TABLES["synthesis_quality"], data=data, markdown=markdown)


def baseline_check(*, scores: pd.DataFrame) -> pd.DataFrame:
    """Per variant of ``scores``: mean MAE, mean SSIM and ``beats_mean_train_pet`` (lower mean
    MAE *and* higher mean SSIM than the baseline; NaN for the baseline itself)."""
    if BASELINE not in set(scores["variant"]):
        raise ReportInputError(f"the image-quality results lack the {BASELINE} baseline; "
                               f"score it with `gla-model evaluate --variant {BASELINE}`.")
    means = scores.groupby("variant", sort=False)[["mae", "ssim"]].mean()
    baseline = means.loc[BASELINE]
    beats = ((means["mae"] < baseline["mae"]) & (means["ssim"] > baseline["ssim"])).astype(object)
    beats[BASELINE] = np.nan
    return pd.DataFrame({"variant": means.index, "mae_mean": means["mae"].to_numpy(),
                         "ssim_mean": means["ssim"].to_numpy(),
                         "beats_mean_train_pet": beats.to_numpy()})


def classification_table(*, results: pd.DataFrame, variants: Mapping[str, Mapping],
                         experiment: str) -> Table:
    """Table II (``paired``: MRI only, real PET, main variants) or III (``complete``: MRI only,
    main variants): mean ± std over folds x seeds; tests pair (seed, fold)."""
    fixed = [MRI_ONLY, REAL_PET] if experiment == PAIRED_EXPERIMENT else [MRI_ONLY]
    names = [*fixed, *group_members(variants=variants, group="main")]
    rows = _select(results, column="source", names=names, role=f"{experiment} classification")
    data = _metric_columns(rows=rows, by="source", names=names, metrics=CLASSIFICATION_METRICS,
                           pair_on=("seed", "fold"), std_from="std",
                           higher_is_better=dict.fromkeys(CLASSIFICATION_METRICS, True))
    data.insert(1, "label", [_label(name, variants) for name in names])
    cells = _metric_cells(data=data, metrics=CLASSIFICATION_METRICS)
    cells.insert(0, "Features", data["label"])
    number, title = (("II", "paired cohort (cross-validated)") if experiment == PAIRED_EXPERIMENT
                     else ("III", "cohort completed with synthetic PET"))
    n_runs = _runs(rows)
    markdown = "\n".join([
        f"# Table {number}: AD vs CN classification, {title}", "",
        _markdown_rows(cells), "",
        P_VALUE_NOTE + f" Over {n_runs} runs (folds x seeds); tests pair (seed, fold).", ""])
    name = REPORT_TABLES[f"classification_{experiment}"]
    return Table(name=name, data=data, markdown=markdown)


def ablation_table(*, scores: pd.DataFrame, paired: pd.DataFrame, complete: pd.DataFrame,
                   variants: Mapping[str, Mapping], group: str, reference: str | None) -> Table:
    """Image quality and classification (accuracy, AUC; paired and complete) of one ablation
    group next to the reference variant; best and p-values within this table's rows."""
    members = group_members(variants=variants, group=group)
    names = ([reference] if reference in variants and reference not in members else []) + members
    data = _metric_columns(
        rows=_select(scores, column="variant", names=names, role="image-quality"),
        by="variant", names=names, metrics=IMAGE_METRICS, pair_on=("participant_id",),
        std_from="fold_std", higher_is_better=stats.HIGHER_IS_BETTER)
    for experiment, results in ((PAIRED_EXPERIMENT, paired), (COMPLETE_EXPERIMENT, complete)):
        part = _metric_columns(
            rows=_select(results, column="source", names=names,
                         role=f"{experiment} classification").rename(columns={"source": "variant"}),
            by="variant", names=names, metrics=ABLATION_CLASSIFICATION,
            pair_on=("seed", "fold"), std_from="std",
            higher_is_better=dict.fromkeys(ABLATION_CLASSIFICATION, True))
        part = part.drop(columns="n").add_prefix(f"{experiment}_").rename(
            columns={f"{experiment}_variant": "variant"})
        data = data.merge(part, on="variant", how="left", validate="one_to_one")
    data.insert(1, "label", [_label(name, variants) for name in names])
    cells = _metric_cells(data=data, metrics=IMAGE_METRICS)
    for experiment in EXPERIMENTS:
        renamed = data.rename(columns=lambda c, e=experiment: c.removeprefix(f"{e}_"))
        part = _metric_cells(data=renamed, metrics=ABLATION_CLASSIFICATION)
        cells[[f"{c} ({experiment})" for c in part.columns]] = part.to_numpy()
    cells.insert(0, "Variant", data["label"])
    title = group.removeprefix("ablation_").replace("_", " ")
    markdown = "\n".join([
        f"# Ablation: {title}", "", _markdown_rows(cells), "",
        P_VALUE_NOTE + " Image quality: SD over per-fold means, tests pair test subjects. "
        "Classification: SD over folds x seeds, tests pair (seed, fold).", ""])
    return Table(name=ablation_name(group), data=data,
                 markdown=markdown)


def qc_table(*, qc: pd.DataFrame) -> Table:
    """QC summary: one row per QC measure (n, mean, std, min, median, max) and per flag
    column (boolean, or named ``*flag*``: how many subjects and which are flagged)."""
    records = []
    for column in qc.columns.drop("participant_id"):
        values = qc[column]
        if _is_flag(values, name=column):
            flagged = qc.loc[values.astype(bool), "participant_id"].tolist()
            records.append({"measure": column, "kind": "flag", "n": int(values.notna().sum()),
                            "n_flagged": len(flagged), "flagged": ", ".join(flagged)})
        elif pd.api.types.is_numeric_dtype(values):
            numbers = values.dropna().astype(float)
            records.append({"measure": column, "kind": "value", "n": len(numbers),
                            "mean": numbers.mean(), "std": numbers.std(ddof=1),
                            "min": numbers.min(), "median": numbers.median(),
                            "max": numbers.max()})
    data = pd.DataFrame(records, columns=["measure", "kind", "n", "mean", "std", "min",
                                          "median", "max", "n_flagged", "flagged"])
    cells = pd.DataFrame({
        "Measure": data["measure"], "n": data["n"].astype(int),
        "Mean ± SD": [_mean_std(m, s, 4) if k == "value" else "–"
                      for m, s, k in zip(data["mean"], data["std"], data["kind"], strict=True)],
        "Min / median / max": [
            f"{lo:.4g} / {mid:.4g} / {hi:.4g}" if k == "value" else "–"
            for lo, mid, hi, k in zip(data["min"], data["median"], data["max"], data["kind"],
                                      strict=True)],
        "Flagged": [f"{int(n)}: {ids}" if k == "flag" and n else ("0" if k == "flag" else "–")
                    for n, ids, k in zip(data["n_flagged"], data["flagged"], data["kind"],
                                         strict=True)]})
    markdown = "\n".join([f"# Preprocessing QC ({len(qc)} subjects)", "",
                          _markdown_rows(cells), ""])
    return Table(name=REPORT_TABLES["qc"], data=data, markdown=markdown)


def write_table_files(*, table: Table, report_dir: Path) -> list[Path]:
    """Write the table's ``tables/<name>.tsv`` and ``.md`` under ``report_dir`` atomically."""
    tsv, markdown = report_table_paths(report_dir=report_dir, stem=table.name)
    return [write_table(table.data, tsv), write_text_atomic(table.markdown, markdown)]


def metric_spec_lines(spec: Mapping, *, prefix: str = "") -> list[str]:
    """``key: value`` lines of a (nested) metric spec, nested keys joined with dots."""
    lines = []
    for key, value in spec.items():
        if isinstance(value, Mapping):
            lines.extend(metric_spec_lines(value, prefix=f"{prefix}{key}."))
        else:
            lines.append(f"{prefix}{key}: {value}")
    return lines


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame``'s cells as text."""
    return _markdown_rows(frame.astype(str))


def format_p(value: float) -> str:
    """A p-value as text: ``p<0.001``, ``p=`` three decimals, or ``–`` when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def _metric_columns(*, rows: pd.DataFrame, by: str, names: Sequence[str],
                    metrics: Sequence[str], pair_on: Sequence[str], std_from: str,
                    higher_is_better: Mapping[str, bool]) -> pd.DataFrame:
    summary = stats.summarize(rows=rows, metrics=metrics, by=by, fold="fold")
    tests = stats.compare_to_best(rows=rows, metrics=metrics, by=by, pair_on=pair_on,
                                  higher_is_better=dict(higher_is_better))
    data = pd.DataFrame({by: list(names)})
    n = summary.drop_duplicates(by).set_index(by)["n"]
    data["n"] = data[by].map(n).astype(int)
    for metric in metrics:
        part = summary.loc[summary["metric"] == metric].set_index(by)
        test = tests.loc[tests["metric"] == metric].set_index(by)
        data[f"{metric}_mean"] = data[by].map(part["mean"])
        data[f"{metric}_std"] = data[by].map(part[std_from])
        if std_from != "std":
            data[f"{metric}_subject_std"] = data[by].map(part["std"])
        data[f"{metric}_best"] = data[by] == test["best"].iloc[0]
        data[f"{metric}_t_pvalue"] = data[by].map(test["t_pvalue"])
        data[f"{metric}_wilcoxon_pvalue"] = data[by].map(test["wilcoxon_pvalue"])
    return data


def _metric_cells(*, data: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    columns = {}
    for metric in metrics:
        cells = []
        for _, row in data.iterrows():
            text = _mean_std(row[f"{metric}_mean"], row[f"{metric}_std"], DECIMALS[metric])
            if row[f"{metric}_best"]:
                text = f"**{text}**"
            else:
                text += (f" (t {format_p(row[f'{metric}_t_pvalue'])}, "
                         f"W {format_p(row[f'{metric}_wilcoxon_pvalue'])})")
            cells.append(text)
        columns[METRIC_LABELS[metric]] = cells
    return pd.DataFrame(columns)


def _mean_std(mean: float, std: float, decimals: int) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.{decimals}f}" + ("" if pd.isna(std) else f" ± {std:.{decimals}f}")


def _markdown_rows(cells: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, cells.columns)) + " |"
    rule = "|" + "|".join("---" for _ in cells.columns) + "|"
    body = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
            for row in cells.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _select(rows: pd.DataFrame, *, column: str, names: Sequence[str], role: str
            ) -> pd.DataFrame:
    missing = [name for name in names if name not in set(rows[column])]
    if missing:
        raise ReportInputError(f"the {role} results have no rows for {missing}; run that "
                               "stage for them or drop them from the reported variants.")
    return rows.loc[rows[column].isin(names)]


def _label(name: str, variants: Mapping[str, Mapping]) -> str:
    if name in variants:
        return str(variants[name]["label"])
    return SOURCE_LABELS.get(name, BASELINE_LABEL if name == BASELINE else name)


def _runs(rows: pd.DataFrame) -> int:
    return int(rows.groupby("source").size().max())


def _is_flag(values: pd.Series, *, name: str) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return True
    return "flag" in name.lower() and set(values.dropna().unique()) <= {0, 1}
