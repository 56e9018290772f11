"""The settings sections: one frozen dataclass per config.yaml section, every field with
its type and its range or choices, and the rules that span several keys."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from gla_model import vocabulary
from gla_model.settings.fields import as_mapping, setting

#: Section keys that are job resources: they change no result, so jobs get them on their
#: own (Snakemake's ``threads``) and a change of them reruns nothing.
RESOURCE_KEYS = ("threads",)


def without_resources(section: Any) -> dict[str, Any]:
    """A section as a plain mapping without its :data:`RESOURCE_KEYS`."""
    return {k: v for k, v in as_mapping(section).items() if k not in RESOURCE_KEYS}


@dataclass(frozen=True, kw_only=True)
class DiagnosisLabels:
    """participants.tsv values that count as each diagnosis."""

    CN: tuple[str, ...] = setting(min_items=1, pattern=r"^.+$")
    MCI: tuple[str, ...] = setting(min_items=1, pattern=r"^.+$")
    AD: tuple[str, ...] = setting(min_items=1, pattern=r"^.+$")

    def value_lists(self) -> dict[str, list[str]]:
        """Diagnosis -> its participants.tsv values."""
        return {name: list(getattr(self, name)) for name in vocabulary.DIAGNOSES}


@dataclass(frozen=True, kw_only=True)
class ParticipantsSettings:
    diagnosis_column: str = setting(pattern=r"^.+$")
    #: Column of ``sub-<label>/sub-<label>_sessions.tsv`` with the diagnosis per session.
    session_column: str | None = setting(pattern=r"^.+$")
    labels: DiagnosisLabels


@dataclass(frozen=True, kw_only=True)
class DemoCohortSettings:
    n_paired: int = setting(minimum=4)
    n_mri_only: int = setting(minimum=0)
    #: Fraction of each group (paired, MRI-only) that is MCI; the rest is CN and AD, balanced.
    mci_fraction: float = setting(minimum=0, below=1)
    seed: int = setting(minimum=0)
    t1_voxel_mm: float = setting(minimum=0.8, maximum=3)
    pet_voxel_mm: float = setting(minimum=1, maximum=4)


@dataclass(frozen=True, kw_only=True)
class CohortSettings:
    source: str = setting(choices=("demo", "bids"))
    bids_dir: str | None = setting(pattern=r"^.+$")
    session: str | None = setting(pattern=r"^[A-Za-z0-9]+$")
    #: ``rec-`` labels of FDG PETs in order of preference, when a session has several.
    pet_reconstructions: tuple[str, ...] = setting(min_items=1, unique=True,
                                                   pattern=r"^[A-Za-z0-9]+$")
    #: Participant label (without ``sub-``) -> why it is left out of everything.
    exclude: dict[str, str] = setting(pattern=r"^[A-Za-z0-9]+$")
    participants: ParticipantsSettings
    demo: DemoCohortSettings


@dataclass(frozen=True, kw_only=True)
class SpmSettings:
    """How SPM12 runs (``preprocessing.acpc: spm``)."""

    mode: str = setting(choices=("matlab", "standalone", "octave"))
    #: The SPM12 folder (matlab, octave) or ``run_spm12.sh`` (standalone).
    path: str | None = setting(pattern=r"^.+$")
    #: The MATLAB or Octave executable, or the MATLAB Runtime folder (standalone).
    matlab: str | None = setting(pattern=r"^.+$")


@dataclass(frozen=True, kw_only=True)
class PreprocessingSettings:
    backend: str = setting(choices=("ants", "fsl"))
    #: AC-PC alignment before anything else: none, spm (either backend), flirt (fsl only).
    acpc: str = setting(choices=("none", "spm", "flirt"))
    #: Skull strip: template (ants only) or robex (the paper's; either backend).
    skull_strip: str = setting(choices=("template", "robex"))
    grid: int = setting(choices=(32, 64))
    reference_region: str = setting(choices=("cerebellum_gm", "pons", "whole_brain"))
    #: [start, end] of the PET frames to average, in minutes after injection; null: all.
    pet_window_min: tuple[float, ...] | None = setting(minimum=0)
    threads: int = setting(minimum=1)
    template: str | None = setting(pattern=r"^.+$")
    atlas: str | None = setting(pattern=r"^.+$")
    atlas_labels: str | None = setting(pattern=r"^.+$")
    spm: SpmSettings


@dataclass(frozen=True, kw_only=True)
class CvSettings:
    n_folds: int = setting(minimum=2, maximum=20)
    val_fraction: float = setting(above=0, maximum=0.5)
    seed: int = setting(minimum=0)


@dataclass(frozen=True, kw_only=True)
class LossWeights:
    """The λ weights of the paper's Eq. 8 (0 = term off)."""

    adv: float = setting(default=0.0, minimum=0)
    l1: float = setting(default=0.0, minimum=0)
    ssim: float = setting(default=0.0, minimum=0)
    ms_ssim: float = setting(default=0.0, minimum=0)
    roi: float = setting(default=0.0, minimum=0)
    cycle: float = setting(default=0.0, minimum=0)
    identity: float = setting(default=0.0, minimum=0)

    def active(self, names: tuple[str, ...] = vocabulary.RECONSTRUCTION_TERMS
               ) -> dict[str, float]:
        """The terms among ``names`` with a non-zero weight."""
        return {n: getattr(self, n) for n in names if getattr(self, n) > 0}


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What defines a variant's networks and losses (a change retrains it)."""

    arch: str = setting(choices=vocabulary.ARCHITECTURES)
    #: Local patches; required for the architectures with a local module, else 1.
    k_patches: int | None = setting(default=None, choices=vocabulary.PATCH_COUNTS)
    width: float = setting(above=0, maximum=4)
    losses: LossWeights

    @property
    def adversarial(self) -> bool:
        return self.losses.adv > 0

    @property
    def patches(self) -> int:
        """``k_patches``, 1 for architectures without a local module."""
        return self.k_patches or 1

    def as_dict(self) -> dict[str, Any]:
        spec = as_mapping(self)
        return {k: v for k, v in spec.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class VariantSettings(ModelSpec):
    """One ``models.variants`` entry: the model spec plus its report label and group."""

    group: str = setting(choices=vocabulary.VARIANT_GROUPS)
    label: str = setting(pattern=r"^.+$")
    #: This variant's own number of epochs instead of ``training.epochs``.
    epochs: int | None = setting(default=None, minimum=1)

    def model_spec(self) -> ModelSpec:
        return ModelSpec(arch=self.arch, k_patches=self.k_patches, width=self.width,
                         losses=self.losses)


@dataclass(frozen=True, kw_only=True)
class ModelsSettings:
    enabled: tuple[str, ...] = setting(min_items=1, unique=True, pattern=r"^[a-z0-9_]+$")
    variants: dict[str, VariantSettings] = setting(pattern=r"^[a-z0-9_]+$")

    @property
    def enabled_variants(self) -> dict[str, VariantSettings]:
        """The enabled variants, by name, in the order of ``enabled``."""
        return {name: self.variants[name] for name in self.enabled}


@dataclass(frozen=True, kw_only=True)
class TrainingSettings:
    """Optimisation settings (the paper's are in ``workflow/presets/paper.yaml``).

    ``beta1``: the paper trains with "Adam with a momentum of 0.1", read as Adam's
    first-moment coefficient. ``lr_schedule``: ``constant`` (the paper) or
    ``warmup_cosine`` (see :func:`gla_model.train.schedule.learning_rate`).
    """

    epochs: int = setting(minimum=1)
    batch_size: int = setting(minimum=1)
    lr: float = setting(above=0)
    lr_schedule: str = setting(choices=("constant", "warmup_cosine"))
    beta1: float = setting(minimum=0, below=1)
    beta2: float = setting(minimum=0, below=1)
    seed: int = setting(minimum=0)
    device: str = setting(choices=vocabulary.DEVICES)
    precision: str = setting(choices=vocabulary.PRECISIONS)
    val_every: int = setting(minimum=1)
    preload: bool
    threads: int = setting(minimum=1)

    def as_dict(self) -> dict[str, Any]:
        """Every key but the job resources (see :func:`without_resources`)."""
        return without_resources(self)


@dataclass(frozen=True, kw_only=True)
class EvaluationSettings:
    reference_variant: str = setting(pattern=r"^[a-z0-9_]+$")


@dataclass(frozen=True, kw_only=True)
class FeaturesSettings:
    """Which MRI features describe a region (PET features are fixed: mean uptake)."""

    mri: str = setting(choices=vocabulary.MRI_FEATURE_KINDS)


@dataclass(frozen=True, kw_only=True)
class SvmSettings:
    """RBF-SVM grid, tuned by inner stratified CV on the training folds only."""

    C: tuple[float, ...] = setting(min_items=1, above=0)
    gamma: tuple[float | str, ...] = setting(min_items=1, above=0, choices=("scale", "auto"))
    inner_folds: int = setting(minimum=2)


@dataclass(frozen=True, kw_only=True)
class ClassificationSettings:
    #: Tasks (gla_model.vocabulary.CLASSIFICATION_TASKS); the paper's ad_vs_cn is required.
    tasks: tuple[str, ...] = setting(min_items=1, unique=True,
                                     choices=tuple(vocabulary.CLASSIFICATION_TASKS))
    seeds: tuple[int, ...] = setting(min_items=1, unique=True, minimum=0)
    svm: SvmSettings


@dataclass(frozen=True, kw_only=True)
class UncertaintySettings:
    """Voxelwise uncertainty of synthetic PET: the spread of estimator members that never
    saw the subject (test-time augmentations of each valid model)."""

    #: Test-time augmentation: also a left-right mirrored input (mirrored back).
    tta_flip: bool
    #: Test-time augmentation: inputs shifted by +-this many voxels along each axis
    #: (shifted back); 0: none.
    tta_shift: int = setting(minimum=0, maximum=3)
    #: Table III's trusted-completion row leaves out a completion whose uncertainty is above
    #: this quantile of the training rows' paired subjects' uncertainty.
    threshold_quantile: float = setting(above=0, maximum=1)


@dataclass(frozen=True, kw_only=True)
class ReportSettings:
    interpolation_variant: str = setting(pattern=r"^[a-z0-9_]+$")
    interpolation_fold: int = setting(minimum=0)
    interpolation_steps: int = setting(minimum=2, maximum=21)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The whole validated configuration."""

    cohort: CohortSettings
    preprocessing: PreprocessingSettings
    cv: CvSettings
    models: ModelsSettings
    training: TrainingSettings
    evaluation: EvaluationSettings
    features: FeaturesSettings
    classification: ClassificationSettings
    uncertainty: UncertaintySettings
    report: ReportSettings

    @property
    def variants(self) -> dict[str, VariantSettings]:
        """The enabled variants, by name, in the order of ``models.enabled``."""
        return self.models.enabled_variants

    def enabled_models(self) -> ModelsSettings:
        """``models`` with only the enabled variants (what the report depends on)."""
        return ModelsSettings(enabled=self.models.enabled, variants=self.variants)

    def variant_training(self, variant: str) -> TrainingSettings:
        """``training`` with the variant's own ``epochs`` when it sets one."""
        epochs = self.models.variants[variant].epochs
        return self.training if epochs is None else dataclasses.replace(self.training,
                                                                        epochs=epochs)


def variant_problems(key: str, spec: ModelSpec) -> list[str]:
    problems = []
    if spec.arch in vocabulary.PATCH_ARCHS and spec.k_patches is None:
        problems.append(f"config key '{key}.k_patches': required for arch '{spec.arch}' "
                        f"(one of {list(vocabulary.PATCH_COUNTS)})")
    if not spec.losses.active():
        problems.append(f"config key '{key}.losses': at least one of "
                        f"{list(vocabulary.RECONSTRUCTION_TERMS)} needs a weight > 0")
    if spec.arch in vocabulary.ADVERSARIAL_ARCHS and not spec.adversarial:
        problems.append(f"config key '{key}.losses.adv': arch {spec.arch} is adversarial by "
                        "definition; set it > 0")
    if spec.arch != "cyclegan" and (spec.losses.cycle > 0 or spec.losses.identity > 0):
        problems.append(f"config key '{key}.losses': cycle and identity apply to arch "
                        f"cyclegan only, not {spec.arch}")
    return problems


def cross_key_problems(settings: Settings) -> list[str]:
    variants, enabled = settings.models.variants, settings.models.enabled
    problems = [
        f"config key 'models.enabled': '{name}' is not defined; defined variants: "
        f"{sorted(variants)}"
        for name in enabled if name not in variants
    ]
    problems += [f"config key 'models.variants': '{name}' is a reserved source name"
                 for name in variants if name in vocabulary.BASELINE_SOURCES]
    for name, variant in variants.items():
        problems += variant_problems(f"models.variants.{name}", variant)
    for key, name in [("evaluation.reference_variant", settings.evaluation.reference_variant),
                      ("report.interpolation_variant", settings.report.interpolation_variant)]:
        if name not in enabled:
            problems.append(f"config key '{key}': '{name}' is not enabled; choose one of "
                            f"{list(enabled)}")
    fold, n_folds = settings.report.interpolation_fold, settings.cv.n_folds
    if fold >= n_folds:
        problems.append(f"config key 'report.interpolation_fold': {fold} is not a fold; "
                        f"choose 0 to {n_folds - 1}")
    preprocessing = settings.preprocessing
    if (preprocessing.atlas is None) != (preprocessing.atlas_labels is None):
        problems.append("config keys 'preprocessing.atlas' and 'preprocessing.atlas_labels': "
                        "set both (an atlas image and its labels table) or neither")
    if preprocessing.backend == "fsl" and preprocessing.skull_strip != "robex":
        problems.append("config key 'preprocessing.skull_strip': the fsl backend strips the "
                        "skull with robex (the paper's); set it to robex")
    if preprocessing.backend == "ants" and preprocessing.acpc == "flirt":
        problems.append("config key 'preprocessing.acpc': flirt needs the fsl backend; use "
                        "none or spm with the ants backend")
    window = preprocessing.pet_window_min
    if window is not None and (len(window) != 2 or window[0] >= window[1]):
        problems.append(f"config key 'preprocessing.pet_window_min': {list(window)} must be "
                        "[start, end] with start < end (minutes after injection)")
    if vocabulary.PAPER_TASK not in settings.classification.tasks:
        problems.append(f"config key 'classification.tasks': must include "
                        f"{vocabulary.PAPER_TASK} (the paper's Tables II and III)")
    labels = settings.cohort.participants.labels.value_lists()
    shared = sorted({value for a in labels for b in labels if a < b
                     for value in set(labels[a]) & set(labels[b])})
    if shared:
        problems.append(f"config key 'cohort.participants.labels': values {shared} map to "
                        "more than one diagnosis")
    if settings.cohort.source == "bids" and settings.cohort.bids_dir is None:
        problems.append("config key 'cohort.bids_dir': required when cohort.source is bids")
    return problems
