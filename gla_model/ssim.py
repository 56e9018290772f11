"""3D SSIM and MS-SSIM with a Gaussian window: one written-down spec for metric and loss.

The per-voxel map follows Wang et al. (2004) with population (co)variances, exactly as
``skimage.metrics.structural_similarity(..., gaussian_weights=True,
use_sample_covariance=False)``: local means and second moments are Gaussian-filtered
with *symmetric* edge padding (SciPy's ``mode="reflect"``), so the map has the input's
size. Averaging:

* no mask: the mean over the interior, i.e. voxels at least ``window // 2`` from every
  face (scikit-image's ``mssim``; edge voxels only see mirrored data);
* with a mask: the mean of the same-size map over the mask's voxels (a brain mask may
  reach the grid's edge at 32^3, so nothing is cropped).

Statistics are computed in float32 (float64 if the inputs are float64) with autocast
off: bf16 would cancel catastrophically in ``E[x^2] - E[x]^2``. All functions are
differentiable and work under ``torch.no_grad()`` on ``(N, 1, D, H, W)`` tensors; they
return one value per volume, shape ``(N,)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class SsimSpec:
    """Window and constants of SSIM.

    Args:
        window: odd window width in voxels (the Gaussian is truncated to it).
        sigma: standard deviation of the Gaussian window, in voxels.
        data_range: intensity range of the images (1.0 for images in [0, 1]).
        k1, k2: stability constants, ``C1 = (k1 * data_range)^2``, ``C2 = (k2 * data_range)^2``.
    """

    window: int
    sigma: float
    data_range: float
    k1: float = 0.01
    k2: float = 0.03

    def __post_init__(self) -> None:
        if self.window < 3 or self.window % 2 == 0:
            raise ValueError(f"SSIM window must be an odd integer >= 3, got {self.window}")
        if self.sigma <= 0 or self.data_range <= 0:
            raise ValueError(
                f"SSIM sigma and data_range must be positive, got {self.sigma}, {self.data_range}"
            )


#: The evaluation metric: scikit-image's Gaussian SSIM (sigma 1.5 truncated at 3.5 sigma
#: = 11 voxels, K1 0.01, K2 0.03) on images in [0, 1].
METRIC_SSIM_SPEC = SsimSpec(window=11, sigma=1.5, data_range=1.0)

#: The MS-SSIM loss window. With S = 3 scales a 32^3 grid is pooled to 8^3 at the
#: coarsest scale; a 7-voxel window is the largest odd window leaving an interior
#: (8 - 7 + 1 = 2 voxels per axis) there, and sigma 1.0 makes it span +-3 sigma, the
#: same truncation as the metric's 11 voxels / 1.5. The same spec serves 64^3 (8^3 is
#: reached only at 32^3; 64^3 ends at 16^3).
LOSS_MS_SSIM_SPEC = SsimSpec(window=7, sigma=1.0, data_range=1.0)

#: The paper's MS-SSIM weights for S = 3 (the first three of Wang et al.'s five).
PAPER_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001)


def _gaussian_1d(spec: SsimSpec, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    radius = spec.window // 2
    offsets = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (offsets / spec.sigma) ** 2)
    return kernel / kernel.sum()


def _filter_matrix(size: int, *, spec: SsimSpec, dtype: torch.dtype,
                   device: torch.device) -> torch.Tensor:
    """``(size, size)`` matrix of the 1D Gaussian filter along an axis of ``size`` voxels,
    with symmetric edge padding folded in (SciPy 'reflect': ``d c b a | a b c d | d c b a``)."""
    radius = spec.window // 2
    if radius > size:
        raise ValueError(
            f"SSIM window of {spec.window} voxels is too large for an axis of {size} voxels"
        )
    rows = torch.arange(size, device=device).repeat_interleave(spec.window)
    columns = rows + torch.arange(-radius, radius + 1, device=device).repeat(size)
    columns = torch.where(columns < 0, -columns - 1, columns)
    columns = torch.where(columns >= size, 2 * size - 1 - columns, columns)
    weights = _gaussian_1d(spec, dtype=dtype, device=device).repeat(size)
    return torch.zeros(size, size, dtype=dtype, device=device).index_put_(
        (rows, columns), weights, accumulate=True)


def _gaussian_filter(volume: torch.Tensor, *, spec: SsimSpec) -> torch.Tensor:
    """Separable Gaussian filter of ``(N, C, D, H, W)``, same size (symmetric padding).

    Each axis is one matrix product with :func:`_filter_matrix`: the same sums as padding
    and a 1D convolution, and its backward is a matrix product too, several times faster
    on the CPU than the backward of single-channel 1D ``conv3d`` kernels.
    """
    out = volume
    for axis in (2, 3, 4):
        matrix = _filter_matrix(volume.shape[axis], spec=spec, dtype=volume.dtype,
                                device=volume.device)
        out = torch.movedim(torch.tensordot(out, matrix, dims=([axis], [1])), -1, axis)
    return out


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.dim() != 5 or x.shape[1] != 1:
        raise ValueError(
            f"SSIM needs two (N, 1, D, H, W) tensors of the same shape, got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )


def _ssim_and_cs_maps(
    x: torch.Tensor, y: torch.Tensor, *, spec: SsimSpec
) -> tuple[torch.Tensor, torch.Tensor]:
    _check_pair(x, y)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=x.device.type, enabled=False):
        x, y = x.to(dtype), y.to(dtype)
        moments = _gaussian_filter(torch.cat([x, y, x * x, y * y, x * y], dim=1), spec=spec)
        mu_x, mu_y, e_xx, e_yy, e_xy = moments.unbind(dim=1)
        var_x = e_xx - mu_x * mu_x
        var_y = e_yy - mu_y * mu_y
        cov = e_xy - mu_x * mu_y
        c1 = (spec.k1 * spec.data_range) ** 2
        c2 = (spec.k2 * spec.data_range) ** 2
        cs = (2 * cov + c2) / (var_x + var_y + c2)
        luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return (luminance * cs).unsqueeze(1), cs.unsqueeze(1)


def ssim_map(x: torch.Tensor, y: torch.Tensor, *, spec: SsimSpec) -> torch.Tensor:
    """Per-voxel SSIM of ``(N, 1, D, H, W)`` volumes, same size as the input."""
    return _ssim_and_cs_maps(x, y, spec=spec)[0]


def _region_mean(
    values: torch.Tensor, *, spec: SsimSpec, weight: torch.Tensor | None
) -> torch.Tensor:
    """Mean per volume over the interior (no weight) or weighted by a mask."""
    if weight is None:
        pad = spec.window // 2
        interior = values[..., pad:-pad, pad:-pad, pad:-pad]
        if interior.numel() == 0:
            raise ValueError(
                f"volume {tuple(values.shape[2:])} has no interior for a {spec.window}-voxel "
                "window; pass a mask or use a smaller window"
            )
        return interior.mean(dim=(1, 2, 3, 4))
    weight = weight.to(values.dtype).expand_as(values)
    total = weight.sum(dim=(1, 2, 3, 4))
    if bool((total <= 0).any()):
        raise ValueError("the SSIM mask is empty for at least one volume")
    return (values * weight).sum(dim=(1, 2, 3, 4)) / total


def _as_weight(mask: torch.Tensor | None, *, like: torch.Tensor) -> torch.Tensor | None:
    if mask is None:
        return None
    if mask.dim() != 5 or mask.shape[2:] != like.shape[2:]:
        raise ValueError(
            f"mask shape {tuple(mask.shape)} does not match the images {tuple(like.shape)}"
        )
    return (mask > 0).to(torch.float64 if like.dtype == torch.float64 else torch.float32)


def ssim(
    x: torch.Tensor, y: torch.Tensor, *, spec: SsimSpec, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean SSIM per volume, shape ``(N,)``: over the interior, or over ``mask > 0`` voxels."""
    return _region_mean(ssim_map(x, y, spec=spec), spec=spec, weight=_as_weight(mask, like=x))


