"""Image quality of synthetic PET against real PET inside the brain mask (Table I).

Per fold, each test subject's synthetic PET (from the model of the fold in which it is
test) is scored against its real preprocessed PET: SSIM, MS-SSIM, PSNR and MAE, all
restricted to the subject's brain mask, on the [0, 1] intensity scale. Synthetic values
are not clipped: an out-of-range prediction is an error the metrics should see.

The trivial baseline ``mean_train_pet`` predicts, for every test subject of fold k, the
voxelwise mean real PET of fold k's *training* subjects (role ``train``; the validation
carve-out and the test fold are left out, as for the generators' weights).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gla_model import folds as folds_module
from gla_model import ssim as ssim_module
from gla_model import vocabulary
from gla_model.errors import ConfigError, InputImageError
from gla_model.layout import model_folder, preprocessed_names, preprocessed_path, synthetic_pet_path
from gla_model.niftiio import load_image, write_text_atomic
from gla_model.tsvio import write_table

LOG = logging.getLogger(__name__)

BASELINE_VARIANT = vocabulary.MEAN_TRAIN_PET
METRICS = ("ssim", "ms_ssim", "psnr", "mae")
#: SSIM as scikit-image's Gaussian SSIM; MS-SSIM with the loss window (see ``metric_spec``).
SSIM_SPEC = ssim_module.METRIC_SSIM_SPEC
MS_SSIM_SPEC = ssim_module.LOSS_MS_SSIM_SPEC
MS_SSIM_WEIGHTS = ssim_module.PAPER_MS_SSIM_WEIGHTS
MAX_INTENSITY = 1.0
#: The brain mask file, as the metric spec names it.
MASK_NAME = preprocessed_names(participant_id="<id>", has_pet=False)["mask"]


def mae_in_mask(*, prediction: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute difference over the voxels where ``mask`` is non-zero."""
    inside = _mask(mask, like=target)
    return float(np.mean(np.abs(prediction[inside].astype(np.float64) - target[inside])))


