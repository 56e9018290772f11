"""Every derivative path of a run, built in one place.

The rules (``workflow/rules/common.smk``), the package and the tests all use this module;
no other module writes a derivative file name. Functions take plain strings, so
Snakemake wildcards pass through (``Layout().checkpoint(variant="{variant}", ...)``).

The tree under ``results/`` has one folder per stage, named as its rule file and its
``gla-model`` verb::

    demo_cohort/  cohort/  preprocess/  folds/  train/  synthesize/  uncertainty/
    evaluate/  features/  classify/  report/
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gla_model import vocabulary
from gla_model.layout.report import report_outputs

#: ``space-`` label of the model grid: FSL's 2 mm MNI152 box resized to grid^3 anisotropic
#: voxels (MNI world mm), no standard template resolution, hence a custom label; the grid
#: size is in each image's header (a run has one grid), the atlas is the SpatialReference.
GRID_SPACE = "MNI152grid"

#: Output field of a subject's preprocessing -> (folder in the subject's folder, file name
#: after ``sub-<id>_``). BIDS-Derivatives names; QC files go to ``qc/`` (``.bidsignore``).
_PREPROCESSED = {
    "t1w": ("anat", f"space-{GRID_SPACE}_desc-preproc_T1w.nii.gz"),
    "gm": ("anat", f"space-{GRID_SPACE}_label-GM_probseg.nii.gz"),
    "wm": ("anat", f"space-{GRID_SPACE}_label-WM_probseg.nii.gz"),
    "csf": ("anat", f"space-{GRID_SPACE}_label-CSF_probseg.nii.gz"),
    "mask": ("anat", f"space-{GRID_SPACE}_desc-brain_mask.nii.gz"),
    # MNI (grid world) -> native T1w world, 4x4 RAS+ mm (gla_model.preprocess.xfm)
    "xfm": ("anat", f"from-{GRID_SPACE}_to-T1w_mode-image_xfm.txt"),
    "qc_figure": ("qc", "desc-qc.png"),
    "qc_table": ("qc", "desc-qc.tsv"),
    "pet": ("pet", f"space-{GRID_SPACE}_desc-preproc_pet.nii.gz"),
}
#: Preprocessing output fields: images, the transform, then the QC figure and row.
PREPROCESSED_FIELDS = tuple(_PREPROCESSED)
PREPROCESSED_IMAGES = ("t1w", "pet", "gm", "wm", "csf", "mask")
#: What BIDS validators should skip in ``results/preprocess`` (its ``.bidsignore``).
PREPROCESS_BIDSIGNORE = ("*_xfm.txt", "sub-*/qc", "qc.tsv", "failures/")


def subject_label(participant_id: str) -> str:
    return f"sub-{participant_id}"


def preprocessed_names(*, participant_id: str, has_pet: bool) -> dict[str, str]:
    """Preprocessing output field -> path inside the subject's folder (``anat/...``)."""
    return {field: f"{folder}/sub-{participant_id}_{name}"
            for field, (folder, name) in _PREPROCESSED.items() if has_pet or field != "pet"}


def sidecar_names(*, participant_id: str, has_pet: bool) -> dict[str, str]:
    """Image field -> its JSON sidecar inside the subject's folder."""
    names = preprocessed_names(participant_id=participant_id, has_pet=has_pet)
    return {field: sidecar(names[field]) for field in PREPROCESSED_IMAGES if field in names}


def sidecar(path: str) -> str:
    """The JSON sidecar of a NIfTI file name or path (``x.nii.gz`` -> ``x.json``)."""
    return path.removesuffix(".gz").removesuffix(".nii") + ".json"


def preprocessed_path(*, preproc_dir: Path | str, participant_id: str, field: str) -> Path:
    """One preprocessed file of a subject: ``field`` is a key of :data:`PREPROCESSED_FIELDS`
    or a tissue (``"GM"``, ``"WM"``, ``"CSF"``)."""
    field = field.lower() if field in vocabulary.TISSUES else field
    if field not in _PREPROCESSED:
        raise ValueError(f"unknown preprocessed file {field!r}; one of {PREPROCESSED_FIELDS}")
    folder, name = _PREPROCESSED[field]
    return (Path(preproc_dir) / subject_label(participant_id) / folder
            / f"sub-{participant_id}_{name}")


def atlas_name() -> str:
    """The AAL atlas on the grid (root of ``results/preprocess``, its SpatialReference)."""
    return f"space-{GRID_SPACE}_atlas-AAL_dseg.nii.gz"


def cohort_sidecar_path(*, cohort_table: Path | str) -> Path:
    """The JSON sidecar beside a cohort table: exclusions and PET reconstruction choices."""
    return Path(cohort_table).with_suffix(".json")


