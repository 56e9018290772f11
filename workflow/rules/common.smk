"""Config validation, the cohort known at DAG-build time, and input functions."""

import json
from pathlib import Path

from gla_model.bids import discover_cohort
from gla_model.cohort import plan_demo_cohort
from gla_model.config import enabled_variants, validate_config

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
REPORT = RESULTS / "report"


def _cohort_subjects():
    cohort = config["cohort"]
    if cohort["source"] == "demo":
        return plan_demo_cohort(bids_dir=DEMO_BIDS, **cohort["demo"])
    participants = cohort["participants"]
    return discover_cohort(
        bids_dir=Path(cohort["bids_dir"]),
        diagnosis_column=participants["diagnosis_column"],
        diagnosis_labels=participants["labels"],
        n_folds=config["cv"]["n_folds"],
        session=cohort["session"],
    ).subjects


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


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    variant="[a-z0-9_]+",
    fold="[0-9]+|full",
    source="[a-z0-9_]+",


def preproc_file(subject, suffix):
    """A preprocessed file of one subject, e.g. suffix 'space-MNI_desc-preproc_T1w.nii.gz'."""
    return PREPROC / f"sub-{subject}" / f"sub-{subject}_{suffix}"


PREPROC_SUFFIXES = {
    "t1w": "space-MNI_desc-preproc_T1w.nii.gz",
    "gm": "space-MNI_label-GM_probseg.nii.gz",
    "wm": "space-MNI_label-WM_probseg.nii.gz",
    "csf": "space-MNI_label-CSF_probseg.nii.gz",
    "mask": "space-MNI_desc-brain_mask.nii.gz",
    "qc_png": "desc-qc.png",
    "qc_row": "desc-qc.tsv",
}
PET_SUFFIX = "space-MNI_desc-preproc_pet.nii.gz"


def preprocessed(subjects, *, pet=False):
    """Every preprocessed image of ``subjects`` (with their PET when ``pet``)."""
    kinds = ["t1w", "gm", "wm", "csf", "mask"]
    files = [preproc_file(s, PREPROC_SUFFIXES[kind]) for s in subjects for kind in kinds]
    return files + ([preproc_file(s, PET_SUFFIX) for s in subjects] if pet else [])


def as_json(value):
    """Compact JSON for a shell argument (quoted by the caller with {params:q})."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def checkpoint_path(variant, fold):
    return RESULTS / "train" / variant / f"fold-{fold}" / "model.pt"


def synth_dir(variant, fold):
    return RESULTS / "synthesize" / variant / ("full" if fold == "full" else f"fold-{fold}")


def all_outputs():
    """Every final output of the workflow (the report pulls in everything upstream)."""
    return [
        RESULTS / "preprocess" / "qc.tsv",
        REPORT / "summary.md",
        *REPORT_OUTPUTS,
    ]


onstart:
    from gla_model.preprocess.tools import check_tools

    check_tools(backend=config["preprocessing"]["backend"], settings=config["preprocessing"])


onerror:
    failures = sorted((PREPROC / "failures").glob("sub-*.txt"))
    if failures:
        print("Subjects whose preprocessing failed (fix the input and rerun):")
        for failure in failures:
            print(f"  {failure.stem}: {failure.read_text().strip()}")
