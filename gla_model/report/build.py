"""``gla-model report``: write the run's tables, figures, interpolation figure and summary.

``--what`` picks the parts (one Snakemake rule each); every part reads only the inputs it
names and writes its files atomically under ``--out-dir``:

* ``tables``: ``tables/{table1_synthesis_quality, table2_classification_paired,
  table3_classification_complete, qc_summary}.{tsv,md}`` (Tables II and III: the paper's
  AD vs CN), ``tables/classification_<task>_{paired,complete}`` for every other task of
  ``--tasks``, and ``tables/ablation_<architecture|losses|patches>.{tsv,md}`` for each
  ablation group with a reported variant.
* ``figures``: ``figures/ablation_<...>.png`` (same groups), ``figures/qualitative_main_{AD,CN}
  .png`` and, when the architecture group is reported, ``figures/qualitative_architecture_
  {AD,CN}.png``, ``figures/training_curves.png``, and ``figures/confusion_<task>.png`` for
  a multi-class task of ``--tasks``.
* ``interpolation``: ``figures/interpolation.png`` and ``tables/interpolation.tsv``.
* ``complexity``: ``tables/model_complexity.{tsv,md}`` (parameters and generator GFLOPs per
  volume of every reported variant, from the settings alone).
* ``units``: ``figures/units.png`` and ``tables/units.tsv`` (Fig 10, the global path's units
  per AAL region; GLA-GAN generators with a global path only).
* ``uncertainty``: ``tables/uncertainty_{calibration,mri_only}.{tsv,md}`` and
  ``figures/uncertainty_reliability.png`` (every reported variant; see
  :mod:`gla_model.report.uncertainty`).
* ``summary``: ``summary.md``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from gla_model import folds as folds_module
from gla_model import layout
from gla_model.classify.tasks import is_binary
from gla_model.cohort.table import cohort_frame, read_cohort_table, read_exclusions
from gla_model.errors import ConfigError
from gla_model.folds import read_folds
from gla_model.layout import report as report_layout
from gla_model.layout.report import REPORT_PARTS as PARTS
from gla_model.layout.report import group_members
from gla_model.niftiio import load_image, write_text_atomic
from gla_model.report import classification, figures, inputs, qc, tables
from gla_model.report.markdown import markdown_to_html
from gla_model.report.summary import SummaryInputs, summary_markdown
from gla_model.settings import as_mapping, build_settings, job_value, read_job_settings
from gla_model.tsvio import read_table, write_table
from gla_model.vocabulary import (
    CLASSIFICATION_TASKS,
    COMPLETE_EXPERIMENT,
    PAIRED_EXPERIMENT,
    PAPER_TASK,
    QUALITATIVE_GROUPS,
    VARIANT_GROUPS,
)

LOG = logging.getLogger(__name__)

#: Arguments each part needs (attribute names of the parsed arguments).
REQUIRED = {
    "tables": ("image_quality_dir", "metric_spec", "classify_dir", "qc", "cohort", "tasks"),
    "figures": ("image_quality_dir", "classify_dir", "train_dir", "synth_dir", "preproc_dir",
                "folds", "tasks"),
    "interpolation": ("checkpoint", "preproc_dir", "atlas", "folds", "features_real"),
    "summary": ("image_quality_dir", "metric_spec", "classify_dir", "qc", "cohort", "folds",
                "failures_dir", "tasks"),
    "complexity": (),
    "units": ("checkpoint", "preproc_dir", "atlas", "atlas_labels", "folds"),
    "uncertainty": ("uncertainty_dir",),
}


def build_tables(*, args: argparse.Namespace, variants: Mapping[str, Mapping]
                 ) -> list[tables.Table]:
    """Every table of the report, from the evaluation outputs."""
    scores, paired, complete = _results(args=args, variants=variants)
    spec = inputs.read_metric_spec(args.metric_spec)
    qc_rows = read_table(args.qc, columns=("participant_id",), role="QC")
    built = [tables.synthesis_quality_table(scores=scores, variants=variants, metric_spec=spec),
             *classification.task_tables(args=args, variants=variants, task=PAPER_TASK,
                          results={PAIRED_EXPERIMENT: paired, COMPLETE_EXPERIMENT: complete}),
             classification.completed_subjects(args=args, variants=variants),
             qc.qc_table(qc=qc_rows)]
    for task in classification.other_tasks(args):
        built += classification.task_tables(
            args=args, variants=variants, task=task,
            results=classification.task_results(args=args, variants=variants, task=task))
    for group in VARIANT_GROUPS[1:]:
        if group_members(variants=variants, group=group):
            built.append(tables.ablation_table(scores=scores, paired=paired, complete=complete,
                                               variants=variants, group=group,
                                               reference=args.reference))
    return built


def write_figures(*, args: argparse.Namespace, variants: Mapping[str, Mapping]) -> list[Path]:
    """Ablation bars, qualitative slices and training curves."""
    scores, paired, complete = _results(args=args, variants=variants)
    written = []
    for group in VARIANT_GROUPS[1:]:
        if not group_members(variants=variants, group=group):
            continue
        table = tables.ablation_table(scores=scores, paired=paired, complete=complete,
                                      variants=variants, group=group, reference=args.reference)
        title = f"Ablation: {group.removeprefix('ablation_')} (reference {args.reference})"
        written.append(figures.save_figure(
            figure=figures.ablation_figure(table=table.data, title=title),
            path=report_layout.report_figure_path(report_dir=args.out_dir, stem=table.name)))
    folds = read_folds(args.folds)
    for group in QUALITATIVE_GROUPS:
        if not group_members(variants=variants, group=group):
            continue
        names = _with_reference(group=group, variants=variants, reference=args.reference)
        for diagnosis in ("AD", "CN"):
            path = report_layout.report_figure_path(
                report_dir=args.out_dir,
                stem=report_layout.qualitative_name(group=group, diagnosis=diagnosis))
            written.append(_qualitative(args=args, folds=folds, names=names, variants=variants,
                                        diagnosis=diagnosis, path=path))
    fold_numbers = folds_module.fold_numbers(folds=folds)
    histories = {spec["label"]: inputs.read_history(train_dir=args.train_dir, variant=name,
                                                    folds=fold_numbers)
                 for name, spec in variants.items()}
    written.append(figures.save_figure(figure=figures.training_curves_figure(
        histories=histories), path=report_layout.report_figure_path(report_dir=args.out_dir,
                                                             stem=report_layout.TRAINING_CURVES)))
    written += [classification.confusion(args=args, variants=variants, task=task)
                for task in classification.other_tasks(args) if not is_binary(task)]
    return written


def write_interpolation(*, args: argparse.Namespace, payload: Mapping) -> list[Path]:
    """Fig 11 and its P(CN) table, with the fold's generator from ``--checkpoint``."""
    from gla_model.features import read_features
    from gla_model.report.interpolation import run_interpolation

    classification = job_value(payload, "classification")
    report = job_value(payload, "report")
    result = run_interpolation(
        preproc_dir=args.preproc_dir, atlas=args.atlas, folds=read_folds(args.folds),
        fold=report.interpolation_fold, features_real=read_features(args.features_real),
        svm_config=classification.svm, seed=classification.seeds[0],
        steps=report.interpolation_steps, synthesize=_synthesizer(checkpoint=args.checkpoint),
        mri_features=job_value(payload, "features.mri"))
    voxel_size = _voxel_size(layout.preprocessed_path(
        preproc_dir=args.preproc_dir, participant_id=result.participants["CN"], field="pet"))
    figure = figures.interpolation_figure(
        real={d: {"mri": v.mri, "pet": v.pet} for d, v in result.real.items()},
        interpolated=[{"mri": s.mri, "pet": s.pet} for s in result.steps],
        alphas=result.alphas, p_cn_real=result.p_cn_real, p_cn_steps=result.p_cn_steps,
        voxel_size=voxel_size)
    figure_path, table_path = report_layout.report_outputs(report_dir=args.out_dir,
                                                    part="interpolation", variants={})
    return [figures.save_figure(figure=figure, path=figure_path),
            write_table(result.table(), table_path)]