def psnr_in_mask(*, prediction: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """``10 log10(MAX^2 / MSE)`` with MAX = 1 and the MSE over the mask; ``inf`` if identical."""
    inside = _mask(mask, like=target)
    mse = float(np.mean((prediction[inside].astype(np.float64) - target[inside]) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(MAX_INTENSITY**2 / mse)


def image_metrics(
    *, prediction: np.ndarray, target: np.ndarray, mask: np.ndarray
) -> dict[str, float]:
    """SSIM, MS-SSIM, PSNR and MAE of one 3D volume pair inside ``mask`` (float64)."""
    if prediction.shape != target.shape or prediction.ndim != 3:
        raise ValueError(
            f"prediction {prediction.shape} and target {target.shape} must be equal 3D shapes"
        )
    _mask(mask, like=target)
    as_tensor = lambda a: torch.from_numpy(np.asarray(a, np.float64))[None, None]  # noqa: E731
    x, y, m = as_tensor(prediction), as_tensor(target), as_tensor(mask != 0)
    with torch.no_grad():
        ssim_value = ssim_module.ssim(x, y, spec=SSIM_SPEC, mask=m)
        ms_ssim_value = ssim_module.ms_ssim(
            x, y, spec=MS_SSIM_SPEC, weights=MS_SSIM_WEIGHTS, mask=m
        )
    return {
        "ssim": float(ssim_value[0]),
        "ms_ssim": float(ms_ssim_value[0]),
        "psnr": psnr_in_mask(prediction=prediction, target=target, mask=mask),
        "mae": mae_in_mask(prediction=prediction, target=target, mask=mask),
    }


def metric_spec() -> dict:
    """The written-down definition of every image-quality number."""
    def window(spec: ssim_module.SsimSpec) -> dict:
        return {"window_voxels": spec.window, "gaussian_sigma_voxels": spec.sigma,
                "data_range": spec.data_range, "k1": spec.k1, "k2": spec.k2}

    return {
        "dimensionality": "3D",
        "intensity_scale": "preprocessed PET in [0, 1] (SUVR / fixed factor); "
                           "synthetic PET not clipped",
        "mask": f"the subject's brain mask ({MASK_NAME}), voxels != 0",
        "ssim": {**window(SSIM_SPEC),
                 "definition": "Wang et al. 2004 map with population (co)variances and "
                               "symmetric edge padding (scikit-image gaussian_weights=True), "
                               "averaged over the mask voxels"},
        "ms_ssim": {**window(MS_SSIM_SPEC), "scales": len(MS_SSIM_WEIGHTS),
                    "weights": list(MS_SSIM_WEIGHTS),
                    "weights_normalised_to_sum_1": True,
                    "downsampling": "2x2x2 average pooling of images and mask",
                    "definition": "prod_j mean_mask(cs_j)^w_j, SSIM at the coarsest scale; "
                                  "the loss's 7-voxel window, the largest that fits 8^3"},
        "psnr": {"definition": "10 * log10(MAX^2 / MSE), MSE over the mask voxels",
                 "MAX": MAX_INTENSITY},
        "mae": {"definition": "mean |synthetic - real| over the mask voxels"},
        "baseline": f"{BASELINE_VARIANT}: voxelwise mean real PET of the fold's training "
                    "subjects (role train), predicted for each test subject",
    }


def write_metric_spec(*, path: Path | str) -> Path:
    """Write ``metric_spec()`` as JSON."""
    return write_text_atomic(json.dumps(metric_spec(), indent=2) + "\n", path)


def mean_pet(*, preproc_dir: Path, participant_ids: list[str]) -> np.ndarray:
    """Voxelwise mean of the subjects' real preprocessed PET (float64)."""
    if not participant_ids:
        raise InputImageError("no training subjects to average for the mean-PET baseline")
    total = None
    for participant_id in participant_ids:
        data = _pet(preproc_dir=preproc_dir, participant_id=participant_id)
        if total is not None and data.shape != total.shape:
            raise InputImageError(
                f"PET of sub-{participant_id} has shape {data.shape}, others {total.shape}; "
                "preprocess every subject on the same grid."
            )
        total = data.astype(np.float64) if total is None else total + data
    return total / len(participant_ids)


def score_variant(
    *, variant: str, folds: pd.DataFrame, preproc_dir: Path, synth_dir: Path | None
) -> pd.DataFrame:
    """Per-subject metrics of every fold's test subjects (columns: participant_id, variant,
    fold, ssim, ms_ssim, psnr, mae). ``synth_dir`` is None for the mean-PET baseline."""
    rows = []
    for fold in folds_module.fold_numbers(folds=folds):
        split = folds_module.fold_subjects(folds=folds, fold=fold)
        folds_module.assert_no_leakage(train=split["train"], val=split["val"], test=split["test"])
        baseline = None
        if synth_dir is None:
            baseline = mean_pet(preproc_dir=preproc_dir, participant_ids=list(split["train"]))
        for participant_id in split["test"]:
            target = _pet(preproc_dir=preproc_dir, participant_id=participant_id)
            mask = load_image(
                preprocessed_path(preproc_dir=preproc_dir, participant_id=participant_id,
                                  field="mask"),
                role="brain mask",
            ).get_fdata()
            if baseline is None:
                path = synthetic_pet_path(synth_dir=Path(synth_dir) / model_folder(fold),
                                          participant_id=participant_id)
                prediction = load_image(path, role="synthetic PET").get_fdata()
            else:
                prediction = baseline
            if prediction.shape != target.shape:
                raise InputImageError(
                    f"synthetic PET of sub-{participant_id} (fold {fold}) has shape "
                    f"{prediction.shape}, the real PET {target.shape}; resynthesize on the "
                    "preprocessing grid."
                )
            metrics = image_metrics(prediction=prediction, target=target, mask=mask)
            rows.append({"participant_id": participant_id, "variant": variant, "fold": fold,
                         **metrics})
        LOG.info("%s fold %d: %d test subjects scored", variant, fold, len(split["test"]))
    return pd.DataFrame(rows, columns=["participant_id", "variant", "fold", *METRICS])


def _pet(*, preproc_dir: Path, participant_id: str) -> np.ndarray:
    path = preprocessed_path(preproc_dir=preproc_dir, participant_id=participant_id,
                             field="pet")
    return load_image(path, role="real PET").get_fdata()


def _mask(mask: np.ndarray, *, like: np.ndarray) -> np.ndarray:
    if mask.shape != like.shape:
        raise ValueError(f"mask shape {mask.shape} does not match the image {like.shape}")
    inside = mask != 0
    if not inside.any():
        raise ValueError("the mask is empty")
    return inside


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model evaluate``."""
    parser.add_argument("--variant",
                        help=f"model variant name, or {BASELINE_VARIANT} for the baseline")
    parser.add_argument("--synth-dir", type=Path,
                        help="results/synthesize/<variant> (not for the baseline)")
    parser.add_argument("--folds", type=Path, help="results/folds/folds.tsv")
    parser.add_argument("--preproc-dir", type=Path, help="results/preprocess")
    parser.add_argument("--out", type=Path, help="per-subject metrics TSV")
    parser.add_argument("--spec-out", type=Path,
                        help="write the metric spec JSON here (alone: only the spec)")


def run_command(args: argparse.Namespace) -> None:
    """Score one variant (or the baseline) and/or write the metric spec."""
    scoring = (args.variant, args.folds, args.preproc_dir, args.out)
    if all(value is None for value in (*scoring, args.synth_dir)) and args.spec_out:
        write_metric_spec(path=args.spec_out)
        return
    if any(value is None for value in scoring):
        raise ConfigError(
            "scoring needs --variant, --folds, --preproc-dir and --out "
            "(or give only --spec-out to write the metric spec)."
        )
    is_baseline = args.variant == BASELINE_VARIANT
    if is_baseline == (args.synth_dir is not None):
        raise ConfigError(
            f"--synth-dir is required for a model variant and must be left out for "
            f"{BASELINE_VARIANT} (got variant {args.variant!r}, synth-dir {args.synth_dir})."
        )
    rows = score_variant(variant=args.variant, folds=folds_module.read_folds(args.folds),
                         preproc_dir=args.preproc_dir, synth_dir=args.synth_dir)
    write_table(rows, args.out)
    if args.spec_out is not None:
        write_metric_spec(path=args.spec_out)
