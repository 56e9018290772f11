"""AAL ROI features: regional MRI (tissue density by default) and PET of the 116 AAL regions.

Features (116 x 4): ``mri_gm_<i>``, ``mri_wm_<i>``, ``pet_gm_<i>``, ``pet_wm_<i>``,
i = AAL label 1..116. What the MRI columns hold is ``features.mri``:

* ``density`` (the default): regional GM and WM tissue density. ``mri_gm_<i>`` is the mean
  GM probability over *every* brain-mask voxel of region i, ``mri_wm_<i>`` the mean WM
  probability over the same voxels: the fraction of the region that is grey (white)
  matter, which falls with atrophy (GM turns into CSF).
* ``intensity``: the mean T1w intensity within the region's GM (WM) voxels.

PET columns are the same for both: the mean PET (the preprocessed SUVR image) within the
region's GM (WM) voxels. A voxel's tissue is the argmax of the subject's GM, WM and CSF
probabilities inside the brain mask (ties go to GM, then WM; voxels whose three
probabilities are all 0 get no tissue and count only towards the density). Argmax
partitions the brain, unlike ``probseg > 0.5``, which leaves voxels with mixed tissue out
of every region.

**Modulation: none, on purpose.** The preprocessing normalizes each brain to MNI with an
affine only (no nonlinear warp). Without modulation the density of a region is the mean
tissue probability inside a fixed MNI region after the head has been scaled to the
template, i.e. the region's tissue *fraction*, which is already head-size normalized
(a proportional correction for total intracranial volume). Modulating by the Jacobian
determinant of the affine would multiply every density of a subject by one number, the
head-size factor, turning fractions back into native volumes: it would add head size
as a between-subject confound (which then needs a TIV covariate) and no atrophy
information. (Modulation matters after a *nonlinear* warp, whose local Jacobian carries
the atrophy that the warp has squeezed away; there is none here.)

A region with no voxel of a tissue (or, for density, no brain voxel) gets 0.0, the same
for every subject, so a classifier sees a constant. NaN means only "no PET image": with
``--source real`` MRI-only subjects are kept, with NaN PET features, so that MRI-only
experiments need no synthetic source. ``pet_origin`` names the PET used: ``real``,
``fold-<k>`` (the model of the fold in which the subject is test), ``full`` (the model
trained on all paired subjects, for MRI-only subjects) or ``none``.

All sums of one subject come from one ``np.bincount`` over (image, tissue class, region)
bins; the per-tissue means (PET, intensity) and the region means (density) are both read
off those sums. Images are read from disk as float32 and summed in float64.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from gla_model import vocabulary
from gla_model.cohort.table import cohort_frame, read_cohort_table
from gla_model.errors import ConfigError, InputImageError
from gla_model.layout import fold_synthetic_pets, preprocessed_path, synthetic_pet_path
from gla_model.niftiio import load_image
from gla_model.resources import AAL_REGION_COUNT
from gla_model.settings import job_value, read_job_settings
from gla_model.tsvio import read_table, write_table
from gla_model.vocabulary import REAL_PET, TISSUES

LOG = logging.getLogger(__name__)

#: ``pet_origin`` of a subject's own PET, and of a subject without PET.
PET_ORIGIN_REAL, PET_ORIGIN_NONE = "real", "none"
FEATURE_TISSUES = ("gm", "wm")
MODALITIES = ("mri", "pet")
ID_COLUMNS = ("participant_id", "diagnosis", "group", "source", "pet_origin")
DENSITY, INTENSITY = vocabulary.MRI_FEATURE_KINDS
#: What each ``features.mri`` choice puts in the ``mri_gm_<i>`` / ``mri_wm_<i>`` columns
#: (for the report and the README), and what the PET columns hold.
MRI_FEATURE_DESCRIPTIONS = {
    DENSITY: "regional GM / WM tissue density: the mean GM / WM probability over the "
             "brain-mask voxels of each AAL region after affine normalization to MNI "
             "(unmodulated, i.e. the region's tissue fraction, head-size normalized)",
    INTENSITY: "mean T1w intensity within each AAL region's GM / WM voxels (argmax tissue)",
}
PET_FEATURE_DESCRIPTION = ("mean PET (SUVR) within each AAL region's GM / WM voxels "
                           "(argmax tissue)")
#: Tissue classes of a brain voxel for the sums: GM, WM, and the rest of the brain mask
#: (CSF, or no tissue probability at all), which only the density counts.
N_CLASSES = 3
_OTHER_BRAIN = 2


def feature_columns(*, modalities: tuple[str, ...] = MODALITIES,
                    n_regions: int = AAL_REGION_COUNT) -> list[str]:
    """Feature column names, modality-major, then tissue, then region label."""
    return [f"{modality}_{tissue}_{label}" for modality in modalities
            for tissue in FEATURE_TISSUES for label in range(1, n_regions + 1)]


def tissue_labels(*, probsegs: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
    """Per-voxel tissue index (0 GM, 1 WM, 2 CSF) by argmax inside ``mask``; -1 elsewhere."""
    stack = np.stack([probsegs[tissue] for tissue in TISSUES])
    tissue = np.argmax(stack, axis=0)
    return np.where((mask != 0) & (stack.max(axis=0) > 0), tissue, -1)


def tissue_classes(*, probsegs: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
    """:func:`tissue_labels`, with brain-mask voxels of no tissue counted as CSF (class 2):
    0 GM, 1 WM, 2 other brain voxel, -1 outside the mask."""
    tissue = tissue_labels(probsegs=probsegs, mask=mask)
    return np.where((mask != 0) & (tissue < 0), _OTHER_BRAIN, tissue)


def region_sums(*, images: np.ndarray, labels: np.ndarray, classes: np.ndarray,
                n_classes: int, n_regions: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of each image and voxel count over every (class, region) bin, in one pass.

    Args:
        images: ``(n_images, *shape)`` values.
        labels: ``shape`` integer atlas, 0 = background, 1..n_regions.
        classes: ``shape`` class index; voxels outside ``0..n_classes-1`` are left out.
        n_classes, n_regions: number of classes and of atlas labels.

    Returns:
        ``(n_images, n_classes, n_regions)`` float64 sums and ``(n_classes, n_regions)``
        voxel counts.
    """
    if images.shape[1:] != labels.shape or classes.shape != labels.shape:
        raise InputImageError(
            f"images {images.shape[1:]}, atlas {labels.shape} and tissue {classes.shape} are "
            "on different grids; resample the atlas onto the preprocessing grid."
        )
    if labels.min() < 0 or labels.max() > n_regions:
        raise InputImageError(f"atlas labels must lie in 0..{n_regions}, found "
                              f"{labels.min()}..{labels.max()}")
    n_bins = n_classes * n_regions
    valid = (labels > 0) & (classes >= 0) & (classes < n_classes)
    bins = np.where(valid, classes * n_regions + labels - 1, n_bins).ravel()
    n_images = images.shape[0]
    # Each image gets n_bins + 1 slots (the last collects excluded voxels).
    offsets = (np.arange(n_images) * (n_bins + 1))[:, None]
    sums = np.bincount((bins[None, :] + offsets).ravel(),
                       weights=images.reshape(n_images, -1).astype(np.float64).ravel(),
                       minlength=n_images * (n_bins + 1)).reshape(n_images, n_bins + 1)
    counts = np.bincount(bins, minlength=n_bins + 1)
    return (sums[:, :n_bins].reshape(n_images, n_classes, n_regions),
            counts[:n_bins].reshape(n_classes, n_regions))