def write_complexity(*, args: argparse.Namespace, payload: Mapping) -> list[Path]:
    """``tables/model_complexity.{tsv,md}``: parameters and generator GFLOPs per volume of
    every reported variant, built from ``models`` at ``preprocessing.grid`` (no checkpoint)."""
    from gla_model.nets.complexity import complexity_markdown, complexity_rows

    rows = complexity_rows(variants=job_value(payload, "models").enabled_variants,
                           grid=job_value(payload, "preprocessing.grid"))
    table = tables.Table(name=report_layout.REPORT_TABLES["complexity"], data=pd.DataFrame(rows),
                         markdown=complexity_markdown(rows=rows))
    return tables.write_table_files(table=table, report_dir=args.out_dir)


def write_units(*, args: argparse.Namespace, payload: Mapping) -> list[Path]:
    """Fig 10 and ``tables/units.tsv`` for the test subjects of ``report.interpolation_fold``,
    with that fold's generator from ``--checkpoint`` (see :mod:`gla_model.report.units`)."""
    from gla_model.report import units

    synthesize = _synthesizer(checkpoint=args.checkpoint)
    record = synthesize.record
    study = units.study_units(
        synthesize=synthesize, generator=synthesize.generator,
        trained=[*record["training_subjects"], *record["validation_subjects"]],
        preproc_dir=args.preproc_dir, atlas=args.atlas, atlas_labels=args.atlas_labels,
        folds=read_folds(args.folds), fold=job_value(payload, "report.interpolation_fold"))
    table = units.unit_table(study=study, units=units.select_units(profile=study.profile()))
    voxel_size = _voxel_size(layout.preprocessed_path(
        preproc_dir=args.preproc_dir, participant_id=study.participants[0], field="t1w"))
    figure_path, table_path = report_layout.report_outputs(report_dir=args.out_dir, part="units",
                                                    variants={})
    return [figures.save_figure(figure=units.units_figure(study=study, table=table,
                                                          voxel_size=voxel_size),
                                path=figure_path),
            write_table(table, table_path)]


