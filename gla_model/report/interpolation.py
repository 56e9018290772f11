"""Fig 11: MRI interpolated linearly from a CN to an AD subject, PET synthesized at every
step, and the RBF-SVM's probability of CN for each step.

Leakage-free by construction: the two subjects are the first CN and the first AD (by
participant_id) among the TEST subjects of one outer fold, the generator is that fold's
model, and the SVM (AD vs CN, the paper's task) is fitted on the real-PET ROI features of
that fold's CN and AD train and val subjects only; MCI subjects take no part. The brain
mask of a step is the union of the two masks; the GM/WM/CSF maps are interpolated with the
MRI, so ROI features follow ``gla_model.features``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gla_model import features
from gla_model import folds as folds_module
from gla_model.classify.svm import fit_svm
from gla_model.layout import preprocessed_path
from gla_model.niftiio import load_image
from gla_model.report.inputs import ReportInputError
from gla_model.resources import AAL_REGION_COUNT
from gla_model.settings import SvmSettings
from gla_model.vocabulary import CLASSIFICATION_TASKS, PAPER_TASK, TISSUES

#: The diagnoses at the two ends of the interpolation (alpha 0, then 1): the paper's task's
#: classes, CN then AD, which are also the SVM's labels 0 and 1.
ENDPOINTS = CLASSIFICATION_TASKS[PAPER_TASK]


@dataclass(frozen=True)
class Volumes:
    """One subject's (or one interpolation step's) preprocessed volumes."""

    mri: np.ndarray
    probsegs: dict[str, np.ndarray]
    mask: np.ndarray
    pet: np.ndarray | None = None


@dataclass(frozen=True)
class Interpolation:
    """Everything Fig 11 shows."""

    participants: dict[str, str]
    real: dict[str, Volumes]
    alphas: np.ndarray
    steps: list[Volumes]
    p_cn_real: dict[str, float]
    p_cn_steps: list[float]

    def table(self) -> pd.DataFrame:
        """One row per column of the figure: column, participant_id, alpha, p_cn."""
        rows = [{"column": "real_CN", "participant_id": self.participants["CN"], "alpha": 0.0,
                 "p_cn": self.p_cn_real["CN"]}]
        rows += [{"column": f"step_{i}", "participant_id": "", "alpha": float(a), "p_cn": p}
                 for i, (a, p) in enumerate(zip(self.alphas, self.p_cn_steps, strict=True))]
        rows.append({"column": "real_AD", "participant_id": self.participants["AD"],
                     "alpha": 1.0, "p_cn": self.p_cn_real["AD"]})
        return pd.DataFrame(rows)


def endpoint_subjects(*, folds: pd.DataFrame, fold: int) -> dict[str, str]:
    """The first CN and the first AD test subject of ``fold``, by participant_id."""
    test = set(folds_module.fold_subjects(folds=folds, fold=str(fold))["test"])
    chosen = {}
    for diagnosis in ENDPOINTS:
        ids = sorted(folds.loc[folds["participant_id"].isin(test)
                               & (folds["diagnosis"] == diagnosis), "participant_id"])
        if not ids:
            raise ReportInputError(f"fold {fold} has no {diagnosis} test subject to interpolate "
                                   "from; choose another report.interpolation_fold.")
        chosen[diagnosis] = ids[0]
    return chosen


def load_volumes(*, preproc_dir: Path, participant_id: str, with_pet: bool) -> Volumes:
    """A subject's preprocessed T1w, tissue maps, brain mask and (optionally) real PET."""
    def read(field: str) -> np.ndarray:
        path = preprocessed_path(preproc_dir=preproc_dir, participant_id=participant_id,
                                 field=field)
        return load_image(path, role=f"{field} of sub-{participant_id}").get_fdata()

    return Volumes(mri=read("t1w"), probsegs={t: read(t) for t in TISSUES}, mask=read("mask"),
                   pet=read("pet") if with_pet else None)


def interpolate(*, start: Volumes, end: Volumes, alpha: float) -> Volumes:
    """``(1 - alpha) * start + alpha * end`` for the MRI and tissue maps; union of masks."""
    mix = lambda a, b: (1.0 - alpha) * a + alpha * b  # noqa: E731
    return Volumes(mri=mix(start.mri, end.mri),
                   probsegs={t: mix(start.probsegs[t], end.probsegs[t]) for t in TISSUES},
                   mask=((start.mask != 0) | (end.mask != 0)).astype(np.uint8))


