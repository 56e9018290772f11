"""SSIM / MS-SSIM: agreement with scikit-image, bounds, masks, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from gla_model.ssim import (
    LOSS_MS_SSIM_SPEC,
    METRIC_SSIM_SPEC,
    SsimSpec,
    ms_ssim,
    ssim,
    ssim_map,
)


def _smooth_pair(seed: int, size: int = 24) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = gaussian_filter(rng.random((size, size, size)), 2.0)
    a = (a - a.min()) / (a.max() - a.min())
    b = np.clip(a + gaussian_filter(rng.normal(0, 0.3, a.shape), 1.0), 0, 1)
    return a.astype(np.float32), b.astype(np.float32)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)[None, None]


def _skimage(a: np.ndarray, b: np.ndarray, **kw):
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, **kw
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ssim_matches_scikit_image(seed):
    a, b = _smooth_pair(seed)
    expected = _skimage(a, b)
    assert 0.2 < expected < 0.99  # a non-trivial case
    got = float(ssim(_t(a), _t(b), spec=METRIC_SSIM_SPEC))
    assert abs(got - expected) < 1e-3


def test_ssim_map_matches_scikit_image_full_map():
    a, b = _smooth_pair(3, size=20)
    _, expected = _skimage(a, b, full=True)
    got = ssim_map(_t(a), _t(b), spec=METRIC_SSIM_SPEC)[0, 0].numpy()
    assert got.shape == a.shape
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_masked_ssim_is_mean_of_map_over_mask():
    a, b = _smooth_pair(4)
    mask = np.zeros(a.shape, dtype=np.uint8)
    mask[2:12, 3:20, 0:24] = 1
    _, full = _skimage(a, b, full=True)
    got = float(ssim(_t(a), _t(b), spec=METRIC_SSIM_SPEC, mask=_t(mask)))
    assert abs(got - full[mask > 0].mean()) < 1e-3


def test_identical_inputs_give_one_and_no_grad_works():
    a, _ = _smooth_pair(5, size=32)
    with torch.no_grad():
        assert float(ssim(_t(a), _t(a), spec=METRIC_SSIM_SPEC)) == pytest.approx(1.0, abs=1e-5)
        for size in (32, 64):
            x = torch.rand(2, 1, size, size, size)
            value = ms_ssim(x, x.clone(), spec=LOSS_MS_SSIM_SPEC)
            assert value.shape == (2,)
            assert torch.allclose(value, torch.ones(2), atol=1e-5)


def test_ms_ssim_decreases_with_noise_and_has_gradients():
    a, _ = _smooth_pair(6, size=32)
    x = _t(a)
    y_small = (x + 0.02 * torch.randn_like(x)).requires_grad_(True)
    y_large = x + 0.2 * torch.randn_like(x)
    small = ms_ssim(y_small, x, spec=LOSS_MS_SSIM_SPEC)
    large = ms_ssim(y_large, x, spec=LOSS_MS_SSIM_SPEC)
    assert float(small.detach()) > float(large)
    small.sum().backward()
    assert y_small.grad is not None and torch.isfinite(y_small.grad).all()
    assert y_small.grad.abs().sum() > 0


def test_ms_ssim_with_mask_ignores_outside_voxels():
    x = torch.rand(1, 1, 32, 32, 32)
    y = x.clone()
    y[..., :4] = torch.rand_like(y[..., :4])  # differ only beyond the windows' reach
    mask = torch.zeros_like(x)
    mask[..., 20:] = 1
    inside = float(ms_ssim(x, y, spec=LOSS_MS_SSIM_SPEC, mask=mask))
    assert inside == pytest.approx(1.0, abs=1e-4)
    assert float(ms_ssim(x, y, spec=LOSS_MS_SSIM_SPEC)) < inside - 1e-3


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(window=4, sigma=1.0, data_range=1.0), "odd integer >= 3"),
    (dict(window=7, sigma=0.0, data_range=1.0), "must be positive"),
    (dict(window=7, sigma=1.0, data_range=-1.0), "must be positive"),
])
def test_bad_spec_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SsimSpec(**kwargs)


def test_shape_mismatch_and_tiny_volume_raise():
    with pytest.raises(ValueError, match="same shape"):
        ssim(torch.rand(1, 1, 16, 16, 16), torch.rand(1, 1, 16, 16, 8), spec=METRIC_SSIM_SPEC)
    with pytest.raises(ValueError, match="no interior"):
        ssim(torch.rand(1, 1, 8, 8, 8), torch.rand(1, 1, 8, 8, 8), spec=METRIC_SSIM_SPEC)
