"""Settings validated once, the cohort known at DAG-build time, and input functions.

Paths come from gla_model.layout (LAYOUT), settings from gla_model.settings (SETTINGS);
a job gets the settings it depends on as one `--settings` JSON (`job_settings`), so a
change reruns exactly the jobs whose settings changed.
"""

import shlex
import sys
from collections import Counter
from pathlib import Path

from snakemake.logging import logger
from snakemake_interface_executor_plugins.settings import DeploymentMethod

from gla_model import vocabulary as vocab
from gla_model.classify.tasks import describe_skipped, runnable_tasks
from gla_model.cohort import configured_cohort, describe_cohort
from gla_model.layout import Layout
from gla_model.layout.report import built_report_parts, report_kind
from gla_model.settings import as_mapping, build_settings, job_settings, without_resources

SETTINGS = build_settings(config=config)
LAYOUT = Layout()
ENVS = "../../envs"

# Every rule calls `gla-model <verb>`. Under `--sdm conda` that is the command each rule's
# environment installs. Otherwise it is a shell function defined in every job's shell
# prefix that runs the package with the Python running Snakemake (`<python> -m gla_model`),
# so `.venv/bin/snakemake` works without an activated venv and without a PATH lookup. The
# rules' text stays `gla-model` either way: Snakemake's code rerun trigger and `--lint` see
# no interpreter path.
GLA_MODEL = f"{shlex.quote(sys.executable)} -m gla_model"
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    shell.prefix(f'set -euo pipefail; gla-model() {{{{ {GLA_MODEL} "$@"; }}}}; ')

# The cohort, checked before any job runs (BIDS problems, folds too small for cv.n_folds
# and cv.val_fraction); who is excluded and why is printed once, by the main process.
COHORT = configured_cohort(settings=SETTINGS.cohort, cv=SETTINGS.cv, demo_root=LAYOUT.demo_bids)
if workflow.is_main_process:
    logger.info(describe_cohort(cohort=COHORT))
SUBJECTS = {subject.participant_id: subject for subject in COHORT.subjects}
PAIRED_SUBJECTS = [s for s, subject in SUBJECTS.items() if subject.group == vocab.PAIRED]
BIDS_ROOT = (LAYOUT.demo_bids if SETTINGS.cohort.source == "demo"
             else Path(SETTINGS.cohort.bids_dir))
VARIANTS = SETTINGS.variants
FOLDS = [str(fold) for fold in range(SETTINGS.cv.n_folds)]
PAIRED_SOURCES = vocab.experiment_sources(experiment=vocab.PAIRED_EXPERIMENT, variants=VARIANTS)
COMPLETE_SOURCES = vocab.experiment_sources(experiment=vocab.COMPLETE_EXPERIMENT,
                                            variants=VARIANTS)
QUALITY_SOURCES = [*VARIANTS, vocab.MEAN_TRAIN_PET]
FEATURE_SOURCES = [vocab.REAL_PET, *VARIANTS]
REFERENCE_VARIANT = SETTINGS.evaluation.reference_variant

# The classification tasks this cohort has enough paired subjects of each class for; the
# others of classification.tasks are skipped, said in one line (the paper's must run).
_TASK_LIMITS = {"n_folds": SETTINGS.cv.n_folds,
                "inner_folds": SETTINGS.classification.svm.inner_folds}
TASKS, _SKIPPED_TASKS = runnable_tasks(
    tasks=SETTINGS.classification.tasks,
    paired_counts=Counter(SUBJECTS[s].diagnosis for s in PAIRED_SUBJECTS), **_TASK_LIMITS)
if workflow.is_main_process and _SKIPPED_TASKS:
    logger.info(describe_skipped(skipped=_SKIPPED_TASKS, **_TASK_LIMITS))


def _one_of(names):
    """A wildcard constraint matching exactly the given names."""
    return "|".join(names) if names else "(?!)"


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    variant="[a-z0-9_]+",
    fold=f"[0-9]+|{vocab.FULL_FOLD}",
    source="[a-z0-9_]+",
    experiment=_one_of(vocab.EXPERIMENTS),


