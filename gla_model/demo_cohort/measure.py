"""Effect sizes of the demo cohort: regional GM density and PET SUVR per subject, and
Cohen's d of AD vs CN and of MCI vs CN per key region (used by
``benchmarks/cohort_effect_sizes.py`` and the tests).

Two sources of per-subject regional values, with the same definitions as the workflow's
features (:mod:`gla_model.features`, ``features.mri: density``):

* :func:`preprocessed_values`: the preprocessing outputs on the model grid and the AAL
  atlas on that grid: what the classifiers see.
* :func:`truth_values`: the simulator's ground truth, no preprocessing at all: the true
  tissue maps of ``derivatives/truth/`` and the PET resampled onto the T1w grid with the
  true PET-to-T1w transform, each native brain voxel given the AAL label of the MNI point
  it was drawn from (the truth transform). Fast, and free of registration and
  segmentation error.

Both give, per region, the GM density (mean GM probability over the region's brain
voxels), the PET SUVR (mean PET over the region's argmax-GM voxels, divided by the mean
PET of the cerebellar GM, ``preprocessing.reference_region: cerebellum_gm``) and, for the
ventricles, the mean CSF probability of a fixed periventricular box (see
:data:`VENTRICLE_BOX_MM`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

from gla_model import resources
from gla_model.demo_cohort.disease import VENTRICLES, EffectTarget
from gla_model.demo_cohort.plan import DemoSubject
from gla_model.features import roi_features
from gla_model.layout import preprocessed_path
from gla_model.preprocess.pet import CEREBELLUM_PREFIXES, GM_THRESHOLD
from gla_model.vocabulary import DIAGNOSES, TISSUES

#: Where the lateral ventricles' bodies lie in MNI mm (x, y, z low/high): the box whose
#: mean CSF probability stands for ventricular size (the simulator grows the ventricles
#: inside it). Inside the brain mask only.
VENTRICLE_BOX_MM = ((-25.0, -40.0, 0.0), (25.0, 25.0, 30.0))


@dataclass(frozen=True)
class RegionValues:
    """One subject's regional values: AAL label -> GM density and PET SUVR, and the
    ventricular CSF fraction."""

    gm: np.ndarray  # (n_regions,) by label - 1
    pet: np.ndarray  # (n_regions,); NaN without PET
    ventricles: float


def cohens_d(*, group: np.ndarray, reference: np.ndarray) -> float:
    """(mean group - mean reference) / pooled SD (n - 1 weighting); negative when the group
    (AD, MCI) is lower than the reference (CN)."""
    group, reference = np.asarray(group, float), np.asarray(reference, float)
    pooled = ((len(group) - 1) * group.var(ddof=1)
              + (len(reference) - 1) * reference.var(ddof=1)) / (len(group) + len(reference) - 2)
    return float((group.mean() - reference.mean()) / np.sqrt(pooled))


def region_labels(names: dict[int, str], prefix: str) -> list[int]:
    """AAL labels of a bilateral region (``Hippocampus`` -> Hippocampus_L and _R)."""
    labels = [index for index, name in names.items()
              if name.removesuffix("_L").removesuffix("_R") == prefix]
    if not labels:
        raise ValueError(f"no AAL region is named {prefix}_L/_R")
    return labels


def effect_table(*, values: dict[str, RegionValues], diagnoses: dict[str, str],
                 targets: tuple[EffectTarget, ...], names: dict[int, str]) -> pd.DataFrame:
    """Measured Cohen's d against CN per target region: AD (``gm_d``, ``pet_d``, next to the
    targets) and MCI (``gm_d_mci``, ``pet_d_mci``; not targeted, see
    :mod:`gla_model.demo_cohort.disease`). NaN where a group has fewer than 2 subjects with
    a value. Bilateral regions are the mean of their left and right values."""
    groups = {d: [p for p, diagnosis in diagnoses.items() if diagnosis == d and p in values]
              for d in DIAGNOSES}
    rows = []
    for target in targets:
        if target.region == VENTRICLES:
            gm = {p: values[p].ventricles for p in values}
            pet = None
        else:
            labels = np.array(region_labels(names, target.region)) - 1
            gm = {p: float(values[p].gm[labels].mean()) for p in values}
            pet = {p: float(values[p].pet[labels].mean()) for p in values}

        def d(by_subject, diagnosis):
            if by_subject is None:
                return np.nan
            group, reference = ([by_subject[p] for p in groups[name]
                                 if np.isfinite(by_subject[p])] for name in (diagnosis, "CN"))
            if min(len(group), len(reference)) < 2:
                return np.nan
            return cohens_d(group=np.array(group), reference=np.array(reference))

        rows.append({"region": target.region, "gm_d": d(gm, "AD"), "gm_target": target.gm_d,
                     "pet_d": d(pet, "AD"), "pet_target": target.pet_d,
                     "gm_d_mci": d(gm, "MCI"), "pet_d_mci": d(pet, "MCI")})
    return pd.DataFrame(rows)


def ratio(measured: pd.Series, target: pd.Series) -> float:
    """Median of measured / target over the rows with a non-zero target."""
    keep = target.notna() & (target != 0) & measured.notna()
    return float(np.median(measured[keep] / target[keep])) if keep.any() else np.nan


def _summarize(*, gm: np.ndarray, wm: np.ndarray, csf: np.ndarray, mask: np.ndarray,
               pet: np.ndarray | None, labels: np.ndarray, mni: np.ndarray,
               names: dict[int, str], suvr: bool) -> RegionValues:
    """Regional values from tissue maps, PET and atlas labels on one grid (any shape);
    ``suvr``: divide the PET by its cerebellar-GM mean (an already normalized PET is
    taken as it is, as the features take it)."""
    probsegs = {"GM": gm, "WM": wm, "CSF": csf}
    n_regions = resources.AAL_REGION_COUNT
    features = roi_features(mri="density", t1w=None, probsegs=probsegs, mask=mask, pet=pet,
                            labels=labels, n_regions=n_regions).reshape(2, 2, n_regions)
    pet_gm = features[1, 0]
    if pet is not None and suvr:
        cerebellar = [i for i, name in names.items() if name.startswith(CEREBELLUM_PREFIXES)]
        reference = np.isin(labels, cerebellar) & (gm >= GM_THRESHOLD) & (mask > 0)
        pet_gm = pet_gm / pet[reference].mean()
    low, high = np.asarray(VENTRICLE_BOX_MM)
    box = np.all((mni >= low.reshape(3, *[1] * mask.ndim))
                 & (mni <= high.reshape(3, *[1] * mask.ndim)), axis=0) & (mask > 0)
    return RegionValues(gm=features[0, 0], pet=pet_gm, ventricles=float(csf[box].mean()))


def truth_values(*, bids_dir: Path, subject: DemoSubject, atlas: resources.AalAtlas
                 ) -> RegionValues:
    """Regional values of the simulator's ground truth (see the module docstring)."""
    truth = Path(bids_dir) / subject.truth_dir
    prefix = f"sub-{subject.participant_id}"

    def read(name: str) -> nib.Nifti1Image:
        return nib.load(truth / f"{prefix}_space-T1w_{name}.nii.gz")

    mask = np.asarray(read("desc-brain_mask").dataobj) > 0
    tissues = {t: read(f"label-{t}_probseg").get_fdata(dtype=np.float32)[mask]
               for t in TISSUES}
    mni = read("desc-truth_xfm").get_fdata(dtype=np.float32)[mask].T  # (3, n)
    to_atlas = np.linalg.inv(atlas.image.affine)
    labels = ndimage.map_coordinates(np.asarray(atlas.image.dataobj),
                                     to_atlas[:3, :3] @ mni + to_atlas[:3, 3:4], order=0,
                                     cval=0).astype(np.int64)
    pet = None
    if subject.pet is not None:
        t1w = nib.load(Path(bids_dir) / subject.t1w)
        pet_image = nib.load(Path(bids_dir) / subject.pet)
        data = pet_image.get_fdata(dtype=np.float32)
        data = data.mean(axis=3) if data.ndim == 4 else data
        sidecar = json.loads((truth / f"{prefix}_truth.json").read_text())
        pet_to_t1w = np.array(sidecar["pet_to_t1w_world"])
        to_pet = np.linalg.inv(pet_image.affine) @ np.linalg.inv(pet_to_t1w) @ t1w.affine
        voxels = to_pet[:3, :3] @ np.argwhere(mask).T + to_pet[:3, 3:4]
        pet = ndimage.map_coordinates(data, voxels, order=1).astype(np.float32)
    return _summarize(gm=tissues["GM"], wm=tissues["WM"], csf=tissues["CSF"],
                      mask=np.ones(labels.shape, dtype=np.uint8), pet=pet, labels=labels,
                      mni=mni, names=atlas.labels, suvr=True)


def preprocessed_values(*, preproc_dir: Path, participant_id: str, labels: np.ndarray,
                        affine: np.ndarray, names: dict[int, str], with_pet: bool
                        ) -> RegionValues:
    """Regional values of a subject's preprocessing outputs (``labels``: the AAL atlas on
    the model grid, ``affine`` its affine)."""
    def read(field: str) -> np.ndarray:
        path = preprocessed_path(preproc_dir=preproc_dir, participant_id=participant_id,
                                 field=field)
        return nib.load(path).get_fdata(dtype=np.float32)

    ijk = np.indices(labels.shape).reshape(3, -1)
    mni = (affine[:3, :3] @ ijk + affine[:3, 3:4]).reshape(3, *labels.shape)
    return _summarize(gm=read("gm"), wm=read("wm"), csf=read("csf"), mask=read("mask"),
                      pet=read("pet") if with_pet else None, labels=labels, mni=mni,
                      names=names, suvr=False)