def roi_features(*, volumes: Volumes, pet: np.ndarray, labels: np.ndarray, mri: str
                 ) -> np.ndarray:
    """The ROI features (order of ``features.feature_columns()``) of the MRI and ``pet``,
    with the run's MRI feature kind (``features.mri``), as the classifier was trained."""
    return features.roi_features(mri=mri, t1w=volumes.mri, probsegs=volumes.probsegs,
                                 mask=volumes.mask, pet=pet, labels=labels,
                                 n_regions=AAL_REGION_COUNT)


def fit_classifier(*, features_real: pd.DataFrame, participant_ids: list[str],
                   diagnoses: Mapping[str, str], svm_config: SvmSettings, seed: int):
    """AD-vs-CN RBF-SVM with Platt scaling (class 1: AD) on the real-PET MRI+PET features
    of the CN and AD subjects among ``participant_ids`` (``diagnoses``: participant ->
    diagnosis; the others, MCI, are left out)."""
    kept = [p for p in participant_ids if diagnoses[p] in ENDPOINTS]
    table = features_real.set_index("participant_id").loc[kept]
    X = table.loc[:, features.feature_columns()].to_numpy(dtype=np.float64)
    if not np.isfinite(X).all():
        raise ReportInputError("real-PET features of the interpolation fold's training "
                               "subjects contain NaN; recompute the real-PET features "
                               "(gla-model features).")
    y = np.array([ENDPOINTS.index(diagnoses[p]) for p in kept])
    return fit_svm(X=X, y=y, svm_config=svm_config, seed=seed, probability=True)


def run_interpolation(*, preproc_dir: Path, atlas: Path, folds: pd.DataFrame, fold: int,
                      features_real: pd.DataFrame, svm_config: SvmSettings, seed: int,
                      steps: int, synthesize: Callable[[np.ndarray], np.ndarray],
                      mri_features: str) -> Interpolation:
    """Interpolate ``steps`` MRIs (alpha 0..1) between the fold's CN and AD endpoints.

    Args:
        synthesize: the fold's generator, mapping a preprocessed T1w array to a PET array
            (:func:`gla_model.synthesize.load_synthesizer`).
        mri_features: ``features.mri`` of the run (the features ``features_real`` holds).
    """
    if steps < 2:
        raise ReportInputError(f"interpolation needs at least 2 steps, got {steps}.")
    participants = endpoint_subjects(folds=folds, fold=fold)
    real = {d: load_volumes(preproc_dir=preproc_dir, participant_id=p, with_pet=True)
            for d, p in participants.items()}
    labels = np.rint(load_image(atlas, role="AAL atlas").get_fdata()).astype(np.int64)
    split = folds_module.fold_subjects(folds=folds, fold=str(fold))
    model = fit_classifier(features_real=features_real,
                           participant_ids=[*split["train"], *split["val"]],
                           diagnoses=dict(zip(folds["participant_id"].astype(str),
                                              folds["diagnosis"], strict=True)),
                           svm_config=svm_config, seed=seed)
    cn_column = list(model.classes_).index(0)

    def p_cn(volumes: Volumes, pet: np.ndarray) -> float:
        row = roi_features(volumes=volumes, pet=pet, labels=labels, mri=mri_features)[None, :]
        return float(model.predict_proba(row)[0, cn_column])

    alphas = np.linspace(0.0, 1.0, steps)
    interpolated = []
    for alpha in alphas:
        step = interpolate(start=real["CN"], end=real["AD"], alpha=float(alpha))
        interpolated.append(Volumes(mri=step.mri, probsegs=step.probsegs, mask=step.mask,
                                    pet=np.asarray(synthesize(step.mri), dtype=np.float64)))
    return Interpolation(
        participants=participants, real=real, alphas=alphas, steps=interpolated,
        p_cn_real={d: p_cn(v, v.pet) for d, v in real.items()},
        p_cn_steps=[p_cn(step, step.pet) for step in interpolated])
