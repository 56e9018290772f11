"""The ANTs backend's steps as pure functions on nibabel images and arrays.

Each step of the paper's chain is one function here; each nipype interface of
:mod:`gla_model.preprocess.interfaces.ants` reads its files, calls one of the functions
of the "node steps" section below and writes the result. Transforms are RAS pull maps
(see :mod:`gla_model.preprocess.spatial`).
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import ants
import nibabel as nib
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from gla_model import resources
from gla_model.preprocess.spatial import (
    ants_transform_to_matrix,
    from_ants,
    matrix_to_ants_transform,
    resample,
    to_ants,
    voxel_size_mm,
)

#: Percentile of brain intensities that maps to 1.0 in the normalized T1w.
T1_NORMALIZATION_PERCENTILE = 99.5
#: :data:`gla_model.vocabulary.TISSUES` in T1w intensity order (CSF < GM < WM), the
#: order that starts the mixture fit of :func:`segment_tissues`.
TISSUES = ("CSF", "GM", "WM")
N4_CONVERGENCE = {"iters": [20, 20], "tol": 1e-4}
#: Where ROBEX's atlas head lies relative to MNI: the rigid pull map (RAS, mm) MNI ->
#: ROBEX 1.2's ``ref_vols/atlas.nii.gz``, measured once by :func:`register_affine` (Rigid,
#: 2 mm, every voxel) of that atlas times its ``atlas_mask`` to the bundled MNI152 with its
#: brain mask: pitched 20 degrees nose-up, 13 mm forward.
ROBEX_ATLAS_FROM_MNI = np.eye(4)
ROBEX_ATLAS_FROM_MNI[:3, :3] = Rotation.from_euler("xyz", [20.2, 3.4, -0.4],
                                                   degrees=True).as_matrix()
ROBEX_ATLAS_FROM_MNI[:3, 3] = [-0.14, 13.22, -8.94]


def register_affine(*, fixed: nib.Nifti1Image, moving: nib.Nifti1Image, kind: str,
                    spacing_mm: float, initial: np.ndarray | None = None,
                    fixed_mask: nib.Nifti1Image | None = None,
                    fixed_mask_dilation_mm: float = 6.0, sampling_rate: float = 0.2,
                    seed: int = 1) -> np.ndarray:
    """Register ``moving`` to ``fixed`` (both resampled to ``spacing_mm``), Mattes MI.

    Args:
        kind: ``"Rigid"`` (6 dof) or ``"Affine"`` (12 dof).
        initial: a RAS pull map (fixed -> moving) to start from; by default the
            centres of mass are aligned.
        fixed_mask: only voxels of this mask (dilated by ``fixed_mask_dilation_mm``)
            drive the metric, so that scalp and neck are ignored.
        sampling_rate: fraction of voxels the metric samples at random.
        seed: seed of the metric's random sampling (same seed, same result).
    Returns:
        The RAS pull map from ``fixed`` world points to ``moving`` world points.
    """
    if kind not in ("Rigid", "Affine"):
        raise ValueError(f"kind must be 'Rigid' or 'Affine', got {kind!r}")
    spacing = (float(spacing_mm),) * 3
    fixed_ants = ants.resample_image(to_ants(fixed), spacing, False, 0)
    moving_ants = ants.resample_image(to_ants(moving), spacing, False, 0)
    mask_ants = None
    if fixed_mask is not None:
        mask = np.asarray(fixed_mask.dataobj) > 0
        steps = round(fixed_mask_dilation_mm / min(fixed_mask.header.get_zooms()[:3]))
        if steps > 0:
            mask = ndimage.binary_dilation(mask, iterations=steps)
        mask_image = to_ants(nib.Nifti1Image(mask.astype(np.float32), fixed_mask.affine))
        mask_ants = ants.resample_image_to_target(mask_image, fixed_ants,
                                                  interp_type="nearestNeighbor")
    with tempfile.TemporaryDirectory(prefix="gla-reg-") as folder:
        initial_files = None
        if initial is not None:
            path = str(Path(folder) / "initial.mat")
            ants.write_transform(matrix_to_ants_transform(initial), path)
            initial_files = [path]
        # ANTsPy 0.6.3 ignores registration(random_seed=) and passes ants.config's seed
        # to antsRegistration; without it the metric's random sampling differs per run.
        ants.config._random_seed = seed
        result = ants.registration(
            fixed=fixed_ants, moving=moving_ants, type_of_transform=kind, mask=mask_ants,
            initial_transform=initial_files, aff_metric="mattes",
            aff_random_sampling_rate=sampling_rate, outprefix=str(Path(folder) / "reg_"))
        return ants_transform_to_matrix(ants.read_transform(result["fwdtransforms"][0]))


def pull_to_native(*, image: nib.Nifti1Image, native: nib.Nifti1Image,
                   mni_to_native: np.ndarray) -> np.ndarray:
    """Sample an MNI-space ``image`` on the native grid (linear interpolation)."""
    return resample(image=image, shape=native.shape, affine=native.affine,
                    pull=np.linalg.inv(mni_to_native), order=1)


def priors_in_native(*, priors: dict[str, nib.Nifti1Image], native: nib.Nifti1Image,
                     mask: np.ndarray, mni_to_native: np.ndarray) -> dict[str, np.ndarray]:
    """MNI tissue priors sampled at the native ``mask`` voxels (full arrays, 0 outside)."""
    ijk = np.argwhere(mask)
    native_world = ijk @ native.affine[:3, :3].T + native.affine[:3, 3]
    native_to_mni = np.linalg.inv(mni_to_native)
    out = {}
    for name, image in priors.items():
        to_voxel = np.linalg.inv(image.affine) @ native_to_mni
        voxels = native_world @ to_voxel[:3, :3].T + to_voxel[:3, 3]
        volume = np.zeros(mask.shape, dtype=np.float32)
        volume[mask] = ndimage.map_coordinates(np.asarray(image.dataobj, dtype=np.float32),
                                               voxels.T, order=1, cval=0.0)
        out[name] = volume
    return out


def rough_brain(*, t1: np.ndarray, voxel_mm: float, erosion_mm: float = 3.0) -> np.ndarray:
    """Brain tissue cut from the head before any alignment (a rough skull strip).

    GM and WM are brighter than the Otsu threshold of the head, and the dark skull and
    CSF separate them from the scalp. After an erosion of ``erosion_mm`` (which breaks
    the thin scalp shell) the largest bright component is kept, grown back inside the
    bright voxels, closed and its holes filled.
    """
    values = t1[t1 > np.percentile(t1, 2)]
    bright = t1 > _otsu(values)
    steps = max(1, round(erosion_mm / voxel_mm))
    labels, count = ndimage.label(ndimage.binary_erosion(bright, iterations=steps))
    if count == 0:
        raise ValueError("no bright tissue left after erosion; the T1w has no brain contrast")
    sizes = ndimage.sum(labels > 0, labels, range(1, count + 1))
    seed = labels == (int(np.argmax(sizes)) + 1)
    grown = ndimage.binary_dilation(seed, iterations=steps) & bright
    return ndimage.binary_fill_holes(ndimage.binary_closing(grown, iterations=steps))


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    counts, edges = np.histogram(values, bins=bins)
    centers = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    mean_low = np.cumsum(counts * centers) / np.maximum(weight_low, 1)
    mean_high = ((counts * centers).sum() - np.cumsum(counts * centers)) / np.maximum(
        weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centers[int(np.argmax(between))])


def extract_brain(*, t1: np.ndarray, template_mask: np.ndarray, voxel_mm: float,
                  band_mm: float = 1.5) -> np.ndarray:
    """Brain mask from the template mask brought to native space, refined by intensity.

    Inside a band of ``band_mm`` around the template mask's edge, voxels darker than
    the midpoint between the band's dark (CSF/skull) and the brain's tissue levels are
    dropped and bright voxels are kept; the result is opened, its largest component
    kept and its holes filled.
    """
    prior = template_mask > 0.5
    steps = max(1, round(band_mm / voxel_mm))
    core = ndimage.binary_erosion(prior, iterations=steps)
    band = ndimage.binary_dilation(prior, iterations=steps) & ~core
    if not core.any() or not band.any():
        return prior
    tissue_level = np.median(t1[core])
    dark_level = np.percentile(t1[band], 10)
    threshold = 0.5 * (tissue_level + dark_level)
    mask = core | (band & (t1 > threshold))
    mask = ndimage.binary_opening(mask, iterations=1) | core
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum(mask, labels, range(1, count + 1))
        mask = labels == (int(np.argmax(sizes)) + 1)
    mask = ndimage.binary_closing(mask, iterations=2) & ndimage.binary_dilation(prior,
                                                                                 iterations=steps)
    return ndimage.binary_fill_holes(mask)


def correct_bias(*, t1: nib.Nifti1Image, mask: np.ndarray) -> nib.Nifti1Image:
    """N4 bias-field correction inside ``mask`` (shrink factor 4, 2 levels x 20 iterations:
    N4's time is per iteration, and the demo's smooth fields need no more)."""
    image = to_ants(t1)
    mask_image = image.new_image_like(mask.astype(np.float32))
    corrected = ants.n4_bias_field_correction(image, mask=mask_image, shrink_factor=4,
                                              convergence=N4_CONVERGENCE)
    return from_ants(corrected)


def normalize_t1(*, t1: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """T1w divided by its 99.5th percentile inside ``mask``, clipped to [0, 1], 0 outside."""
    scale = float(np.percentile(t1[mask], T1_NORMALIZATION_PERCENTILE))
    if scale <= 0:
        raise ValueError("the brain has no positive intensity; check the T1w image")
    return (np.clip(t1 / scale, 0.0, 1.0) * mask).astype(np.float32)


def segment_tissues(*, t1: np.ndarray, mask: np.ndarray, priors: dict[str, np.ndarray],
                    iterations: int = 15, max_fit_voxels: int = 200_000
                    ) -> dict[str, np.ndarray]:
    """CSF/GM/WM probabilities by a 3-class Gaussian mixture with spatial priors (EM).

    The posterior of class k at a voxel is proportional to prior_k(voxel) times a
    Gaussian likelihood of the intensity. The classes start from the T1w order
    CSF < GM < WM: sorted intensities are cut into bands as large as each class's
    total prior mass. Means and variances are re-estimated on a regular subsample
    of at most ``max_fit_voxels`` voxels, then every voxel's posterior is computed
    once. 0 outside ``mask``.
    """
    values = t1[mask].astype(np.float64)
    log_prior = np.log(np.stack([np.clip(priors[name][mask], 0.0, None) + 1e-3
                                 for name in TISSUES]).astype(np.float64))
    log_prior -= np.log(np.exp(log_prior).sum(axis=0))
    step = max(1, values.size // max_fit_voxels)
    sample, sample_log_prior = values[::step], log_prior[:, ::step]
    floor = 1e-6 * sample.var() + 1e-12
    ordered = np.sort(sample)
    edges = np.concatenate([[0.0], np.cumsum(np.exp(sample_log_prior).sum(axis=1))])
    edges = np.round(edges / edges[-1] * ordered.size).astype(int)
    bands = [ordered[a:max(b, a + 1)] for a, b in itertools.pairwise(edges)]
    mean = np.array([band.mean() for band in bands])
    var = np.maximum(np.array([band.var() for band in bands]), floor)
    for _ in range(iterations):
        posterior = _posterior(sample, sample_log_prior, mean, var)
        weight = posterior.sum(axis=1) + 1e-9
        mean = posterior @ sample / weight
        var = np.maximum((posterior * (sample - mean[:, None]) ** 2).sum(axis=1) / weight, floor)
    posterior = _posterior(values, log_prior, mean, var)
    out = {}
    for index, name in enumerate(TISSUES):
        volume = np.zeros(mask.shape, dtype=np.float32)
        volume[mask] = posterior[index]
        out[name] = volume
    return out


def _posterior(values: np.ndarray, log_prior: np.ndarray, mean: np.ndarray,
               var: np.ndarray) -> np.ndarray:
    log_post = log_prior - 0.5 * (np.log(var)[:, None]
                                  + (values - mean[:, None]) ** 2 / var[:, None])
    log_post -= log_post.max(axis=0)
    posterior = np.exp(log_post)
    return posterior / posterior.sum(axis=0)


# ---------------------------------------------------------------- node steps
# One function per node of the ants workflow (gla_model.preprocess.interfaces.ants).
def register(*, moving: nib.Nifti1Image, kind: str, spacing_mm: float,
             fixed: nib.Nifti1Image | None, fixed_mask: nib.Nifti1Image | None,
             template: str | None, moving_mask: np.ndarray | None,
             initial: np.ndarray | None, fixed_mask_dilation_mm: float,
             sampling_rate: float) -> np.ndarray:
    """:func:`register_affine` of ``moving`` (times ``moving_mask`` when given) to
    ``fixed``, or to the MNI template (``template``, default the bundled MNI152) with the
    MNI brain mask as ``fixed_mask`` when ``fixed`` is None. Returns the RAS pull map."""
    if moving_mask is not None:
        moving = nib.Nifti1Image(moving.get_fdata(dtype=np.float32) * (moving_mask > 0),
                                 moving.affine)
    if fixed is None:
        fixed = resources.mni_template(path=template or None, resolution_mm=1)
        fixed_mask = resources.mni_brain_mask(resolution_mm=1)
    return register_affine(fixed=fixed, moving=moving, kind=kind, spacing_mm=spacing_mm,
                           initial=initial, fixed_mask=fixed_mask,
                           fixed_mask_dilation_mm=fixed_mask_dilation_mm,
                           sampling_rate=sampling_rate)


def rough_skull_strip(*, t1w: nib.Nifti1Image, margin_mm: float) -> np.ndarray:
    """The T1w (float32) times its :func:`rough_brain` mask dilated by ``margin_mm``."""
    data = t1w.get_fdata(dtype=np.float32)
    voxel_mm = voxel_size_mm(t1w.affine)
    mask = rough_brain(t1=data, voxel_mm=voxel_mm)
    mask = ndimage.binary_dilation(mask, iterations=max(1, round(margin_mm / voxel_mm)))
    return data * mask


def robex_pose(*, affine: np.ndarray, mni_to_native: np.ndarray) -> np.ndarray:
    """The header that puts an image (``affine``) where ROBEX's atlas head lies, given its
    rigid ``mni_to_native`` pull map: ROBEX registers to its atlas from the image's own
    pose and, 20 degrees or more away, can cut off a lobe (seen on demo heads, whose AC-PC
    pose is MNI's). Voxels do not move, so ROBEX's mask fits the original image."""
    return ROBEX_ATLAS_FROM_MNI @ np.linalg.inv(mni_to_native) @ np.asarray(affine)


def mask_on_grid(*, image: nib.Nifti1Image, mask: nib.Nifti1Image,
                 atol_mm: float = 1e-3) -> np.ndarray:
    """``mask`` (> 0) as a boolean array on ``image``'s voxels; ValueError when its grid
    (shape, affine within ``atol_mm``) is not ``image``'s or it is empty."""
    name, mask_name = image.get_filename(), mask.get_filename()
    same_voxels = mask.shape[:3] == image.shape[:3] and np.prod(mask.shape[3:]) == 1
    if not same_voxels or not np.allclose(mask.affine, image.affine, atol=atol_mm):
        raise ValueError(f"the mask {mask_name} is not on the grid of {name} (shape "
                         f"{mask.shape} vs {image.shape})")
    data = np.asarray(mask.dataobj).reshape(image.shape[:3]) > 0
    if not data.any():
        raise ValueError(f"the mask {mask_name} of {name} is empty: ROBEX found no brain")
    return data


def brain_mask(*, t1w: nib.Nifti1Image, mni_to_native: np.ndarray) -> np.ndarray:
    """The MNI brain mask pulled to the T1w grid, refined by :func:`extract_brain`."""
    template_mask = pull_to_native(image=resources.mni_brain_mask(resolution_mm=1),
                                   native=t1w, mni_to_native=mni_to_native)
    return extract_brain(t1=t1w.get_fdata(dtype=np.float32), template_mask=template_mask,
                         voxel_mm=voxel_size_mm(t1w.affine))


def bias_correct(*, t1w: nib.Nifti1Image, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N4-corrected T1w, its :func:`normalize_t1` version) as float32 arrays on the T1w
    grid; ``mask`` is the brain (boolean)."""
    corrected = correct_bias(t1=t1w, mask=mask).get_fdata(dtype=np.float32)
    return corrected, normalize_t1(t1=corrected, mask=mask)


def segment(*, t1w: nib.Nifti1Image, mask: np.ndarray,
            mni_to_native: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`segment_tissues` with the MNI tissue priors pulled to the T1w grid."""
    priors = priors_in_native(priors=resources.tissue_priors(resolution_mm=1), native=t1w,
                              mask=mask, mni_to_native=mni_to_native)
    return segment_tissues(t1=t1w.get_fdata(dtype=np.float32), mask=mask, priors=priors)


def to_model_grid(*, image: nib.Nifti1Image, pull: np.ndarray, size: int,
                  binarize: bool) -> nib.Nifti1Image:
    """``image`` on the ``size``^3 model grid through the MNI -> image ``pull`` map, in one
    anti-aliased linear resampling; ``binarize`` thresholds at 0.5 (masks)."""
    shape, affine = resources.model_grid(size=size)
    data = resample(image=image, shape=shape, affine=affine, pull=pull, order=1,
                    smooth_to_mm=voxel_size_mm(affine))
    if binarize:
        data = (data >= 0.5).astype(np.float32)
    return nib.Nifti1Image(data, affine)
