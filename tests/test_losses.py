"""Loss terms: zero at identity, gradients, ROI loss against a NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gla_model.losses import (
    RoiLoss,
    adversarial_loss,
    l1_loss,
    ms_ssim_loss,
    reconstruction_terms,
    ssim_loss,
    weighted_sum,
)
from gla_model.settings import LossWeights


@pytest.mark.parametrize("loss", [l1_loss, ssim_loss, ms_ssim_loss])
def test_identical_inputs_give_zero_and_gradients_flow(loss):
    x = torch.rand(2, 1, 32, 32, 32)
    assert float(loss(x, x.clone())) == pytest.approx(0.0, abs=1e-5)
    y = (x + 0.1 * torch.randn_like(x)).requires_grad_(True)
    value = loss(y, x)
    assert float(value.detach()) > 0.01
    value.backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_adversarial_loss_is_bce_with_logits():
    logits = torch.tensor([[2.0, -1.0]])
    assert float(adversarial_loss(logits, real=True)) == pytest.approx(
        float(np.mean(np.log1p(np.exp(-np.array([2.0, -1.0]))))), rel=1e-6)
    assert float(adversarial_loss(logits, real=False)) == pytest.approx(
        float(np.mean(np.log1p(np.exp(np.array([2.0, -1.0]))))), rel=1e-6)


def test_roi_loss_matches_numpy_reference():
    rng = np.random.default_rng(0)
    atlas = rng.integers(0, 117, size=(16, 16, 16))
    atlas[atlas == 50] = 0  # a region absent from the grid is left out
    pred, real = rng.random((2, 1, 16, 16, 16)), rng.random((2, 1, 16, 16, 16))
    labels = [r for r in range(1, 117) if (atlas == r).any()]
    expected = np.mean([[(real[b, 0][atlas == r].mean() - pred[b, 0][atlas == r].mean()) ** 2
                         for r in labels] for b in range(2)])
    loss = RoiLoss(atlas=atlas, n_regions=116)
    p = torch.tensor(pred, dtype=torch.float32, requires_grad=True)
    value = loss(p, torch.tensor(real, dtype=torch.float32))
    assert float(value.detach()) == pytest.approx(expected, rel=1e-4)
    value.backward()
    assert (p.grad[0, 0][torch.from_numpy(atlas) == 0] == 0).all()
    assert p.grad.abs().sum() > 0


def test_roi_loss_rejects_bad_atlas():
    with pytest.raises(ValueError, match=r"labels 0\.\.116"):
        RoiLoss(atlas=np.full((4, 4, 4), 200), n_regions=116)
    with pytest.raises(ValueError, match="no labelled voxel"):
        RoiLoss(atlas=np.zeros((4, 4, 4), dtype=int), n_regions=116)


def test_weighted_sum_uses_only_active_terms():
    weights = LossWeights(l1=2.0, ms_ssim=0.5)
    x, y = torch.rand(1, 1, 32, 32, 32), torch.rand(1, 1, 32, 32, 32)
    terms = reconstruction_terms(x, y, weights=weights, roi=None)
    assert set(terms) == {"l1", "ms_ssim"}
    total = weighted_sum(terms, weights=weights)
    assert float(total) == pytest.approx(2 * float(terms["l1"]) + 0.5 * float(terms["ms_ssim"]))
    with pytest.raises(ValueError, match="atlas"):
        reconstruction_terms(x, y, weights=LossWeights(roi=1.0), roi=None)
