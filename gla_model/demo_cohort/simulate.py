"""Simulation of one synthetic subject: T1w MRI, FDG PET and their ground truth.

Disease model (:mod:`gla_model.demo_cohort.disease`, which cites the published effect
sizes it is calibrated to): an AD subject has a severity ``s``, an MCI subject a fraction
of one drawn the same way; CN subjects have 0. PET hypometabolism in AD-typical regions
scales with ``s``. MRI atrophy (GM loss, larger ventricles) scales with an atrophy score
``ATROPHY_FROM_SEVERITY * s + noise``, so MRI shows the disease only in part, and CN
subjects get mild, disease-free atrophy.

GM loss opens CSF spaces: in an atrophying region a fraction of the GM voxels (small
clusters drawn from a smooth random field, :data:`POCKET_SMOOTHING_MM`) turns into CSF,
as sulci and the temporal horn widen, rather than every voxel losing a little GM (a
uniform partial-volume loss hardly changes a T1w segmentation, whose tissue priors pull
it back to the template).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy import ndimage, special

from gla_model.demo_cohort import geometry
from gla_model.demo_cohort.anatomy import ReferenceAnatomy
from gla_model.demo_cohort.disease import (
    ATROPHY_FROM_SEVERITY,
    ATROPHY_NOISE,
    GM_LOSS_AT_FULL_ATROPHY,
    HYPOMETABOLISM_AT_FULL_SEVERITY,
    MCI_PROGRESS_RANGE,
    POCKET_SMOOTHING_MM,
    REGIONAL_METABOLISM_SD,
    SEVERITY_RANGE,
    VENTRICLE_GROWTH_MM,
)
from gla_model.demo_cohort.plan import DemoSubject

T1W_AXCODES = ("RAS", "LAS", "LPS", "PIR", "ASL")
PET_AXCODES = ("LAS", "RAS", "LPI")
FRAME_SECONDS = 300
#: The truth transform is rounded to 1/32 mm, which makes it compress well.
XFM_STEPS_PER_MM = 32


@dataclass(frozen=True)
class SimulatedSubject:
    """Images of one subject (native space) and the truth that made them."""

    t1w: nib.Nifti1Image
    pet: nib.Nifti1Image | None
    pet_sidecar: dict | None
    brain_mask: nib.Nifti1Image
    tissues: dict[str, nib.Nifti1Image]
    xfm: nib.Nifti1Image
    truth: dict


@dataclass(frozen=True)
class _Tissues:
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    meninges: np.ndarray
    skull: np.ndarray
    scalp: np.ndarray


def simulate_subject(*, subject: DemoSubject, seed: int, anatomy: ReferenceAnatomy,
                     t1_voxel_mm: float, pet_voxel_mm: float) -> SimulatedSubject:
    """Simulate ``subject``; the result depends only on ``seed`` and the subject's index."""
    rng = np.random.default_rng([seed, 1, subject.index])
    severity, progress = _severity(rng, diagnosis=subject.diagnosis)
    atrophy = max(0.0, ATROPHY_FROM_SEVERITY * severity + ATROPHY_NOISE * rng.standard_normal())
    ventricle_mm = max(0.0, rng.normal(1.0, 0.8) + VENTRICLE_GROWTH_MM * atrophy)
    tissues = _tissues(anatomy=anatomy, atrophy=atrophy, ventricle_mm=ventricle_mm,
                       skull_mm=rng.uniform(4, 7), scalp_mm=rng.uniform(4, 7),
                       pockets=_pocket_field(rng, anatomy=anatomy))

    pose = geometry.random_pose(rng, max_rotation_deg=12.0, max_translation_mm=18.0,
                                max_scaling=0.08)
    displacement = geometry.random_displacement(rng, anatomy=anatomy,
                                                rms_mm=rng.uniform(1.0, 2.0), max_mm=4.0)
    head = pose[:3, :3] @ anatomy.head_points.T + pose[:3, 3:4]
    t1_axcodes = str(rng.choice(T1W_AXCODES))
    shape, affine = geometry.grid_around(head, voxel_mm=t1_voxel_mm, axcodes=t1_axcodes,
                                         margins_mm=rng.uniform(2, 10, (2, 3)))
    mni = geometry.mni_coordinates(shape=shape, affine=affine, to_linear=np.linalg.inv(pose),
                                   displacement=displacement)
    t1w_data, truth_maps = _t1w(rng, tissues=tissues, mni=mni, anatomy=anatomy)
    brain = (truth_maps["GM"] + truth_maps["WM"] + truth_maps["CSF"]) >= 0.5
    xfm = np.full((*brain.shape, 3), np.nan, dtype=np.float32)
    steps = np.float32(XFM_STEPS_PER_MM)
    xfm[brain] = np.round(mni[:, brain].T * steps) / steps

    truth = {
        "participant_id": subject.participant_id, "diagnosis": subject.diagnosis,
        "group": subject.group, "seed": seed, "severity": severity,
        "mci_progress": progress,
        "mri_atrophy": atrophy, "ventricle_expansion_mm": ventricle_mm,
        "mni_to_t1w_world": pose.tolist(), "t1w_axcodes": t1_axcodes,
        "displacement_rms_mm": displacement.rms_mm, "displacement_max_mm": displacement.max_mm,
    }
    pet = sidecar = None
    if subject.pet is not None:
        pet, sidecar, pet_truth = _pet(rng, subject=subject, tissues=tissues, anatomy=anatomy,
                                       severity=severity, pose=pose, displacement=displacement,
                                       head=head, voxel_mm=pet_voxel_mm)
        truth.update(pet_truth)
    return SimulatedSubject(
        t1w=_image(t1w_data, affine), pet=pet, pet_sidecar=sidecar,
        brain_mask=_image(brain.astype(np.uint8), affine),
        tissues={name: _probability_image(data, affine) for name, data in truth_maps.items()},
        xfm=_image(xfm, affine), truth=truth,
    )