# ---------------------------------------------------------------- preprocessing
def subject_images(wildcards):
    """The raw T1w of a subject, and its PET for a paired subject."""
    subject = SUBJECTS[wildcards.subject]
    return {"t1w": subject.t1w, **({"pet": subject.pet} if subject.pet else {})}


def preprocessed():
    """The input that stands for every subject's preprocessed images.

    `collect_qc` needs every preprocessing job, and a job's outputs appear together, so
    later stages depend on qc.tsv instead of listing ~5 files per subject: at 2,000
    subjects that keeps the DAG (and its dry run) fast.
    """
    return LAYOUT.qc_table


# ---------------------------------------------------------------- training
def training_settings(wildcards):
    """What a variant's training depends on: its model spec and its training settings
    (with its own epochs; threads are a job resource, not part of them), and the
    preprocessing settings, which model.pt records for synthesis from a raw T1w."""
    variant = wildcards.variant
    return job_settings(**{f"models__variants__{variant}": VARIANTS[variant].model_spec(),
                           "training": without_resources(SETTINGS.variant_training(variant)),
                           "preprocessing": without_resources(SETTINGS.preprocessing)})


# Peak resident memory of one training step on the CPU, measured by
# benchmarks/train_throughput.py (bf16, 2 threads): 0.66 GiB at width 0.125, 32^3, batch 4;
# 1.34 GiB at width 1.0, 32^3, batch 1; 9.48 GiB at width 1.0, 64^3, batch 4 (paper.yaml).
# Activations grow with width x voxels x batch; the job asks for 1.5 times the estimate plus
# 2 GB for the preloaded volumes and the interpreter.
_GIB_PER_WIDTH_VOXEL_BATCH = 9.48 / (1.0 * 64**3 * 4)


def training_memory_mb(wildcards):
    """SLURM memory of a training job, scaled from the measured peaks above."""
    variant = VARIANTS[wildcards.variant]
    voxels = SETTINGS.preprocessing.grid ** 3
    batch = SETTINGS.variant_training(wildcards.variant).batch_size
    scale = variant.width * (2 if variant.arch == "cyclegan" else 1)
    gib = _GIB_PER_WIDTH_VOXEL_BATCH * max(scale, 0.125) * voxels * batch
    return int(1.5 * gib * 1024 + 2000)


# ---------------------------------------------------------------- synthesis, features
def fold_synth_dirs(wildcards):
    """Synthetic PET folders of every test fold of a variant (none for the baseline)."""
    if wildcards.variant == vocab.MEAN_TRAIN_PET:
        return []
    return [LAYOUT.synth_dir(variant=wildcards.variant, fold=fold) for fold in FOLDS]


def synth_dir_option(name):
    """`--synth-dir` of a variant; nothing for real PET or the trivial baseline."""
    if name in vocab.BASELINE_SOURCES:
        return ""
    return f"--synth-dir {LAYOUT.synth_variant_dir(name)}"


def feature_inputs(wildcards):
    if wildcards.source == vocab.REAL_PET:
        return [preprocessed()]
    return [preprocessed(),
            *(LAYOUT.synth_dir(variant=wildcards.source, fold=fold)
              for fold in [*FOLDS, vocab.FULL_FOLD])]


# ---------------------------------------------------------------- classification
def synth_features(wildcards):
    """A variant's synthetic features; for the trusted source, the reference variant's and
    its per-subject uncertainty."""
    if wildcards.source in VARIANTS:
        return {"synth": LAYOUT.features(wildcards.source)}
    if wildcards.source == vocab.TRUSTED_SYNTH_PET:
        return {"synth": LAYOUT.features(REFERENCE_VARIANT),
                "uncertainty": LAYOUT.uncertainty(variant=REFERENCE_VARIANT, kind="subjects")}
    return {}