def ms_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    spec: SsimSpec,
    weights: Sequence[float] = PAPER_MS_SSIM_WEIGHTS,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-scale SSIM per volume, shape ``(N,)`` (Wang et al. 2003, Eq. 5 of the paper).

    ``len(weights)`` scales; each coarser scale is a 2x2x2 average pooling. Scale j
    contributes its mean contrast-structure term ``cs_j ** w_j``, the coarsest scale
    its mean SSIM instead. The weights are normalised to sum to 1, so a truncated
    set (the paper's three) still gives values on SSIM's scale; terms are clamped
    at 1e-6 so negative correlations cannot make fractional powers NaN. A mask is
    average-pooled with the images and used as voxel weights at every scale.
    """
    if len(weights) < 1 or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"MS-SSIM weights must be non-negative with a positive sum: {weights}")
    _check_pair(x, y)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x, y = x.to(dtype), y.to(dtype)
    weight = _as_weight(mask, like=x)
    norm = [w / sum(weights) for w in weights]
    value = torch.ones(x.shape[0], dtype=dtype, device=x.device)
    for scale, w in enumerate(norm):
        if scale > 0:
            x, y = F.avg_pool3d(x, 2), F.avg_pool3d(y, 2)
            weight = None if weight is None else F.avg_pool3d(weight, 2)
        full, cs = _ssim_and_cs_maps(x, y, spec=spec)
        term = full if scale == len(norm) - 1 else cs
        value = value * _region_mean(term, spec=spec, weight=weight).clamp(min=1e-6) ** w
    return value