def preprocess_dataset_files(*, preproc_dir: Path | str) -> dict[str, Path]:
    """The files that make ``results/preprocess`` a BIDS-Derivatives dataset, written once
    by the ``collect_qc`` job: description, README, .bidsignore and the atlas sidecar."""
    root = Path(preproc_dir)
    return {"description": root / "dataset_description.json", "readme": root / "README",
            "bidsignore": root / ".bidsignore",
            "atlas_json": root / "atlas-AAL_dseg.json",  # sidecar of both atlas files
            "atlas_description": root / "atlas-AAL_description.json"}


def failure_note(*, preproc_dir: Path | str, participant_id: str) -> Path:
    """Where a subject's failed preprocessing writes its reason."""
    return Path(preproc_dir) / "failures" / f"sub-{participant_id}.txt"


def model_folder(fold: str) -> str:
    """``fold-<k>`` for a test fold, ``full`` for the model trained on every paired subject."""
    return vocabulary.FULL_FOLD if str(fold) == vocabulary.FULL_FOLD else f"fold-{fold}"


def synthetic_pet_name(*, participant_id: str, space: str = "") -> str:
    return f"sub-{participant_id}{space and f'_space-{space}'}_desc-synth_pet.nii.gz"


def synthetic_pet_path(*, synth_dir: Path | str, participant_id: str, space: str = "") -> Path:
    """A synthetic PET inside one model's synthesis folder (``space``: its space- label)."""
    return Path(synth_dir) / synthetic_pet_name(participant_id=participant_id, space=space)


def synthetic_sd_name(*, participant_id: str, space: str = "") -> str:
    """The voxelwise uncertainty (SD over the estimator's members) of a synthetic PET."""
    return f"sub-{participant_id}{space and f'_space-{space}'}_desc-synthsd_pet.nii.gz"


def synthetic_sd_path(*, synth_dir: Path | str, participant_id: str, space: str = "") -> Path:
    """The uncertainty map beside a synthetic PET in one model's synthesis folder."""
    return Path(synth_dir) / synthetic_sd_name(participant_id=participant_id, space=space)


def synthesis_uncertainty_table(*, synth_dir: Path | str) -> Path:
    """Per-subject uncertainty of one synthesis folder (members, mean SD, input check)."""
    return Path(synth_dir) / "uncertainty.tsv"


#: Tables of a variant's uncertainty summary (``uncertainty/<variant>/<kind>.tsv``):
#: per subject, per subject and AAL region, and the calibration on test-fold subjects
#: (Spearman per subject and per region; reliability bins).
UNCERTAINTY_TABLES = ("subjects", "regions", "calibration", "reliability")


def uncertainty_path(*, uncertainty_dir: Path | str, variant: str, kind: str) -> Path:
    if kind not in UNCERTAINTY_TABLES:
        raise ValueError(f"unknown uncertainty table {kind!r}; one of {UNCERTAINTY_TABLES}")
    return Path(uncertainty_dir) / variant / f"{kind}.tsv"


def fold_synthetic_pets(*, variant_dir: Path | str, participant_id: str) -> list[Path]:
    """The synthetic PETs of a subject under every test-fold folder of one variant."""
    return sorted(Path(variant_dir).glob(
        f"fold-*/{synthetic_pet_name(participant_id=participant_id)}"))


def checkpoint_path(*, train_dir: Path | str, variant: str, fold: str) -> Path:
    """``fold`` is a test fold index or ``full``; both live in ``fold-<fold>/``."""
    return Path(train_dir) / variant / f"fold-{fold}" / "model.pt"


def history_path(*, train_dir: Path | str, variant: str, fold: str) -> Path:
    return checkpoint_path(train_dir=train_dir, variant=variant, fold=fold).with_name(
        "history.tsv")


def training_state(*, checkpoint: Path | str) -> Path:
    """The resumable training state kept beside a checkpoint."""
    return Path(checkpoint).with_name("last.pt")


def image_quality_path(*, image_quality_dir: Path | str, source: str) -> Path:
    """Per-subject image-quality rows of a variant (or the mean-PET baseline)."""
    return Path(image_quality_dir) / f"{source}.tsv"


def classification_path(*, classify_dir: Path | str, task: str, experiment: str,
                        source: str) -> Path:
    """Per-(seed, fold) classification results of a source in an experiment, for one task
    (``vocabulary.CLASSIFICATION_TASKS``)."""
    return Path(classify_dir) / task / experiment / f"{source}.tsv"


def predictions_path(*, scores: Path | str) -> Path:
    """Per-subject predictions beside a classification score table."""
    scores = Path(scores)
    return scores.with_name(f"{scores.stem}_predictions.tsv")