def write_uncertainty(*, args: argparse.Namespace, variants: Mapping[str, Mapping]
                      ) -> list[Path]:
    """The calibration and MRI-only uncertainty tables and the reliability figure of every
    reported variant (:mod:`gla_model.report.uncertainty`)."""
    from gla_model.report import uncertainty

    results = uncertainty.read_uncertainty(uncertainty_dir=args.uncertainty_dir,
                                           variants=variants)
    written = [path for table in (uncertainty.calibration_report(results=results,
                                                                 variants=variants),
                                  uncertainty.mri_only_report(results=results,
                                                              variants=variants))
               for path in tables.write_table_files(table=table, report_dir=args.out_dir)]
    figure = uncertainty.reliability_figure(results=results, variants=variants)
    return [*written, figures.save_figure(figure=figure, path=report_layout.report_figure_path(
        report_dir=args.out_dir, stem=report_layout.RELIABILITY_FIGURE))]


def write_summary(*, args: argparse.Namespace, variants: Mapping[str, Mapping],
                  payload: Mapping) -> Path:
    """``summary.md`` from the same inputs as the tables plus cohort, folds and settings."""
    scores, paired, complete = _results(args=args, variants=variants)
    summary = SummaryInputs(
        config=as_mapping(build_settings(config=payload)),
        variants=variants, reference=args.reference,
        cohort=cohort_frame(read_cohort_table(path=args.cohort)),
        folds=read_folds(args.folds),
        metric_spec=inputs.read_metric_spec(args.metric_spec),
        scores=scores, paired=paired, complete=complete,
        tables=build_tables(args=args, variants=variants),
        failures=inputs.read_failures(directory=args.failures_dir),
        excluded=read_exclusions(cohort_table=args.cohort),
        uncertainty=_uncertainty_statements(report_dir=args.out_dir))
    text = summary_markdown(inputs=summary)
    markdown, page = report_layout.report_outputs(report_dir=args.out_dir, part="summary",
                                           variants=variants)
    write_text_atomic(markdown_to_html(text, title="GLA-GAN run summary"), page)
    return write_text_atomic(text, markdown)


