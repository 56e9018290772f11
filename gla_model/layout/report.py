"""The report's files: its tables, figures and summary under ``results/report``, and which
parts a run writes (the rest of the derivative paths are in :mod:`gla_model.layout`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from gla_model import vocabulary

#: Report table -> file stem (``tables/<stem>.tsv`` and ``.md``).
REPORT_TABLES = {
    "synthesis_quality": "table1_synthesis_quality",
    "classification_paired": "table2_classification_paired",
    "classification_complete": "table3_classification_complete",
    "classification_completed_subjects": "table3b_completed_subjects",
    "qc": "qc_summary",
    "interpolation": "interpolation",
    "complexity": "model_complexity",
    "units": "units",
    "uncertainty_calibration": "uncertainty_calibration",
    "uncertainty_mri_only": "uncertainty_mri_only",
}
#: Report table stem of a classification task's table, besides the paper's (Tables II, III).
CLASSIFICATION_TASK_TABLE = "classification_{task}_{experiment}"
#: Report figure stem of a multi-class task's confusion matrices.
CONFUSION_FIGURE = "confusion_{task}"
TRAINING_CURVES = "training_curves"
#: Predicted SD bins against the observed |error| of the test-fold subjects, per variant.
RELIABILITY_FIGURE = "uncertainty_reliability"
INTERPOLATION_FIGURE = "interpolation"
#: Fig 10: the global path's units per AAL region (``figures/units.png``).
UNITS_FIGURE = "units"
#: Architectures whose generator has a global path, the only ones the units part (Fig 10)
#: reads; it is reported when ``report.interpolation_variant`` is one of them.
UNIT_ARCHS = ("glagan", "glagan_global")
SUMMARY = ("summary.md", "summary.html")


def ablation_name(group: str) -> str:
    """File stem of an ablation group's table and figure."""
    return f"ablation_{group.removeprefix('ablation_')}"


def qualitative_name(*, group: str, diagnosis: str) -> str:
    return f"qualitative_{group.removeprefix('ablation_')}_{diagnosis}"


def classification_table_name(*, task: str, experiment: str) -> str:
    """The report table of a task's experiment: Table II or III for the paper's task."""
    if task == vocabulary.PAPER_TASK:
        return REPORT_TABLES[f"classification_{experiment}"]
    return CLASSIFICATION_TASK_TABLE.format(task=task, experiment=experiment)


def confusion_name(task: str) -> str:
    return CONFUSION_FIGURE.format(task=task)


def report_kind(stem: str) -> str:
    """What a report file shows: ``ablation``, ``qualitative``, ``classification_task``
    (a task's table besides the paper's), ``confusion``, or the file's own stem."""
    for prefix, kind in (("ablation_", "ablation"), ("qualitative_", "qualitative"),
                         ("classification_", "classification_task"),
                         ("confusion_", "confusion")):
        if stem.startswith(prefix):
            return kind
    return stem


def report_table_paths(*, report_dir: Path | str, stem: str) -> tuple[Path, Path, Path]:
    """The TSV, Markdown and HTML (shown inline by ``snakemake --report``) files of one
    report table."""
    folder = Path(report_dir) / "tables"
    return folder / f"{stem}.tsv", folder / f"{stem}.md", folder / f"{stem}.html"


def report_figure_path(*, report_dir: Path | str, stem: str) -> Path:
    return Path(report_dir) / "figures" / f"{stem}.png"


def report_outputs(*, report_dir: Path | str, part: str, variants: Mapping[str, object],
                   tasks: Sequence[str] = (vocabulary.PAPER_TASK,)) -> list[Path]:
    """The files one report part writes, for these reported variants and classification
    tasks (the tasks the run's cohort runs; the paper's alone by default).

    ``variants`` maps a name to anything with a ``group`` attribute (settings) or key.
    """
    ablations = [ablation_name(g) for g in vocabulary.VARIANT_GROUPS[1:]
                 if group_members(variants=variants, group=g)]
    if part == "tables":
        stems = [REPORT_TABLES[t] for t in ("synthesis_quality", "classification_paired",
                                            "classification_complete",
                                            "classification_completed_subjects", "qc")]
        stems += [classification_table_name(task=task, experiment=experiment)
                  for task in tasks if task != vocabulary.PAPER_TASK
                  for experiment in vocabulary.EXPERIMENTS]
        return [path for stem in [*stems, *ablations]
                for path in report_table_paths(report_dir=report_dir, stem=stem)]
    if part == "figures":
        groups = [g for g in vocabulary.QUALITATIVE_GROUPS
                  if group_members(variants=variants, group=g)]
        stems = [*ablations, *(qualitative_name(group=g, diagnosis=d)
                               for g in groups for d in ("AD", "CN")), TRAINING_CURVES,
                 *(confusion_name(task) for task in tasks
                   if len(vocabulary.CLASSIFICATION_TASKS[task]) > 2)]
        return [report_figure_path(report_dir=report_dir, stem=stem) for stem in stems]
    if part == "interpolation":
        return [report_figure_path(report_dir=report_dir, stem=INTERPOLATION_FIGURE),
                report_table_paths(report_dir=report_dir,
                                   stem=REPORT_TABLES["interpolation"])[0]]
    if part == "summary":
        return [Path(report_dir) / name for name in SUMMARY]
    if part == "complexity":
        return list(report_table_paths(report_dir=report_dir, stem=REPORT_TABLES["complexity"]))
    if part == "units":
        return [report_figure_path(report_dir=report_dir, stem=UNITS_FIGURE),
                report_table_paths(report_dir=report_dir, stem=REPORT_TABLES["units"])[0]]
    if part == "uncertainty":
        return [*(path for table in ("uncertainty_calibration", "uncertainty_mri_only")
                  for path in report_table_paths(report_dir=report_dir,
                                                 stem=REPORT_TABLES[table])),
                report_figure_path(report_dir=report_dir, stem=RELIABILITY_FIGURE)]
    raise ValueError(f"unknown report part {part!r}; one of {REPORT_PARTS}")


REPORT_PARTS = ("tables", "figures", "interpolation", "summary", "complexity", "units",
                "uncertainty")


def built_report_parts(*, interpolation_arch: str) -> tuple[str, ...]:
    """The report parts a run writes besides the summary, for the architecture of
    ``report.interpolation_variant``: ``units`` (Fig 10) only when it has a global path
    (:data:`UNIT_ARCHS`)."""
    units = ("units",) if interpolation_arch in UNIT_ARCHS else ()
    return ("tables", "figures", "interpolation", "complexity", *units, "uncertainty")


def group_members(*, variants: Mapping[str, object], group: str) -> list[str]:
    """The variants of ``group``, in the given order."""
    return [name for name, spec in variants.items() if _group(spec) == group]


def _group(spec: object) -> str:
    return spec["group"] if isinstance(spec, Mapping) else spec.group
