"""The workflow's vocabulary: every name that several stages share, spelt once."""

from __future__ import annotations

from collections.abc import Iterable

#: Diagnoses the workflow knows (participants.tsv values map onto these), from normal
#: to demented: cognitively normal, mild cognitive impairment, Alzheimer's disease.
DIAGNOSES = ("CN", "MCI", "AD")

#: Classification tasks -> their classes, the reference class first (binary tasks: the
#: positive class last). AD vs CN is the paper's (Tables II and III).
CLASSIFICATION_TASKS = {
    "ad_vs_cn": ("CN", "AD"),
    "mci_vs_cn": ("CN", "MCI"),
    "ad_vs_mci": ("MCI", "AD"),
    "cn_vs_mci_vs_ad": ("CN", "MCI", "AD"),
}
PAPER_TASK = "ad_vs_cn"

#: Subject groups of the cohort table: both modalities, or a T1w only.
PAIRED = "paired"
MRI_ONLY_SUBJECTS = "mri_only"
SUBJECT_GROUPS = (PAIRED, MRI_ONLY_SUBJECTS)

#: The model of a variant trained on every paired subject (synthesizes MRI-only subjects).
FULL_FOLD = "full"

#: Feature and classification sources that are not model variants: MRI features alone,
#: the real PET, and the trivial image baseline (each fold's mean training PET).
MRI_FEATURES = "mri_only"
REAL_PET = "real_pet"
MEAN_TRAIN_PET = "mean_train_pet"
#: Completed-cohort control: missing PET features filled with the mean PET features of the
#: training rows of each split (naive imputation that synthetic PET has to beat).
MEAN_IMPUTED_PET = "mean_imputed_pet"
#: Completed cohort with the reference variant's synthetic PET where its uncertainty is
#: below a threshold chosen on the training rows; the others get MRI features only.
TRUSTED_SYNTH_PET = "trusted_synth_pet"
BASELINE_SOURCES = (MRI_FEATURES, REAL_PET, MEAN_TRAIN_PET, MEAN_IMPUTED_PET,
                    TRUSTED_SYNTH_PET)

#: Classification experiments: paired CV (Table II) and the completed cohort (Table III).
PAIRED_EXPERIMENT = "paired"
COMPLETE_EXPERIMENT = "complete"
EXPERIMENTS = (PAIRED_EXPERIMENT, COMPLETE_EXPERIMENT)
#: Each experiment's sources besides the model variants: the references listed before the
#: variants, and the rows after them (Table III's trusted completions).
REFERENCE_SOURCES = {PAIRED_EXPERIMENT: (MRI_FEATURES, REAL_PET),
                     COMPLETE_EXPERIMENT: (MRI_FEATURES, MEAN_IMPUTED_PET)}
DERIVED_SOURCES = {PAIRED_EXPERIMENT: (), COMPLETE_EXPERIMENT: (TRUSTED_SYNTH_PET,)}


def experiment_sources(*, experiment: str, variants: Iterable[str]) -> list[str]:
    """Every classification source of ``experiment``: references, variants, derived rows."""
    return [*REFERENCE_SOURCES[experiment], *variants, *DERIVED_SOURCES[experiment]]

#: Report groups of the model variants.
VARIANT_GROUPS = ("main", "ablation_architecture", "ablation_losses", "ablation_patches")
QUALITATIVE_GROUPS = ("main", "ablation_architecture")

#: Generator architectures; the first three are GLA-GAN generators (global + local,
#: global only, local only).
ARCHITECTURES = ("glagan", "glagan_global", "glagan_local", "unet3d", "gan", "cyclegan")
#: Architectures with a local (patch) module, which therefore need ``k_patches``.
PATCH_ARCHS = frozenset({"glagan", "glagan_local"})
#: Architectures that are adversarial by definition.
ADVERSARIAL_ARCHS = frozenset({"gan", "cyclegan"})
PATCH_COUNTS = (1, 2, 4, 8)
#: Loss terms comparing synthetic and real PET (the validation loss is their weighted sum).
RECONSTRUCTION_TERMS = ("l1", "ssim", "ms_ssim", "roi")

#: Training devices and precisions.
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

#: MRI features of a region: tissue density (mean GM/WM probability) or T1w intensity.
MRI_FEATURE_KINDS = ("density", "intensity")

#: Tissues of the segmentation (probability maps), in output order.
TISSUES = ("GM", "WM", "CSF")