def _uncertainty_statements(*, report_dir: Path) -> list[str]:
    """The uncertainty part's plain statements, from its tables as written (none when the
    run has no uncertainty part)."""
    from gla_model.report import uncertainty

    paths = {name: report_layout.report_table_paths(
        report_dir=report_dir, stem=report_layout.REPORT_TABLES[name])[0]
        for name in ("uncertainty_calibration", "uncertainty_mri_only")}
    if not all(path.is_file() for path in paths.values()):
        return []
    read = {name: read_table(path, columns=("variant",), role=name)
            for name, path in paths.items()}
    return uncertainty.summary_lines(calibration=read["uncertainty_calibration"],
                                     mri_only=read["uncertainty_mri_only"])


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model report``."""
    parser.add_argument("--what", nargs="+", choices=PARTS, required=True,
                        help="which parts to write")
    parser.add_argument("--settings", required=True,
                        help="JSON (or a JSON file), as the workflow writes it: models and "
                             "evaluation (tables, figures), classification and report "
                             "(interpolation), every section (summary)")
    parser.add_argument("--out-dir", type=Path, required=True, help="results/report")
    paths = {"image-quality-dir": "results/evaluate/image_quality",
             "metric-spec": "results/evaluate/metric_spec.json",
             "classify-dir": "results/classify (paired/ and complete/)",
             "qc": "results/preprocess/qc.tsv", "cohort": "results/cohort/cohort.tsv",
             "folds": "results/folds/folds.tsv",
             "failures-dir": "results/preprocess/failures (may be absent)",
             "train-dir": "results/train", "synth-dir": "results/synthesize",
             "preproc-dir": "results/preprocess",
             "atlas": str(layout.Layout().atlas),
             "features-real": "results/features/real_pet.tsv",
             "atlas-labels": "results/preprocess/atlas-AAL_dseg.tsv (units)",
             "uncertainty-dir": "results/uncertainty (uncertainty)",
             "checkpoint": "results/train/<variant>/fold-<k>/model.pt (interpolation, "
                           "units)"}
    for flag, help_text in paths.items():
        parser.add_argument(f"--{flag}", type=Path, help=help_text)
    parser.add_argument("--tasks", nargs="+", choices=tuple(CLASSIFICATION_TASKS),
                        help=f"the classification tasks the run has results for ({PAPER_TASK} "
                             "among them; tables, figures, summary)")


def run_command(args: argparse.Namespace) -> None:
    """Write the requested parts."""
    payload = read_job_settings(args.settings)
    models = job_value(payload, "models")
    variants = {name: as_mapping(spec) for name, spec in models.enabled_variants.items()}
    args.reference = (job_value(payload, "evaluation").reference_variant
                      if "evaluation" in payload else None)
    for part in args.what:
        missing = [f"--{name.replace('_', '-')}" for name in REQUIRED[part]
                   if getattr(args, name) is None]
        if missing:
            raise ConfigError(f"gla-model report --what {part} needs {' '.join(missing)}.")
    for part in args.what:
        if part == "tables":
            written = [p for t in build_tables(args=args, variants=variants)
                       for p in tables.write_table_files(table=t, report_dir=args.out_dir)]
        elif part == "figures":
            written = write_figures(args=args, variants=variants)
        elif part == "interpolation":
            written = write_interpolation(args=args, payload=payload)
        elif part == "complexity":
            written = write_complexity(args=args, payload=payload)
        elif part == "units":
            written = write_units(args=args, payload=payload)
        elif part == "uncertainty":
            written = write_uncertainty(args=args, variants=variants)
        else:
            written = [write_summary(args=args, variants=variants, payload=payload)]
        LOG.info("report %s: wrote %d files under %s", part, len(written), args.out_dir)


def _results(*, args: argparse.Namespace, variants: Mapping[str, Mapping]
             ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Image quality, and the paper's task's paired and complete classification results."""
    scores = inputs.read_image_quality(directory=args.image_quality_dir,
                                       names=[*variants, tables.BASELINE])
    results = classification.task_results(args=args, variants=variants, task=PAPER_TASK)
    return scores, results[PAIRED_EXPERIMENT], results[COMPLETE_EXPERIMENT]


def _with_reference(*, group: str, variants: Mapping[str, Mapping], reference: str
                    ) -> list[str]:
    members = group_members(variants=variants, group=group)
    extra = [reference] if reference in variants and reference not in members else []
    return extra + members


def _qualitative(*, args: argparse.Namespace, folds: pd.DataFrame, names: list[str],
                 variants: Mapping[str, Mapping], diagnosis: str, path: Path) -> Path:
    """Figs 4/7 for the first ``diagnosis`` subject (by participant_id) of folds.tsv."""
    candidates = sorted(folds.loc[folds["diagnosis"] == diagnosis, "participant_id"])
    if not candidates:
        raise inputs.ReportInputError(f"{args.folds} has no {diagnosis} subject to show.")
    participant_id = candidates[0]
    fold = int(folds.loc[folds["participant_id"] == participant_id, "fold"].iloc[0])
    truth_path = layout.preprocessed_path(preproc_dir=args.preproc_dir,
                                          participant_id=participant_id, field="pet")
    truth = load_image(truth_path, role="real PET").get_fdata()
    synth_dirs = {name: Path(args.synth_dir) / name / layout.model_folder(fold) for name in names}
    synthetic = {variants[name]["label"]: load_image(
        layout.synthetic_pet_path(synth_dir=synth_dirs[name], participant_id=participant_id),
        role=f"synthetic PET ({name})").get_fdata() for name in names}
    figure = figures.qualitative_figure(
        truth=truth, synthetic=synthetic, voxel_size=_voxel_size(truth_path),
        title=f"{diagnosis} test subject sub-{participant_id} (fold {fold})")
    return figures.save_figure(figure=figure, path=path)


def _voxel_size(path: Path) -> tuple[float, float, float]:
    return tuple(float(z) for z in load_image(path, role="PET").header.get_zooms()[:3])


def _synthesizer(*, checkpoint: Path):
    """``mri -> pet`` with the generator of ``checkpoint``, through the synthesis code path
    (checkpoint and grid checks, eval mode, :meth:`Runtime.prepare`), on the CPU in fp32
    whatever ``training.device``/``precision`` say (as it always ran): Fig 11's numbers do
    not depend on a GPU or on the CPU's bf16 support."""
    from gla_model.synthesize import load_synthesizer

    return load_synthesizer(checkpoint=checkpoint, device="cpu", precision="fp32", threads=None)