@dataclass(frozen=True)
class Layout:
    """The workflow's folders and files under ``results`` (and its logs)."""

    results: Path = Path("results")
    logs: Path = Path("logs")

    # ------------------------------------------------------------ cohort
    @property
    def demo_bids(self) -> Path:
        return self.results / "demo_cohort"

    @property
    def cohort_table(self) -> Path:
        return self.results / "cohort" / "cohort.tsv"

    @property
    def cohort_sidecar(self) -> Path:
        return cohort_sidecar_path(cohort_table=self.cohort_table)

    # ------------------------------------------------------------ preprocess
    @property
    def preprocess_dir(self) -> Path:
        return self.results / "preprocess"

    def subject_dir(self, participant_id: str) -> Path:
        return self.preprocess_dir / subject_label(participant_id)

    def preprocessed(self, *, participant_id: str, field: str) -> Path:
        return preprocessed_path(preproc_dir=self.preprocess_dir,
                                 participant_id=participant_id, field=field)

    def subject_outputs(self, *, participant_id: str, has_pet: bool) -> dict[str, Path]:
        """Every file of a subject's preprocessing (sidecars as ``<field>_json``)."""
        folder = self.subject_dir(participant_id)
        names = preprocessed_names(participant_id=participant_id, has_pet=has_pet)
        sidecars = sidecar_names(participant_id=participant_id, has_pet=has_pet)
        return {**{field: folder / name for field, name in names.items()},
                **{f"{field}_json": folder / name for field, name in sidecars.items()}}

    @property
    def atlas(self) -> Path:
        return self.preprocess_dir / atlas_name()

    @property
    def atlas_labels(self) -> Path:
        return self.preprocess_dir / "atlas-AAL_dseg.tsv"  # named by atlas-AAL_dseg.json

    @property
    def qc_table(self) -> Path:
        return self.preprocess_dir / "qc.tsv"

    @property
    def failures_dir(self) -> Path:
        return self.preprocess_dir / "failures"

    @property
    def preprocess_dataset_files(self) -> dict[str, Path]:
        return preprocess_dataset_files(preproc_dir=self.preprocess_dir)

    # ------------------------------------------------------------ folds, train, synthesize
    @property
    def folds_table(self) -> Path:
        return self.results / "folds" / "folds.tsv"

    @property
    def train_dir(self) -> Path:
        return self.results / "train"

    def checkpoint(self, *, variant: str, fold: str) -> Path:
        return checkpoint_path(train_dir=self.train_dir, variant=variant, fold=fold)

    def history(self, *, variant: str, fold: str) -> Path:
        return history_path(train_dir=self.train_dir, variant=variant, fold=fold)

    @property
    def synthesize_dir(self) -> Path:
        return self.results / "synthesize"

    def synth_variant_dir(self, variant: str) -> Path:
        return self.synthesize_dir / variant

    def synth_dir(self, *, variant: str, fold: str) -> Path:
        return self.synth_variant_dir(variant) / model_folder(fold)

    @property
    def uncertainty_dir(self) -> Path:
        return self.results / "uncertainty"

    def uncertainty(self, *, variant: str, kind: str) -> Path:
        return uncertainty_path(uncertainty_dir=self.uncertainty_dir, variant=variant,
                                kind=kind)

    # ------------------------------------------------------------ evaluate, features, classify
    @property
    def metric_spec(self) -> Path:
        return self.results / "evaluate" / "metric_spec.json"

    @property
    def image_quality_dir(self) -> Path:
        return self.results / "evaluate" / "image_quality"

    def image_quality(self, source: str) -> Path:
        return image_quality_path(image_quality_dir=self.image_quality_dir, source=source)

    def features(self, source: str) -> Path:
        return self.results / "features" / f"{source}.tsv"

    @property
    def classify_dir(self) -> Path:
        return self.results / "classify"

    def classification(self, *, task: str, experiment: str, source: str) -> Path:
        return classification_path(classify_dir=self.classify_dir, task=task,
                                   experiment=experiment, source=source)

    def predictions(self, *, task: str, experiment: str, source: str) -> Path:
        return predictions_path(scores=self.classification(task=task, experiment=experiment,
                                                           source=source))

    # ------------------------------------------------------------ report
    @property
    def report_dir(self) -> Path:
        return self.results / "report"

    def report_outputs(self, *, part: str, variants: Mapping[str, object],
                       tasks: Sequence[str] = (vocabulary.PAPER_TASK,)) -> list[Path]:
        return report_outputs(report_dir=self.report_dir, part=part, variants=variants,
                              tasks=tasks)

    # ------------------------------------------------------------ logs and benchmarks
    def log(self, stage: str, job: str = "") -> Path:
        return self.logs / stage / f"{job or stage}.log"

    def benchmark(self, stage: str, job: str = "") -> Path:
        return self.results / "benchmarks" / stage / f"{job or stage}.tsv"
