"""Geometry of a synthetic subject: head pose, smooth deformation, image grids, resampling.

A native voxel's MNI coordinate is ``y + u(y)`` with ``y = pose^-1 * world``: an
affine pose and a smooth displacement ``u`` defined on a coarse MNI grid. The
mapping is evaluated exactly every few millimetres and interpolated linearly
in between (exact for the affine part, sub-0.1 mm for the smooth part).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from gla_model.demo_cohort.anatomy import ReferenceAnatomy

_AXIS = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0),
         "S": (2, 1.0), "I": (2, -1.0)}
_FIELD_SPACING_MM = 6.0
_FIELD_SMOOTHING_MM = 16.0


@dataclass(frozen=True)
class Displacement:
    """A displacement field (mm) on an axis-aligned MNI grid."""

    origin: np.ndarray
    spacing: float
    field: np.ndarray  # (3, nx, ny, nz)
    rms_mm: float  # over the brain
    max_mm: float

    def at(self, points: np.ndarray) -> np.ndarray:
        """Displacement at ``points`` (3, N) in MNI mm, cubic-spline interpolated."""
        voxels = (points - self.origin[:, None]) / self.spacing
        return np.stack([ndimage.map_coordinates(component, voxels, order=3, mode="nearest")
                         for component in self.field])


def random_pose(rng: np.random.Generator, *, max_rotation_deg: float, max_translation_mm: float,
                max_scaling: float) -> np.ndarray:
    """A random affine (rotation, per-axis scaling, translation) as a 4x4 matrix."""
    rotation = _rotation(rng, max_rotation_deg)
    scaling = np.diag(1.0 + rng.uniform(-max_scaling, max_scaling, 3))
    pose = np.eye(4)
    pose[:3, :3] = rotation @ scaling
    pose[:3, 3] = rng.uniform(-max_translation_mm, max_translation_mm, 3)
    return pose


def random_rigid(rng: np.random.Generator, *, max_rotation_deg: float,
                 max_translation_mm: float) -> np.ndarray:
    """A random rigid transform as a 4x4 matrix."""
    rigid = np.eye(4)
    rigid[:3, :3] = _rotation(rng, max_rotation_deg)
    rigid[:3, 3] = rng.uniform(-max_translation_mm, max_translation_mm, 3)
    return rigid


def random_displacement(rng: np.random.Generator, *, anatomy: ReferenceAnatomy, rms_mm: float,
                        max_mm: float) -> Displacement:
    """A smooth random displacement with the given RMS over the brain and at most ``max_mm``."""
    extent = (np.array(anatomy.gm.shape) - 1) * anatomy.mm
    shape = tuple(int(n) for n in np.ceil(extent / _FIELD_SPACING_MM).astype(int) + 1)
    sigma = _FIELD_SMOOTHING_MM / _FIELD_SPACING_MM
    field = np.stack([ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
                      for _ in range(3)])
    brain_nodes = _brain_nodes(anatomy, shape)
    magnitude = np.sqrt((field**2).sum(axis=0))[brain_nodes]
    scale = min(rms_mm / np.sqrt((magnitude**2).mean()), max_mm / magnitude.max())
    return Displacement(origin=anatomy.origin.copy(), spacing=_FIELD_SPACING_MM,
                        field=field * scale, rms_mm=float(scale * np.sqrt((magnitude**2).mean())),
                        max_mm=float(scale * magnitude.max()))


def grid_around(points: np.ndarray, *, voxel_mm: float, axcodes: str,
                margins_mm: np.ndarray) -> tuple[tuple[int, int, int], np.ndarray]:
    """An axis-aligned grid (voxel order ``axcodes``, e.g. "PIR") covering ``points`` (3, N).

    ``margins_mm`` (2, 3) widens the box below and above on each world axis.
    """
    low = points.min(axis=1) - margins_mm[0]
    high = points.max(axis=1) + margins_mm[1]
    affine = np.eye(4)
    shape = []
    for axis, code in enumerate(axcodes):
        world, sign = _AXIS[code]
        count = int(np.ceil((high[world] - low[world]) / voxel_mm)) + 1
        shape.append(count)
        affine[:3, axis] = 0.0
        affine[world, axis] = sign * voxel_mm
        affine[world, 3] = low[world] if sign > 0 else low[world] + (count - 1) * voxel_mm
    return (shape[0], shape[1], shape[2]), affine


def mni_coordinates(*, shape: tuple[int, int, int], affine: np.ndarray, to_linear: np.ndarray,
                    displacement: Displacement) -> np.ndarray:
    """MNI coordinate (mm) of every voxel of a grid, as float32 (3, *shape).

    ``to_linear`` maps the grid's world mm to the undeformed (affine-only) MNI frame.
    """
    step = max(1, round(_FIELD_SPACING_MM / abs(np.linalg.det(affine[:3, :3])) ** (1 / 3)))
    nodes = [np.unique(np.r_[0:count:step, count - 1]) for count in shape]
    ijk = np.stack(np.meshgrid(*nodes, indexing="ij")).reshape(3, -1).astype(np.float64)
    mapping = to_linear @ affine
    linear = mapping[:3, :3] @ ijk + mapping[:3, 3:4]
    mni = (linear + displacement.at(linear)).reshape(3, *[len(n) for n in nodes])
    return np.stack([upsample_linear(component, nodes=nodes, shape=shape) for component in mni])


def upsample_linear(coarse: np.ndarray, *, nodes: list[np.ndarray],
                    shape: tuple[int, int, int]) -> np.ndarray:
    """Separable linear interpolation from values at voxel ``nodes`` to the full grid."""
    weights = [_interpolation_matrix(node, count) for node, count in zip(nodes, shape,
                                                                           strict=True)]
    values = coarse.astype(np.float32) @ weights[2].T  # (m0, m1, n2)
    values = np.einsum("jb,abk->ajk", weights[1], values, optimize=True)  # (m0, n1, n2)
    values = weights[0] @ values.reshape(values.shape[0], -1)
    return values.reshape(shape)


def reference_voxels(mni: np.ndarray, *, anatomy: ReferenceAnatomy) -> np.ndarray:
    """MNI coordinates (3, ...) as voxel coordinates of the reference grid."""
    origin = anatomy.origin.astype(np.float32).reshape(3, *([1] * (mni.ndim - 1)))
    return (mni - origin) / np.float32(anatomy.mm)


def sample(volume: np.ndarray, voxels: np.ndarray, *, order: int = 1) -> np.ndarray:
    """Values of a reference-grid ``volume`` at reference ``voxels`` (3, ...); 0 outside."""
    return ndimage.map_coordinates(volume, voxels, order=order, cval=0.0, output=volume.dtype)


def smooth_random_field(rng: np.random.Generator, *, shape: tuple[int, int, int],
                        nodes_per_axis: int) -> np.ndarray:
    """A smooth random field of unit standard deviation on ``shape`` (for bias fields)."""
    coarse = ndimage.gaussian_filter(rng.standard_normal((nodes_per_axis,) * 3), 1.0,
                                     mode="wrap")
    coarse /= coarse.std()
    nodes = [np.linspace(0, count - 1, nodes_per_axis) for count in shape]
    return upsample_linear(coarse, nodes=nodes, shape=shape)


def _rotation(rng: np.random.Generator, max_degrees: float) -> np.ndarray:
    angles = rng.uniform(-max_degrees, max_degrees, 3)
    return Rotation.from_euler("xyz", angles, degrees=True).as_matrix()


def _brain_nodes(anatomy: ReferenceAnatomy, shape: tuple[int, ...]) -> np.ndarray:
    axes = [np.minimum(np.round(np.arange(n) * _FIELD_SPACING_MM / anatomy.mm).astype(int),
                       size - 1) for n, size in zip(shape, anatomy.gm.shape, strict=True)]
    return anatomy.depth_mm[np.ix_(*axes)] > 0


def _interpolation_matrix(nodes: np.ndarray, count: int) -> np.ndarray:
    """(count, len(nodes)) weights of linear interpolation at 0..count-1 from ``nodes``."""
    identity = np.eye(len(nodes), dtype=np.float32)
    positions = np.arange(count)
    return np.stack([np.interp(positions, nodes, column) for column in identity],
                    axis=1).astype(np.float32)
