"""Config validation, the cohort known at DAG-build time, paths and input functions."""

import json
import shlex
from pathlib import Path

from gla_model.cohort.discover import Subject, discover_cohort
from gla_model.demo_cohort import plan_demo_cohort
from gla_model.settings import enabled_variants, model_spec, validate_config, variant_training
from gla_model.preprocess.outputs import output_names
from gla_model.report.outputs import output_paths

validate_config(
    config=config,
    schema_path=Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
)

RESULTS = Path("results")
LOGS = Path("logs")
BENCH = RESULTS / "benchmarks"
PREPROC = RESULTS / "preprocess"
DEMO_BIDS = RESULTS / "demo_cohort"
ATLAS = PREPROC / "atlas-AAL_space-MNI_dseg.nii.gz"
ATLAS_LABELS = PREPROC / "atlas-AAL_dseg.tsv"
COHORT_TABLE = RESULTS / "cohort" / "cohort.tsv"
FOLDS_TABLE = RESULTS / "folds" / "folds.tsv"
METRIC_SPEC = RESULTS / "evaluate" / "metric_spec.json"
QUALITY = RESULTS / "evaluate" / "image_quality"
REPORT = RESULTS / "report"
ENVS = "../../envs"

PREPROCESSING = config["preprocessing"]
CLASSIFICATION = config["classification"]


# ---------------------------------------------------------------- the cohort
def _bids_root():
    if config["cohort"]["source"] == "demo":
        return DEMO_BIDS
    return Path(config["cohort"]["bids_dir"])


def _cohort_subjects():
    cohort = config["cohort"]
    if cohort["source"] == "demo":
        return [
            Subject(participant_id=s.participant_id, diagnosis=s.diagnosis, group=s.group,
                    session=None, t1w=DEMO_BIDS / s.t1w, pet=s.pet and DEMO_BIDS / s.pet)
            for s in plan_demo_cohort(n_paired=cohort["demo"]["n_paired"],
                                      n_mri_only=cohort["demo"]["n_mri_only"],
                                      seed=cohort["demo"]["seed"])
        ]
    participants = cohort["participants"]
    return discover_cohort(
        bids_dir=Path(cohort["bids_dir"]),
        diagnosis_column=participants["diagnosis_column"],
        diagnosis_labels=participants["labels"],
        n_folds=config["cv"]["n_folds"],
        session=cohort["session"],
    ).subjects


BIDS_ROOT = _bids_root()
SUBJECTS = {subject.participant_id: subject for subject in _cohort_subjects()}
PAIRED = [sid for sid, subject in SUBJECTS.items() if subject.group == "paired"]
MRI_ONLY = [sid for sid, subject in SUBJECTS.items() if subject.group == "mri_only"]
VARIANTS = enabled_variants(config=config)
FOLDS = [str(fold) for fold in range(config["cv"]["n_folds"])]
PAIRED_SOURCES = ["mri_only", "real_pet", *VARIANTS]
COMPLETE_SOURCES = ["mri_only", *VARIANTS]
QUALITY_SOURCES = [*VARIANTS, "mean_train_pet"]


def _one_of(names):
    """A wildcard constraint matching exactly the given names."""
    return "|".join(names) if names else "(?!)"


def paired_pet(wildcards):
    """The raw PET of a paired subject. MRI-only subjects get a path no rule can make,
    so Snakemake falls back to `preprocess_mri_only_subject` (see `ruleorder`)."""
    pet = SUBJECTS[wildcards.subject].pet
    return pet or BIDS_ROOT / f"sub-{wildcards.subject}" / "pet" / "no-pet-for-mri-only-subject"


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    variant="[a-z0-9_]+",
    fold="[0-9]+|full",
    source="[a-z0-9_]+",


# ---------------------------------------------------------------- paths
def preproc_file(subject, field):
    """One preprocessed file of a subject, by its field in `output_names` (e.g. 'qc_table')."""
    name = output_names(participant_id=subject, has_pet=True)[field]
    return PREPROC / f"sub-{subject}" / name


def preprocessed():
    """The input that stands for every subject's preprocessed images.

    `collect_qc` needs every preprocessing job, and a job's outputs appear together, so
    later stages depend on qc.tsv instead of listing ~5 files per subject: at 2,000
    subjects that keeps the DAG (and its dry run) fast.
    """
    return PREPROC / "qc.tsv"


def subject_outputs(*, pet):
    """The outputs of one subject's preprocessing job, as wildcard patterns."""
    return {
        field: PREPROC / "sub-{subject}" / name
        for field, name in output_names(participant_id="{subject}", has_pet=pet).items()
    }


def checkpoint_path(variant, fold):
    return RESULTS / "train" / variant / f"fold-{fold}" / "model.pt"