def _mean(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``sums / counts`` (counts broadcast over the leading image axis); 0.0 where empty."""
    counts = np.broadcast_to(counts, sums.shape)
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


def region_means(
    *, images: np.ndarray, labels: np.ndarray, tissue: np.ndarray, n_regions: int
) -> np.ndarray:
    """Mean of each image over every (tissue, region) bin, in one vectorized pass.

    Args:
        images: ``(n_images, *shape)`` intensities.
        labels: ``shape`` integer atlas, 0 = background, 1..n_regions.
        tissue: ``shape`` tissue index; only 0 (GM) and 1 (WM) are used.
        n_regions: number of atlas labels.

    Returns:
        ``(n_images, 2, n_regions)`` means; 0.0 where a bin has no voxel.
    """
    sums, counts = region_sums(images=images, labels=labels, classes=tissue,
                               n_classes=len(FEATURE_TISSUES), n_regions=n_regions)
    return _mean(sums, counts)


def roi_features(*, mri: str, t1w: np.ndarray | None, probsegs: dict[str, np.ndarray],
                 mask: np.ndarray, pet: np.ndarray | None, labels: np.ndarray,
                 n_regions: int = AAL_REGION_COUNT) -> np.ndarray:
    """The ``4 * n_regions`` features in :func:`feature_columns` order (see the module
    docstring); the PET features are NaN when ``pet`` is None.

    Args:
        mri: ``density`` or ``intensity`` (``features.mri``).
        t1w: the preprocessed T1w (only read for ``intensity``).
        probsegs: GM, WM and CSF probabilities; mask: the brain mask; labels: the atlas.
    """
    if mri not in vocabulary.MRI_FEATURE_KINDS:
        raise ConfigError(f"MRI features must be one of {list(vocabulary.MRI_FEATURE_KINDS)}, "
                          f"got {mri!r}")
    if mri == DENSITY:
        images = [probsegs["GM"], probsegs["WM"]]
    elif t1w is None:
        raise ConfigError("intensity MRI features need the T1w image")
    else:
        images = [t1w]
    n_mri = len(images)
    if pet is not None:
        images.append(pet)
    classes = tissue_classes(probsegs=probsegs, mask=mask)
    sums, counts = region_sums(images=np.stack(images), labels=labels, classes=classes,
                               n_classes=N_CLASSES, n_regions=n_regions)
    per_tissue = _mean(sums[:, :len(FEATURE_TISSUES)], counts[:len(FEATURE_TISSUES)])
    if mri == DENSITY:
        mri_values = _mean(sums[:n_mri].sum(axis=1), counts.sum(axis=0))  # (GM|WM, region)
    else:
        mri_values = per_tissue[0]  # (tissue, region)
    values = np.full((len(MODALITIES), len(FEATURE_TISSUES), n_regions), np.nan)
    values[0] = mri_values
    if pet is not None:
        values[1] = per_tissue[n_mri]
    return values.ravel()


def subject_features(
    *, preproc_dir: Path, participant_id: str, labels: np.ndarray, pet_path: Path | None,
    mri: str
) -> dict[str, float]:
    """The 464 features of one subject (PET features NaN when ``pet_path`` is None)."""
    def data(path: Path, role: str) -> np.ndarray:
        return load_image(path, role=role).get_fdata(dtype=np.float32)

    def preproc(field: str) -> np.ndarray:
        path = preprocessed_path(preproc_dir=preproc_dir, participant_id=participant_id,
                                 field=field)
        return data(path, f"{field} of sub-{participant_id}")

    values = roi_features(
        mri=mri, t1w=preproc("t1w") if mri == INTENSITY else None,
        probsegs={t: preproc(t) for t in TISSUES}, mask=preproc("mask"),
        pet=None if pet_path is None else data(pet_path, f"PET of sub-{participant_id}"),
        labels=labels)
    return dict(zip(feature_columns(), values.tolist(), strict=True))


def pet_source(
    *, participant_id: str, group: str, source: str, preproc_dir: Path, synth_dir: Path | None
) -> tuple[Path | None, str]:
    """The PET image behind a subject's features and its origin label."""
    if source == REAL_PET:
        if group != vocabulary.PAIRED:
            return None, PET_ORIGIN_NONE
        return preprocessed_path(preproc_dir=preproc_dir, participant_id=participant_id,
                                 field="pet"), PET_ORIGIN_REAL
    if group == vocabulary.MRI_ONLY_SUBJECTS:
        return synthetic_pet_path(synth_dir=Path(synth_dir) / vocabulary.FULL_FOLD,
                                  participant_id=participant_id), vocabulary.FULL_FOLD
    matches = fold_synthetic_pets(variant_dir=synth_dir, participant_id=participant_id)
    if len(matches) != 1:
        raise InputImageError(
            f"paired subject sub-{participant_id} needs exactly one synthetic PET under "
            f"{synth_dir}/fold-*/ (the fold in which it is test), found {len(matches)}; "
            "rerun gla-model synthesize for this variant."
        )
    return matches[0], matches[0].parent.name


def build_features(
    *, cohort: pd.DataFrame, preproc_dir: Path, atlas: Path, source: str,
    synth_dir: Path | None, mri: str
) -> pd.DataFrame:
    """Feature table of every cohort subject, MRI features of kind ``mri`` (see the module
    docstring)."""
    labels = np.rint(load_image(atlas, role="AAL atlas").get_fdata()).astype(np.int64)
    rows = []
    for subject in cohort.itertuples(index=False):
        pet_path, origin = pet_source(participant_id=subject.participant_id,
                                      group=subject.group, source=source,
                                      preproc_dir=preproc_dir, synth_dir=synth_dir)
        features = subject_features(preproc_dir=preproc_dir,
                                    participant_id=subject.participant_id,
                                    labels=labels, pet_path=pet_path, mri=mri)
        rows.append({"participant_id": subject.participant_id, "diagnosis": subject.diagnosis,
                     "group": subject.group, "source": source, "pet_origin": origin,
                     **features})
    LOG.info("features of %d subjects (source %s; MRI: %s; PET: %s)", len(rows), source,
             MRI_FEATURE_DESCRIPTIONS[mri], PET_FEATURE_DESCRIPTION)
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, *feature_columns()])