def synth_features_option(wildcards, input):
    options = [f"--features-synth {input.synth}" if "synth" in input.keys() else "",
               f"--uncertainty {input.uncertainty}" if "uncertainty" in input.keys() else ""]
    return " ".join(option for option in options if option)


def classify_outputs(experiment):
    """Per task: the results table and the predictions beside it, of one source."""
    return {
        "scores": [LAYOUT.classification(task=t, experiment=experiment, source="{source}")
                   for t in TASKS],
        "predictions": [LAYOUT.predictions(task=t, experiment=experiment, source="{source}")
                        for t in TASKS],
    }


def classify_settings(experiment):
    """The settings of one experiment's jobs, by source: seeds and SVM grid; for the
    complete experiment its folds; for the trusted source the uncertainty quantile and the
    reference variant whose features it reads."""

    def settings(wildcards):
        chosen = {"classification__seeds": SETTINGS.classification.seeds,
                  "classification__svm": SETTINGS.classification.svm}
        if experiment == vocab.COMPLETE_EXPERIMENT:
            chosen["cv__n_folds"] = SETTINGS.cv.n_folds
        if wildcards.source == vocab.TRUSTED_SYNTH_PET:
            chosen |= {"uncertainty__threshold_quantile":
                       SETTINGS.uncertainty.threshold_quantile,
                       "evaluation__reference_variant": REFERENCE_VARIANT}
        return job_settings(**chosen)

    return settings


# ---------------------------------------------------------------- report
#: What a report file shows (gla_model.layout.report_kind) -> its table and figure captions.
REPORT_CAPTIONS = {
    "ablation": ("ablation_table.rst", "figure_ablation.rst"),
    "qualitative": (None, "figure_qualitative.rst"),
    "training_curves": (None, "figure_training_curves.rst"),
    "interpolation": ("interpolation_table.rst", "figure_interpolation.rst"),
    "model_complexity": ("model_complexity.rst", None),
    "units": ("units_table.rst", "figure_units.rst"),
    "classification_task": ("classification_task_table.rst", None),
    "confusion": (None, "figure_confusion.rst"),
    "uncertainty_reliability": (None, "figure_uncertainty_reliability.rst"),
}


def annotated_report_outputs(part):
    """The outputs of one report part; figures, HTML tables (shown inline) and TSVs carry
    their caption for `snakemake --report`, Markdown copies are plain outputs."""
    annotated = []
    for path in LAYOUT.report_outputs(part=part, variants=VARIANTS, tasks=TASKS):
        if path.suffix == ".md":
            annotated.append(path)
            continue
        kind = report_kind(path.stem)
        table, figure = REPORT_CAPTIONS.get(kind, (f"{kind}.rst", None))
        is_figure = path.suffix == ".png"
        labels = {"name": path.stem, "format": path.suffix.lstrip(".")}
        annotated.append(report(path, caption=f"../../reports/{figure if is_figure else table}",
                                category="Figures" if is_figure else "Tables", labels=labels))
    return annotated


REPORT_PARTS = built_report_parts(
    interpolation_arch=VARIANTS[SETTINGS.report.interpolation_variant].arch)
REPORT_OUTPUTS = [path for part in REPORT_PARTS
                  for path in LAYOUT.report_outputs(part=part, variants=VARIANTS, tasks=TASKS)]


def all_outputs():
    """Every final output of the workflow (the report pulls in everything upstream)."""
    return [LAYOUT.qc_table, *LAYOUT.report_outputs(part="summary", variants=VARIANTS),
            *REPORT_OUTPUTS]


onstart:
    from gla_model.preprocess.tools import check_tools

    versions = check_tools(settings=SETTINGS.preprocessing)
    print("Preprocessing tools: " + ", ".join(f"{tool} {version}" for tool, version in versions.items()))


onerror:
    failures = sorted(LAYOUT.failures_dir.glob("sub-*.txt"))
    if failures:
        print("Subjects whose preprocessing failed (fix the input and rerun):")
        for failure in failures:
            print(f"  {failure.stem}: {failure.read_text().strip()}")