def synth_dir(variant, fold):
    return RESULTS / "synthesize" / variant / ("full" if fold == "full" else f"fold-{fold}")


def as_json(value):
    """Compact, stable JSON for a shell argument (quote it with {params.x:q})."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------- preprocessing
def preprocess_options():
    """Command-line options of `gla-model preprocess` from the config."""
    options = [
        f"--backend {PREPROCESSING['backend']}",
        f"--grid {PREPROCESSING['grid']}",
        f"--reference-region {PREPROCESSING['reference_region']}",
    ]
    if PREPROCESSING["template"]:
        options.append(f"--template {shlex.quote(PREPROCESSING['template'])}")
    options.append(atlas_options())
    if PREPROCESSING["backend"] == "fsl":
        fsl = PREPROCESSING["fsl"]
        options.append(f"--acpc {fsl['acpc']} --spm-mode {fsl['spm_mode']}")
        options += [f"--spm-path {shlex.quote(fsl['spm_path'])}"] if fsl["spm_path"] else []
        options += [f"--matlab-cmd {shlex.quote(fsl['matlab'])}"] if fsl["matlab"] else []
    return " ".join(option for option in options if option)


def atlas_options():
    if not PREPROCESSING["atlas"]:
        return ""
    return (f"--atlas {shlex.quote(PREPROCESSING['atlas'])} "
            f"--atlas-labels {shlex.quote(PREPROCESSING['atlas_labels'])}")


# ---------------------------------------------------------------- evaluation
def fold_synth_dirs(wildcards):
    """Synthetic PET folders of every fold of a variant (none for the trivial baseline)."""
    if wildcards.variant == "mean_train_pet":
        return []
    return [synth_dir(wildcards.variant, fold) for fold in FOLDS]


def synth_dir_option(name):
    """`--synth-dir` for a variant; nothing for real PET or the trivial baseline."""
    if name in ("real", "mean_train_pet"):
        return ""
    return f"--synth-dir {RESULTS / 'synthesize' / name}"


def feature_inputs(wildcards):
    if wildcards.source == "real":
        return [preprocessed()]
    folds = [synth_dir(wildcards.source, fold) for fold in FOLDS]
    return [preprocessed(), *folds, synth_dir(wildcards.source, "full")]


def synth_features(wildcards):
    if wildcards.source in VARIANTS:
        return {"synth": RESULTS / "features" / f"{wildcards.source}.tsv"}
    return {}


def synth_features_option(wildcards, input):
    return f"--features-synth {input.synth}" if "synth" in input.keys() else ""


# ---------------------------------------------------------------- report
REPORT_CAPTIONS = {
    "ablation_": ("ablation_table.rst", "figure_ablation.rst"),
    "qualitative_": (None, "figure_qualitative.rst"),
    "training_curves": (None, "figure_training_curves.rst"),
    "interpolation": ("interpolation_table.rst", "figure_interpolation.rst"),
}


def annotated_report_outputs(part):
    """The outputs of one report part, each with its caption for `snakemake --report`."""
    annotated = []
    for path in output_paths(out_dir=REPORT, what=part, variants=VARIANTS):
        table, figure = next(
            (captions for prefix, captions in REPORT_CAPTIONS.items()
             if path.stem.startswith(prefix)),
            (f"{path.stem}.rst", None),
        )
        is_figure = path.suffix == ".png"
        labels = {"name": path.stem, "format": path.suffix.lstrip(".")}
        annotated.append(report(path, caption=f"../../reports/{figure if is_figure else table}",
                                category="Figures" if is_figure else "Tables", labels=labels))
    return annotated


REPORT_OUTPUTS = [
    path for part in ("tables", "figures", "interpolation")
    for path in output_paths(out_dir=REPORT, what=part, variants=VARIANTS)
]


def all_outputs():
    """Every final output of the workflow (the report pulls in everything upstream)."""
    return [PREPROC / "qc.tsv", REPORT / "summary.md", *REPORT_OUTPUTS]


onstart:
    from gla_model.preprocess.tools import check_tools

    fsl = PREPROCESSING["fsl"]
    versions = check_tools(
        backend=PREPROCESSING["backend"],
        acpc=fsl["acpc"],
        spm_mode=fsl["spm_mode"],
        spm_path=fsl["spm_path"],
        matlab_cmd=fsl["matlab"] or "matlab",
    )
    print("Preprocessing tools: " + ", ".join(f"{tool} {version}" for tool, version in versions.items()))


onerror:
    failures = sorted((PREPROC / "failures").glob("sub-*.txt"))
    if failures:
        print("Subjects whose preprocessing failed (fix the input and rerun):")
        for failure in failures:
            print(f"  {failure.stem}: {failure.read_text().strip()}")