def _severity(rng: np.random.Generator, *, diagnosis: str) -> tuple[float, float | None]:
    """Disease severity and, for MCI, the fraction of an AD severity it reached (else None).

    CN draws nothing and AD one number, as in the CN/AD-only model, so a cohort without
    MCI keeps its images.
    """
    if diagnosis == "CN":
        return 0.0, None
    ad_severity = float(rng.uniform(*SEVERITY_RANGE))
    if diagnosis == "AD":
        return ad_severity, None
    if diagnosis != "MCI":
        raise ValueError(f"no disease model for diagnosis {diagnosis!r}; expected CN, MCI or AD")
    progress = float(rng.uniform(*MCI_PROGRESS_RANGE))
    return progress * ad_severity, progress


def _pocket_field(rng: np.random.Generator, *, anatomy: ReferenceAnatomy) -> np.ndarray:
    """A smooth random field on the reference grid, uniform on [0, 1] at every voxel."""
    field = ndimage.gaussian_filter(rng.standard_normal(anatomy.gm.shape, dtype=np.float32),
                                    POCKET_SMOOTHING_MM / anatomy.mm)
    return special.ndtr(field / field.std()).astype(np.float32)


def _tissues(*, anatomy: ReferenceAnatomy, atrophy: float, ventricle_mm: float,
             skull_mm: float, scalp_mm: float, pockets: np.ndarray) -> _Tissues:
    """Reference tissue maps after atrophy, ventricle growth and with head shells.

    Atrophy turns the GM of the voxels where ``pockets`` < GM_LOSS_AT_FULL_ATROPHY *
    atrophy * pattern into CSF: that fraction of the region's GM, in small clusters.
    """
    gm, wm, csf = anatomy.gm.copy(), anatomy.wm.copy(), anatomy.csf.copy()
    loss = gm * (pockets < np.float32(GM_LOSS_AT_FULL_ATROPHY * atrophy) * anatomy.atrophy)
    gm -= loss
    csf += loss
    grow = np.clip((ventricle_mm - anatomy.ventricle_mm) / 2.0 + 0.5, 0.0, 1.0)
    grow *= anatomy.depth_mm > 6.0
    moved_gm, moved_wm = gm * grow, wm * grow
    gm -= moved_gm
    wm -= moved_wm
    csf += moved_gm + moved_wm
    outside = anatomy.outside_mm
    return _Tissues(
        gm=gm, wm=wm, csf=csf, meninges=_band(outside, 0.5, 2.0),
        skull=_band(outside, 2.0, 2.0 + skull_mm),
        scalp=_band(outside, 2.0 + skull_mm, 2.0 + skull_mm + scalp_mm),
    )