def read_features(path: Path | str) -> pd.DataFrame:
    """A feature table written by ``gla-model features``."""
    return read_table(path, columns=(*ID_COLUMNS, *feature_columns()), role="features")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model features``."""
    parser.add_argument("--settings", required=True, metavar="JSON",
                        help="features.mri (job settings JSON or its file), as the workflow "
                             "writes it: density or intensity")
    parser.add_argument("--cohort", type=Path, required=True, help="results/cohort/cohort.tsv")
    parser.add_argument("--preproc-dir", type=Path, required=True, help="results/preprocess")
    parser.add_argument("--atlas", type=Path, required=True,
                        help="AAL atlas on the model grid (int labels 0..116)")
    parser.add_argument("--source", required=True,
                        help=f"'{REAL_PET}' for real PET, or a model variant name")
    parser.add_argument("--synth-dir", type=Path,
                        help="results/synthesize/<variant> (only for a variant source)")
    parser.add_argument("--out", type=Path, required=True, help="feature TSV")


def run_command(args: argparse.Namespace) -> None:
    """Compute and write one source's feature table."""
    if (args.source == REAL_PET) == (args.synth_dir is not None):
        raise ConfigError(
            f"--synth-dir is required for a variant source and must be left out for "
            f"--source {REAL_PET} (got source {args.source!r}, synth-dir {args.synth_dir})."
        )
    mri = job_value(read_job_settings(args.settings), "features.mri")
    cohort = cohort_frame(read_cohort_table(path=args.cohort))
    table = build_features(cohort=cohort, preproc_dir=args.preproc_dir, atlas=args.atlas,
                           source=args.source, synth_dir=args.synth_dir, mri=mri)
    write_table(table, args.out)
