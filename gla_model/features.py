"""AAL ROI features: mean MRI and PET intensity of the 116 AAL regions within GM and WM.

Tissue: each brain-mask voxel is assigned the tissue of largest probability among the
subject's GM, WM and CSF probseg maps (ties go to GM, then WM; voxels whose three
probabilities are all 0 get no tissue). Argmax partitions the brain, unlike
``probseg > 0.5``, which leaves voxels with mixed tissue out of every region.

Features (116 x 4): ``mri_gm_<i>``, ``mri_wm_<i>``, ``pet_gm_<i>``, ``pet_wm_<i>``,
i = AAL label 1..116. A region with no voxel of the tissue gets 0.0 (the same for every
subject, so a classifier sees a constant). NaN means only "no PET image": with
``--source real`` MRI-only subjects are kept, with NaN PET features, so that MRI-only
experiments need no synthetic source. ``pet_origin`` names the PET used: ``real``,
``fold-<k>`` (the model of the fold in which the subject is test), ``full`` (the model
trained on all paired subjects, for MRI-only subjects) or ``none``.

All means of one subject come from one ``np.bincount`` over (image, tissue, region) bins.
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
from gla_model.tsvio import read_table, write_table
from gla_model.vocabulary import TISSUES

LOG = logging.getLogger(__name__)

REAL_SOURCE = vocabulary.REAL_PET
#: ``pet_origin`` of a subject's own PET, and of a subject without PET.
PET_ORIGIN_REAL, PET_ORIGIN_NONE = "real", "none"
FEATURE_TISSUES = ("gm", "wm")
MODALITIES = ("mri", "pet")
ID_COLUMNS = ("participant_id", "diagnosis", "group", "source", "pet_origin")


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
    if images.shape[1:] != labels.shape or tissue.shape != labels.shape:
        raise InputImageError(
            f"images {images.shape[1:]}, atlas {labels.shape} and tissue {tissue.shape} are "
            "on different grids; resample the atlas onto the preprocessing grid."
        )
    if labels.min() < 0 or labels.max() > n_regions:
        raise InputImageError(f"atlas labels must lie in 0..{n_regions}, found "
                              f"{labels.min()}..{labels.max()}")
    n_bins = len(FEATURE_TISSUES) * n_regions
    valid = (labels > 0) & (tissue >= 0) & (tissue < len(FEATURE_TISSUES))
    bins = np.where(valid, tissue * n_regions + labels - 1, n_bins).ravel()
    n_images = images.shape[0]
    # Each image gets n_bins + 1 slots (the last collects excluded voxels).
    offsets = (np.arange(n_images) * (n_bins + 1))[:, None]
    sums = np.bincount((bins[None, :] + offsets).ravel(),
                       weights=images.reshape(n_images, -1).astype(np.float64).ravel(),
                       minlength=n_images * (n_bins + 1)).reshape(n_images, n_bins + 1)
    counts = np.bincount(bins, minlength=n_bins + 1)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return means[:, :n_bins].reshape(n_images, len(FEATURE_TISSUES), n_regions)


def subject_features(
    *, preproc_dir: Path, participant_id: str, labels: np.ndarray, pet_path: Path | None
) -> dict[str, float]:
    """The 464 features of one subject (PET features NaN when ``pet_path`` is None)."""
    def data(path: Path, role: str) -> np.ndarray:
        return load_image(path, role=role).get_fdata(dtype=np.float64)

    def preproc(field: str) -> np.ndarray:
        path = preprocessed_path(preproc_dir=preproc_dir, participant_id=participant_id,
                                 field=field)
        return data(path, f"{field} of sub-{participant_id}")

    tissue = tissue_labels(probsegs={t: preproc(t) for t in TISSUES}, mask=preproc("mask"))
    images = [preproc("t1w")]
    if pet_path is not None:
        images.append(data(pet_path, f"PET of sub-{participant_id}"))
    means = region_means(images=np.stack(images), labels=labels, tissue=tissue,
                         n_regions=AAL_REGION_COUNT).ravel()
    values = np.full(len(MODALITIES) * len(FEATURE_TISSUES) * AAL_REGION_COUNT, np.nan)
    values[: means.size] = means
    return dict(zip(feature_columns(), values.tolist(), strict=True))


def pet_source(
    *, participant_id: str, group: str, source: str, preproc_dir: Path, synth_dir: Path | None
) -> tuple[Path | None, str]:
    """The PET image behind a subject's features and its origin label."""
    if source == REAL_SOURCE:
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
    synth_dir: Path | None
) -> pd.DataFrame:
    """Feature table of every cohort subject (see the module docstring)."""
    labels = np.rint(load_image(atlas, role="AAL atlas").get_fdata()).astype(np.int64)
    rows = []
    for subject in cohort.itertuples(index=False):
        pet_path, origin = pet_source(participant_id=subject.participant_id,
                                      group=subject.group, source=source,
                                      preproc_dir=preproc_dir, synth_dir=synth_dir)
        features = subject_features(preproc_dir=preproc_dir,
                                    participant_id=subject.participant_id,
                                    labels=labels, pet_path=pet_path)
        rows.append({"participant_id": subject.participant_id, "diagnosis": subject.diagnosis,
                     "group": subject.group, "source": source, "pet_origin": origin,
                     **features})
    LOG.info("features of %d subjects (source %s)", len(rows), source)
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, *feature_columns()])


def read_features(path: Path | str) -> pd.DataFrame:
    """A feature table written by ``gla-model features``."""
    return read_table(path, columns=(*ID_COLUMNS, *feature_columns()), role="features")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model features``."""
    parser.add_argument("--cohort", type=Path, required=True, help="results/cohort/cohort.tsv")
    parser.add_argument("--preproc-dir", type=Path, required=True, help="results/preprocess")
    parser.add_argument("--atlas", type=Path, required=True,
                        help="AAL atlas on the model grid (int labels 0..116)")
    parser.add_argument("--source", required=True,
                        help=f"'{REAL_SOURCE}' for real PET, or a model variant name")
    parser.add_argument("--synth-dir", type=Path,
                        help="results/synthesize/<variant> (only for a variant source)")
    parser.add_argument("--out", type=Path, required=True, help="feature TSV")


def run_command(args: argparse.Namespace) -> None:
    """Compute and write one source's feature table."""
    if (args.source == REAL_SOURCE) == (args.synth_dir is not None):
        raise ConfigError(
            f"--synth-dir is required for a variant source and must be left out for "
            f"--source {REAL_SOURCE} (got source {args.source!r}, synth-dir {args.synth_dir})."
        )
    cohort = cohort_frame(read_cohort_table(path=args.cohort))
    table = build_features(cohort=cohort, preproc_dir=args.preproc_dir, atlas=args.atlas,
                           source=args.source, synth_dir=args.synth_dir)
    write_table(table, args.out)