def _band(distance: np.ndarray, low: float, high: float) -> np.ndarray:
    """Soft shell (1 mm ramps) between ``low`` and ``high`` mm outside the brain."""
    return (np.clip(distance - low + 0.5, 0.0, 1.0)
            - np.clip(distance - high + 0.5, 0.0, 1.0)).astype(np.float32)


def _t1w(rng: np.random.Generator, *, tissues: _Tissues, mni: np.ndarray,
         anatomy: ReferenceAnatomy) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """T1w contrast (WM > GM > CSF, dark bone, bright scalp), bias field, Rician noise."""
    csf_level = rng.uniform(0.15, 0.25)
    contrast = (tissues.wm + np.float32(rng.uniform(0.55, 0.65)) * tissues.gm
                + np.float32(csf_level) * (tissues.csf + tissues.meninges)
                + np.float32(0.06) * tissues.skull
                + np.float32(rng.uniform(1.05, 1.25)) * tissues.scalp)
    voxels = geometry.reference_voxels(mni, anatomy=anatomy)
    signal = geometry.sample(contrast, voxels)
    shape = signal.shape
    box = (slice(None), *_brain_box(mni, anatomy=anatomy))
    brain_voxels = np.ascontiguousarray(voxels[box])
    maps = {}
    for name in ("GM", "WM", "CSF"):
        maps[name] = np.zeros(shape, dtype=np.float32)
        maps[name][box[1:]] = geometry.sample(getattr(tissues, name.lower()), brain_voxels)
    bias = np.exp(np.float32(rng.uniform(0.08, 0.2))
                  * geometry.smooth_random_field(rng, shape=shape, nodes_per_axis=5))
    sigma = np.float32(rng.uniform(0.02, 0.035))
    real = signal * bias + sigma * rng.standard_normal(shape, dtype=np.float32)
    imaginary = sigma * rng.standard_normal(shape, dtype=np.float32)
    magnitude = np.sqrt(real**2 + imaginary**2) * np.float32(1000.0)
    return np.rint(magnitude).astype(np.int16), maps


