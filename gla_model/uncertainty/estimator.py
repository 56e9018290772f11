"""The voxelwise uncertainty of a synthetic PET: the SD over the estimator's members.

Members are (valid model) x (test-time augmentation) (:mod:`gla_model.uncertainty.members`):
the *primary* model is the one whose plain prediction is the PET written (a test-fold
subject's fold model, the full model for MRI-only subjects), the others are further valid
models (the fold models, for MRI-only subjects). Each model runs its augmented inputs as
one batch through its generator (:data:`MEMBER_BATCH` at a time); the primary's identity
member is the plain prediction itself, computed exactly as without uncertainty.

Per subject this gives ``sd`` (sample SD over every member, per voxel; NaN border voxels of
shifted members left out), written as the ``desc-synthsd`` map, and one SD per model over
its own augmentations. ``uncertainty.tsv`` holds their means in the brain: ``sd_mean``
(every member), ``sd_primary`` (the primary model's augmentations) and ``sd_fold_models``
(the mean over the fold models among the members of each one's own augmentation SD; n/a
without one). For a test-fold subject the three are equal. Between test-fold and MRI-only
subjects ``sd_fold_models`` compares like with like: the spread of a model under test-time
augmentation is largely a property of the model (on the tiny demo preset every subject got
0.0015 from either fold model and 0.0023 from the full model), so an MRI-only subject's
``sd_primary`` (the full model's) sits above every test-fold subject's for that reason
alone.

**Out-of-distribution inputs** (:mod:`gla_model.uncertainty.typicality`): a flagged subject
gets a logged warning, ``out_of_distribution`` True, and both SDs raised voxelwise to at
least :meth:`~gla_model.uncertainty.typicality.TypicalityReference.prior_rms` of its PET,
the RMS difference between that PET and the training subjects' real PETs: for an input the
model has no business reading, its PET is worth no more than a guess from the training
cohort, and that is the uncertainty written. The members' spread alone is no sign of such an
input. Measured on a contrast-inverted and a dimmed copy of a held-out T1w against the T1w
itself: a 2-epoch GLA-GAN of the tiny demo preset (dimmed to 60 %), spread x0.97 and x0.95;
the phantom models of tests/test_uncertainty_ood.py (dimmed to 55 %), x0.69 and x0.51
after 8 epochs, x1.7 and x2.5 after 20 (the error x1.8 and x2.1, and five times the
spread, as for the typical input).
Whether the spread rises depends on the model; it is never large next to the error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import nibabel as nib
import numpy as np
import pandas as pd

from gla_model import vocabulary
from gla_model.errors import ConfigError
from gla_model.layout import model_folder
from gla_model.niftiio import load_image
from gla_model.tsvio import write_table
from gla_model.uncertainty.members import IDENTITY, Augmentation
from gla_model.uncertainty.typicality import MARGIN, TypicalityReference

log = logging.getLogger(__name__)

#: Augmented inputs per generator pass.
MEMBER_BATCH = 8
#: Columns of ``uncertainty.tsv`` (:func:`gla_model.layout.synthesis_uncertainty_table`).
UNCERTAINTY_COLUMNS = ("participant_id", "model", "n_members", "sd_mean", "sd_primary",
                       "sd_fold_models", "input_typicality", "typicality_threshold",
                       "out_of_distribution")
#: How ``uncertainty.tsv`` spells a value that could not be measured (BIDS).
NOT_AVAILABLE = "n/a"


class Synthesizer(Protocol):
    """What the estimator needs of :class:`gla_model.synthesize.Synthesizer`."""

    grid: int
    record: dict[str, Any]

    def checked_input(self, *, mri: Path) -> tuple[nib.Nifti1Image, np.ndarray]: ...

    def predict(self, volume: np.ndarray) -> np.ndarray: ...

    def batch(self, volumes: np.ndarray) -> np.ndarray: ...

    def output_image(self, data: np.ndarray, *, like: nib.Nifti1Image
                     ) -> nib.Nifti1Image: ...


@dataclass(frozen=True)
class Estimate:
    """One subject's PET (the primary model's plain prediction), its SD map (both float32
    with the T1w's geometry and header) and its ``uncertainty.tsv`` row."""

    pet: nib.Nifti1Image
    sd: nib.Nifti1Image
    row: dict[str, Any]


@dataclass(frozen=True)
class Estimator:
    """Valid models (the primary first), the augmentations each runs, and the
    out-of-distribution reference (None: not checked)."""

    models: tuple[Synthesizer, ...]
    augmentations: tuple[Augmentation, ...]
    reference: TypicalityReference | None

    @property
    def primary(self) -> Synthesizer:
        return self.models[0]

    @property
    def n_members(self) -> int:
        return len(self.models) * len(self.augmentations)

    def estimate(self, *, participant_id: str, mri: Path, mask: Path | None) -> Estimate:
        """The PET and SD of one preprocessed T1w file (checked by the primary model).

        Args:
            mask: the subject's brain mask; None: the T1w's nonzero voxels (preprocessing
                zeroes everything outside the brain).
        """
        image, volume = self.primary.checked_input(mri=mri)
        brain = (volume != 0 if mask is None else
                 np.asarray(load_image(mask, role="brain mask").dataobj) != 0)
        pet = self.primary.predict(volume)
        members = [[pet, *_members(self.primary, volume, self.augmentations[1:])],
                   *(_members(model, volume, self.augmentations) for model in self.models[1:])]
        per_model = [member_sd(own) for own in members]  # the primary's first
        sd = (member_sd([m for own in members for m in own]) if len(members) > 1
              else per_model[0])
        score, threshold, flagged = np.nan, np.nan, None
        if self.reference is not None:
            score = self.reference.score(t1w=volume, brain=brain)
            threshold, flagged = self.reference.threshold, self.reference.is_outlier(score)
        if flagged:
            floor = self.reference.prior_rms(pet)
            log.warning(
                "sub-%s: the T1w %s is unlike the model's %d training T1w (typicality %.3g "
                "> %.3g, %g x the median leave-one-out value of the training subjects): "
                "its synthetic PET is not to be trusted. Its uncertainty (mean SD %.3g over "
                "%d members) is raised to at least the RMS difference from the training "
                "PETs (mean %.3g)", participant_id, mri, len(self.reference.subjects), score,
                threshold, MARGIN, sd[brain].mean(), self.n_members, floor[brain].mean())
            sd, per_model = np.maximum(sd, floor), [np.maximum(s, floor) for s in per_model]
        folds = [float(s[brain].mean()) for s, model in zip(per_model, self.models, strict=True)
                 if str(model.record["fold"]) != vocabulary.FULL_FOLD]
        row = {"participant_id": participant_id,
               "model": model_folder(self.primary.record["fold"]),
               "n_members": self.n_members, "sd_mean": float(sd[brain].mean()),
               "sd_primary": float(per_model[0][brain].mean()),
               "sd_fold_models": float(np.mean(folds)) if folds else np.nan,
               "input_typicality": score, "typicality_threshold": threshold,
               "out_of_distribution": NOT_AVAILABLE if flagged is None else bool(flagged)}
        return Estimate(pet=self.primary.output_image(pet, like=image),
                        sd=self.primary.output_image(sd, like=image), row=row)


def build_estimator(*, models: Sequence[Synthesizer], names: Sequence[str],
                    augmentations: Sequence[Augmentation],
                    reference: TypicalityReference | None) -> Estimator:
    """An :class:`Estimator`, checked: one variant and grid, the identity first and at least
    one augmentation besides. ``names`` (the checkpoint files) name the models in messages.

    Which subjects a model may score is checked by the caller with
    :func:`gla_model.uncertainty.members.check_valid_members`.
    """
    augmentations = tuple(augmentations)
    if not augmentations or augmentations[0] != IDENTITY:
        raise ValueError("the augmentations must start with the identity")
    primary = models[0].record
    for name, model in zip(names, models, strict=True):
        if (model.record["variant"], model.grid) != (primary["variant"], models[0].grid):
            raise ConfigError(
                f"{name} is a {model.grid}^3 {model.record['variant']!r} model, {names[0]} a "
                f"{models[0].grid}^3 {primary['variant']!r} one: an estimator's models must "
                "be one variant on one grid")
    if len(augmentations) < 2:
        raise ConfigError("the uncertainty needs test-time augmentation (each model's own "
                          "spread is reported): enable uncertainty.tta_flip or set "
                          "uncertainty.tta_shift above 0")
    return Estimator(models=tuple(models), augmentations=augmentations, reference=reference)


def member_sd(members: Sequence[np.ndarray]) -> np.ndarray:
    """Voxelwise sample SD (ddof 1) over ``members``, NaN values left out; float32. Every
    voxel needs two values (the identity and the mirror or a shift always give them)."""
    stack = np.stack(members).astype(np.float64)
    valid = ~np.isnan(stack)
    count = valid.sum(axis=0)
    if (count < 2).any():
        raise ValueError("some voxels have fewer than two members")
    mean = np.where(valid, stack, 0.0).sum(axis=0) / count
    squares = np.where(valid, (stack - mean) ** 2, 0.0).sum(axis=0)
    return np.sqrt(squares / (count - 1)).astype(np.float32)


def write_uncertainty_table(*, rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """``uncertainty.tsv`` of a synthesis folder (:data:`UNCERTAINTY_COLUMNS`)."""
    table = pd.DataFrame(list(rows), columns=list(UNCERTAINTY_COLUMNS))
    return write_table(table.fillna({c: NOT_AVAILABLE for c in (
        "sd_fold_models", "input_typicality", "typicality_threshold")}), path)


def _members(model: Synthesizer, volume: np.ndarray,
             augmentations: Sequence[Augmentation]) -> list[np.ndarray]:
    """The outputs of ``model`` on the augmented ``volume``, brought back onto its voxels."""
    outputs = []
    for start in range(0, len(augmentations), MEMBER_BATCH):
        chunk = augmentations[start:start + MEMBER_BATCH]
        pets = model.batch(np.stack([a.forward(volume) for a in chunk]))
        outputs += [a.inverse(p) for a, p in zip(chunk, pets, strict=True)]
    return outputs
