"""Tables I-III, the other classification tasks' tables and the ablation tables, as numbers
(TSV) and Markdown (the QC summary is in :mod:`gla_model.report.qc`).

Statistics come from ``gla_model.evaluate.stats``; this module only arranges and formats
them. Every table has one numeric TSV (``<metric>_mean``, ``_std``, ``_best``,
``_t_pvalue``, ``_wilcoxon_pvalue`` per metric) and a Markdown rendering in which each
cell reads ``mean ± std``, the best row of a metric is bold, and every other row carries
the paired two-tailed t-test and Wilcoxon p-values against that best row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gla_model.classify.tasks import task_metrics
from gla_model.evaluate import stats
from gla_model.layout.report import (
    REPORT_TABLES,
    ablation_name,
    classification_table_name,
    group_members,
    report_table_paths,
)
from gla_model.niftiio import write_text_atomic
from gla_model.report.inputs import (
    CLASSIFICATION_METRICS,
    IMAGE_METRICS,
    ReportInputError,
)
from gla_model.report.markdown import (
    format_p,
    markdown_rows,
    markdown_to_html,
    mean_std,
    metric_spec_lines,
)
from gla_model.report.tasks import MULTICLASS_LABELS, task_title, trusted_label, trusted_note
from gla_model.tsvio import write_table
from gla_model.vocabulary import (
    COMPLETE_EXPERIMENT,
    EXPERIMENTS,
    MEAN_IMPUTED_PET,
    MRI_FEATURES,
    PAIRED_EXPERIMENT,
    PAPER_TASK,
    REAL_PET,
    TRUSTED_SYNTH_PET,
    experiment_sources,
)
from gla_model.vocabulary import MEAN_TRAIN_PET as BASELINE

BASELINE_LABEL = "Mean training PET (baseline)"
SOURCE_LABELS = {MRI_FEATURES: "MRI only", REAL_PET: "Real PET",
                 MEAN_IMPUTED_PET: "MRI + mean-imputed PET (control)"}
METRIC_LABELS = {"ssim": "SSIM", "ms_ssim": "MS-SSIM", "psnr": "PSNR (dB)", "mae": "MAE",
                 "accuracy": "Accuracy", "sensitivity": "Sensitivity",
                 "specificity": "Specificity", "f1": "F1", "mcc": "MCC", "auc": "AUC",
                 **MULTICLASS_LABELS}
DECIMALS = {"ssim": 4, "ms_ssim": 4, "psnr": 2, "mae": 4} | dict.fromkeys(
    [*CLASSIFICATION_METRICS, *MULTICLASS_LABELS], 3)
#: Where a metric can lie; t intervals are clipped to it (a bounded mean's interval ends there).
METRIC_RANGES = {"ssim": (-1.0, 1.0), "ms_ssim": (-1.0, 1.0), "mae": (0.0, np.inf),
                 "mcc": (-1.0, 1.0)} | dict.fromkeys(
    ("accuracy", "sensitivity", "specificity", "f1", "auc", *MULTICLASS_LABELS), (0.0, 1.0))
CELL_NOTE = ("Cells: mean ± SD [95 % CI]. **Bold**: best row of the metric. p-values compare "
             "each row with the best row of its metric and are Holm-corrected over the rows "
             "of that metric in this table.")
#: How each kind of result is summarized and tested: the units, the test, the interval.
IMAGE_UNITS = ("the test subjects (each once, in its test fold)",
               "t: paired two-tailed t-test, W: Wilcoxon signed-rank test, over the subjects",
               "percentile bootstrap over subjects (2,000 resamples)")
PAIRED_UNITS = ("the outer folds (the seeds, which only reshuffle the inner CV, averaged per "
                "fold first)", "t: paired two-tailed t-test over the outer folds",
                "Student-t interval over the folds, clipped to the metric's range")
COMPLETE_UNITS = ("the repeats x folds of the repeated outer CV",
                  "t: corrected resampled t-test (Nadeau & Bengio 2003) over repeats x folds",
                  "Student-t interval with the Nadeau-Bengio variance correction, clipped to "
                  "the metric's range")


@dataclass(frozen=True)
class Table:
    """One report table: its numbers and its Markdown rendering."""

    name: str
    data: pd.DataFrame
    markdown: str


def synthesis_quality_table(*, scores: pd.DataFrame, variants: Mapping[str, Mapping],
                            metric_spec: Mapping) -> Table:
    """Table I: image quality of the main variants and the mean-training-PET baseline, over
    test subjects. ``beats_mean_train_pet`` is true when a variant has both a lower mean
    MAE and a higher mean SSIM than the baseline."""
    names = [*group_members(variants=variants, group="main"), BASELINE]
    rows = _select(scores, column="variant", names=names, role="image-quality")
    data = _metric_columns(rows=rows, by="variant", names=names, metrics=IMAGE_METRICS,
                           units=image_units(), higher_is_better=stats.HIGHER_IS_BETTER)
    data.insert(1, "label", [_label(name, variants) for name in names])
    data["beats_mean_train_pet"] = data["variant"].map(
        baseline_check(scores=rows).set_index("variant")["beats_mean_train_pet"])
    cells = _metric_cells(data=data, metrics=IMAGE_METRICS)
    cells.insert(0, "Method", data["label"])
    cells.insert(1, "n", data["n"])
    cells["Beats baseline (MAE and SSIM)"] = [
        "–" if name == BASELINE else ("yes" if beats else "**no**")
        for name, beats in zip(data["variant"], data["beats_mean_train_pet"], strict=True)]
    markdown = "\n".join([
        "# Table I: PET synthesis quality", "",
        markdown_rows(cells), "",
        _statistics_note(IMAGE_UNITS, n=int(data["n"].max())),
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


def classification_units(*, results: pd.DataFrame, experiment: str,
                         metrics: Sequence[str] = CLASSIFICATION_METRICS) -> Units:
    """The rows a classification table's statistics use and how they are tested: the
    paired CV's seeds averaged per outer fold (a paired t-test over folds); the repeated
    CV of the completed cohort as it is (the corrected resampled t-test)."""
    if experiment == PAIRED_EXPERIMENT:
        return Units(rows=stats.fold_means(rows=results, metrics=metrics),
                     test="folds", pair_on=("fold",), interval="t", text=PAIRED_UNITS)
    return Units(rows=results, test="repeated_cv", pair_on=("seed", "fold"),
                 interval="corrected_t", text=COMPLETE_UNITS)


def image_units() -> Units:
    return Units(rows=None, test="subjects", pair_on=("participant_id",),
                 interval="bootstrap", text=IMAGE_UNITS)


def classification_table(*, results: pd.DataFrame, variants: Mapping[str, Mapping],
                         experiment: str, task: str, reference: str) -> Table:
    """One task's table of one experiment, summarized and tested as
    :func:`classification_units` says: ``paired`` (MRI only, real PET, main variants) or
    ``complete`` (MRI only, mean-imputed PET, main variants, and the ``reference``
    variant with its uncertain completions left to MRI features). The paper's task gives
    Tables II and III; a multi-class task has its own metrics (:func:`.tasks.task_metrics`).
    """
    names = experiment_sources(experiment=experiment,
                               variants=group_members(variants=variants, group="main"))
    rows = _select(results, column="source", names=names, role=f"{experiment} classification")
    metrics = task_metrics(task)
    units = classification_units(results=rows, experiment=experiment, metrics=metrics)
    data = _metric_columns(rows=units.rows, by="source", names=names, metrics=metrics,
                           units=units, higher_is_better=dict.fromkeys(metrics, True))
    labels = {name: _label(name, variants) for name in names} | {
        TRUSTED_SYNTH_PET: trusted_label(variants=variants, reference=reference)}
    data.insert(1, "label", [labels[name] for name in names])
    notes = [_statistics_note(units.text, n=int(data["n"].max()))]
    if TRUSTED_SYNTH_PET in names:
        trusted_rows = rows.loc[rows["source"] == TRUSTED_SYNTH_PET]
        for column in ("threshold", "n_untrusted_test", "n_mri_only_test"):
            data[f"{column}_mean"] = data["source"].map(
                {TRUSTED_SYNTH_PET: trusted_rows[column].mean()})
        notes.append(trusted_note(rows=trusted_rows, label=labels[TRUSTED_SYNTH_PET]))
    cells = _metric_cells(data=data, metrics=metrics)
    cells.insert(0, "Features", data["label"])
    title = ("paired cohort (cross-validated)" if experiment == PAIRED_EXPERIMENT
             else "cohort completed with synthetic PET")
    heading = (f"Table {'II' if experiment == PAIRED_EXPERIMENT else 'III'}: "
               if task == PAPER_TASK else "")
    markdown = "\n".join([
        f"# {heading}{task_title(task)} classification, {title}", "",
        markdown_rows(cells), "", *(f"{note}\n" for note in notes)])
    return Table(name=classification_table_name(task=task, experiment=experiment), data=data,
                 markdown=markdown)


COMPLETED_UNITS = ("the MRI-only subjects, each scored once per seed by the fold that held "
                   "it out (accuracy: fraction of seeds correct per subject)",
                   "t: paired two-tailed t-test, W: Wilcoxon signed-rank test, over the "
                   "subjects", "percentile bootstrap over subjects (2,000 resamples)")


def completed_subjects_table(*, predictions: pd.DataFrame, mri_only_ids: Sequence[str],
                             variants: Mapping[str, Mapping], reference: str) -> Table:
    """Table III on the completed (MRI-only) subjects alone: does synthetic PET beat MRI
    features only and naive mean imputation on the subjects that had no PET?

    ``predictions``: the complete experiment's per-subject predictions of every source
    (columns source, participant_id, seed, y_true, y_pred, score), the trusted source's
    included (its row: the ``reference`` variant, uncertain completions scored from MRI).
    Accuracy is tested over subjects (per-subject accuracy across seeds); sensitivity,
    specificity and AUC are the mean over seeds of each seed's pooled out-of-fold
    predictions (descriptive).
    """
    names = experiment_sources(experiment=COMPLETE_EXPERIMENT,
                               variants=group_members(variants=variants, group="main"))
    rows = _select(predictions, column="source", names=names, role="complete predictions")
    rows = rows.loc[rows["participant_id"].isin(set(mri_only_ids))]
    if rows.empty:
        raise ReportInputError("the complete experiment's predictions hold no MRI-only "
                               "subject; the cohort has none to complete.")
    correct = rows.assign(accuracy=(rows["y_true"] == rows["y_pred"]).astype(float))
    per_subject = correct.groupby(["source", "participant_id"], as_index=False)["accuracy"].mean()
    data = _metric_columns(rows=per_subject, by="source", names=names, metrics=("accuracy",),
                           units=image_units(), higher_is_better={"accuracy": True})
    descriptive = rows.groupby(["source", "seed"]).apply(
        lambda part: pd.Series(_pooled_metrics(part)), include_groups=False)
    for metric in ("sensitivity", "specificity", "auc"):
        data[f"{metric}_seed_mean"] = data["source"].map(
            descriptive[metric].groupby("source").mean())
    data.insert(1, "label", [trusted_label(variants=variants, reference=reference)
                             if name == TRUSTED_SYNTH_PET else _label(name, variants)
                             for name in names])
    cells = _metric_cells(data=data, metrics=("accuracy",))
    for metric in ("sensitivity", "specificity", "auc"):
        cells[METRIC_LABELS[metric]] = [f"{v:.3f}" if not pd.isna(v) else "–"
                                        for v in data[f"{metric}_seed_mean"]]
    cells.insert(0, "Features", data["label"])
    n = int(data["n"].max())
    markdown = "\n".join([
        "# Table III (completed subjects): the MRI-only subjects alone", "",
        markdown_rows(cells), "",
        _statistics_note(COMPLETED_UNITS, n=n, what="Accuracy")
        + " Sensitivity, specificity and AUC: mean over seeds of each seed's pooled "
        "out-of-fold predictions of these subjects (no test).", ""])
    return Table(name=REPORT_TABLES["classification_completed_subjects"], data=data,
                 markdown=markdown)


def _pooled_metrics(part: pd.DataFrame) -> dict[str, float]:
    from gla_model.classify.metrics import classification_metrics

    return classification_metrics(y_true=part["y_true"].to_numpy(),
                                  y_pred=part["y_pred"].to_numpy(),
                                  score=part["score"].to_numpy())


def ablation_table(*, scores: pd.DataFrame, paired: pd.DataFrame, complete: pd.DataFrame,
                   variants: Mapping[str, Mapping], group: str, reference: str | None) -> Table:
    """Image quality and the six classification metrics (paired and complete) of one
    ablation group next to the reference variant; best and p-values within this table's
    rows, each kind of result summarized and tested as in Tables I-III."""
    members = group_members(variants=variants, group=group)
    names = ([reference] if reference in variants and reference not in members else []) + members
    data = _metric_columns(
        rows=_select(scores, column="variant", names=names, role="image-quality"),
        by="variant", names=names, metrics=IMAGE_METRICS, units=image_units(),
        higher_is_better=stats.HIGHER_IS_BETTER)
    notes = [_statistics_note(IMAGE_UNITS, n=int(data["n"].max()), what="Image quality")]
    for experiment, results in ((PAIRED_EXPERIMENT, paired), (COMPLETE_EXPERIMENT, complete)):
        selected = _select(results, column="source", names=names,
                           role=f"{experiment} classification")
        units = classification_units(results=selected, experiment=experiment)
        part = _metric_columns(
            rows=units.rows.rename(columns={"source": "variant"}), by="variant", names=names,
            metrics=CLASSIFICATION_METRICS, units=units,
            higher_is_better=dict.fromkeys(CLASSIFICATION_METRICS, True))
        notes.append(_statistics_note(units.text, n=int(part["n"].max()),
                                      what=f"Classification ({experiment})"))
        part = part.drop(columns="n").add_prefix(f"{experiment}_").rename(
            columns={f"{experiment}_variant": "variant"})
        data = data.merge(part, on="variant", how="left", validate="one_to_one")
    data.insert(1, "label", [_label(name, variants) for name in names])
    cells = _metric_cells(data=data, metrics=IMAGE_METRICS)
    for experiment in EXPERIMENTS:
        renamed = data.rename(columns=lambda c, e=experiment: c.removeprefix(f"{e}_"))
        part = _metric_cells(data=renamed, metrics=CLASSIFICATION_METRICS)
        cells[[f"{c} ({experiment})" for c in part.columns]] = part.to_numpy()
    cells.insert(0, "Variant", data["label"])
    title = group.removeprefix("ablation_").replace("_", " ")
    markdown = "\n".join([f"# Ablation: {title}", "", markdown_rows(cells), "",
                          CELL_NOTE, "", *(f"- {note}" for note in notes), ""])
    return Table(name=ablation_name(group), data=data, markdown=markdown)


def write_table_files(*, table: Table, report_dir: Path) -> list[Path]:
    """Write the table's ``tables/<name>.tsv``, ``.md`` and ``.html`` under ``report_dir``
    atomically."""
    tsv, markdown, page = report_table_paths(report_dir=report_dir, stem=table.name)
    return [write_table(table.data, tsv), write_text_atomic(table.markdown, markdown),
            write_text_atomic(markdown_to_html(table.markdown, title=table.name), page)]


@dataclass(frozen=True)
class Units:
    """What one kind of result is summarized over and how it is tested."""

    rows: pd.DataFrame | None
    test: str  # a key of stats.TESTS
    pair_on: tuple[str, ...]
    interval: str  # bootstrap | t | corrected_t
    text: tuple[str, str, str]  # units, test, interval, in words


def _metric_columns(*, rows: pd.DataFrame, by: str, names: Sequence[str],
                    metrics: Sequence[str], units: Units,
                    higher_is_better: Mapping[str, bool]) -> pd.DataFrame:
    tests = stats.compare_to_best(rows=rows, metrics=metrics, by=by, pair_on=units.pair_on,
                                  higher_is_better=dict(higher_is_better), test=units.test)
    data = pd.DataFrame({by: list(names)})
    groups = {name: part for name, part in rows.groupby(by)}
    data["n"] = [len(groups[name]) for name in names]
    for metric in metrics:
        test = tests.loc[tests["metric"] == metric].set_index(by)
        values = {name: groups[name][metric].to_numpy(dtype=float) for name in names}
        data[f"{metric}_mean"] = [values[name].mean() for name in names]
        data[f"{metric}_std"] = [np.std(values[name], ddof=1) if len(values[name]) > 1
                                 else np.nan for name in names]
        low_bound, high_bound = METRIC_RANGES.get(metric, (-np.inf, np.inf))
        intervals = [tuple(np.clip(_interval(values=values[name], part=groups[name],
                                             units=units), low_bound, high_bound))
                     for name in names]
        data[f"{metric}_ci_low"] = [low for low, _ in intervals]
        data[f"{metric}_ci_high"] = [high for _, high in intervals]
        data[f"{metric}_best"] = data[by] == test["best"].iloc[0]
        for column in ("t_pvalue", "t_pvalue_holm", "wilcoxon_pvalue", "wilcoxon_pvalue_holm"):
            data[f"{metric}_{column}"] = data[by].map(test[column])
    return data


def _interval(*, values: np.ndarray, part: pd.DataFrame, units: Units) -> tuple[float, float]:
    if units.interval == "bootstrap":
        return stats.bootstrap_ci(values=values)
    inflation = (float((part["n_test"] / part["n_train"]).mean())
                 if units.interval == "corrected_t" else 0.0)
    return stats.t_interval(values=values, inflation=inflation)


def _statistics_note(text: tuple[str, str, str], *, n: int, what: str = "") -> str:
    units, test, interval = text
    lead = f"{what}: " if what else CELL_NOTE + " "
    return (f"{lead}mean and SD over {units} (n = {n} per row); 95 % CI: {interval}; "
            f"{test}; Holm correction over the rows of each metric.")


def _metric_cells(*, data: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    columns = {}
    for metric in metrics:
        cells = []
        for _, row in data.iterrows():
            decimals = DECIMALS[metric]
            text = mean_std(row[f"{metric}_mean"], row[f"{metric}_std"], decimals)
            if not pd.isna(row[f"{metric}_ci_low"]):
                text += (f" [{row[f'{metric}_ci_low']:.{decimals}f}, "
                         f"{row[f'{metric}_ci_high']:.{decimals}f}]")
            if row[f"{metric}_best"]:
                text = f"**{text}**"
            else:
                tests = [f"t {format_p(row[f'{metric}_t_pvalue_holm'])}"]
                if not pd.isna(row[f"{metric}_wilcoxon_pvalue_holm"]):
                    tests.append(f"W {format_p(row[f'{metric}_wilcoxon_pvalue_holm'])}")
                text += f" ({', '.join(tests)})"
            cells.append(text)
        columns[METRIC_LABELS[metric]] = cells
    return pd.DataFrame(columns)


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