def _brain_box(mni: np.ndarray, *, anatomy: ReferenceAnatomy) -> tuple[slice, ...]:
    """Index bounds of the grid voxels whose MNI coordinate is near the brain."""
    low, high = anatomy.brain_box_mm
    margin = 2.0 * anatomy.mm
    near = np.ones(mni.shape[1:], dtype=bool)
    for axis in range(3):
        near &= (mni[axis] >= low[axis] - margin) & (mni[axis] <= high[axis] + margin)
    box = []
    for axis in range(3):
        hits = np.flatnonzero(near.any(axis=tuple(a for a in range(3) if a != axis)))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def _pet(rng: np.random.Generator, *, subject: DemoSubject, tissues: _Tissues,
         anatomy: ReferenceAnatomy, severity: float, pose: np.ndarray,
         displacement: geometry.Displacement, head: np.ndarray, voxel_mm: float,
         ) -> tuple[nib.Nifti1Image, dict, dict]:
    """FDG uptake (GM >> WM >> CSF) with AD hypometabolism, PSF blur, frames and noise."""
    temporal_weight = rng.uniform(0.3, 0.7)
    hypometabolism = np.float32(HYPOMETABOLISM_AT_FULL_SEVERITY * severity) * (
        np.float32(temporal_weight) * anatomy.hypo_temporal
        + np.float32(1.0 - temporal_weight) * anatomy.hypo_parietal)
    regional = rng.normal(1.0, REGIONAL_METABOLISM_SD, int(anatomy.labels.max()) + 1)
    regional[0] = 1.0
    uptake = (tissues.gm * (1.0 - hypometabolism) * regional.astype(np.float32)[anatomy.labels]
              + np.float32(rng.uniform(0.28, 0.35)) * tissues.wm
              + np.float32(0.04) * (tissues.csf + tissues.meninges)
              + np.float32(0.03) * tissues.skull + np.float32(0.12) * tissues.scalp)
    fwhm_mm = rng.uniform(6.0, 8.0)
    uptake = ndimage.gaussian_filter(uptake, fwhm_mm / np.sqrt(8 * np.log(2)) / anatomy.mm)

    pet_from_t1w = geometry.random_rigid(rng, max_rotation_deg=8.0, max_translation_mm=15.0)
    points = pet_from_t1w[:3, :3] @ head + pet_from_t1w[:3, 3:4]
    axcodes = str(rng.choice(PET_AXCODES))
    shape, affine = geometry.grid_around(points, voxel_mm=voxel_mm, axcodes=axcodes,
                                         margins_mm=rng.uniform(5, 20, (2, 3)))
    to_linear = np.linalg.inv(pose) @ np.linalg.inv(pet_from_t1w)
    mni = geometry.mni_coordinates(shape=shape, affine=affine, to_linear=to_linear,
                                   displacement=displacement)
    activity = geometry.sample(uptake, geometry.reference_voxels(mni, anatomy=anatomy))
    activity *= np.float32(rng.uniform(5e3, 9e3))
    noise_sd = 0.05 * float(np.percentile(activity, 99))
    frames = [_pet_frame(rng, activity=activity, noise_sd=noise_sd,
                         drift=0.03 * (subject.pet_frames > 1))
              for _ in range(subject.pet_frames)]
    data = frames[0] if len(frames) == 1 else np.stack(frames, axis=-1)
    image = _image(data, affine)
    image.set_data_dtype(np.int16)
    single = subject.pet_frames == 1
    sidecar = {
        "TracerName": "FDG", "TracerRadionuclide": "F18", "Units": "Bq/mL",
        "ModeOfAdministration": "bolus", "TimeZero": "00:00:00", "ScanStart": 1800,
        "InjectionStart": 0,
        "FrameTimesStart": [1800 + FRAME_SECONDS * k for k in range(subject.pet_frames)],
        "FrameDuration": [1800 if single else FRAME_SECONDS] * subject.pet_frames,
    }
    truth = {
        "pet_to_t1w_world": np.linalg.inv(pet_from_t1w).tolist(), "pet_axcodes": axcodes,
        "pet_fwhm_mm": fwhm_mm, "pet_hypometabolism_max": HYPOMETABOLISM_AT_FULL_SEVERITY
        * severity, "pet_temporal_weight": temporal_weight, "pet_frames": subject.pet_frames,
    }
    return image, sidecar, truth


def _pet_frame(rng: np.random.Generator, *, activity: np.ndarray, noise_sd: float,
               drift: float) -> np.ndarray:
    """One frame: global drift and spatially correlated noise of standard deviation ``noise_sd``."""
    noise = ndimage.gaussian_filter(rng.standard_normal(activity.shape, dtype=np.float32), 0.8)
    noise *= np.float32(noise_sd / noise.std())
    frame = activity * np.float32(1.0 + drift * rng.standard_normal()) + noise
    return np.clip(frame, 0.0, None)


def _probability_image(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """A [0, 1] map stored as uint8 with a scale factor (reads back as float)."""
    image = _image(np.clip(data, 0.0, 1.0), affine)
    image.set_data_dtype(np.uint8)
    return image


def _image(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    return image
