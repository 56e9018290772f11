"""Loss terms of the paper's objective (Eq. 1-8) and their weights.

* adversarial: binary cross-entropy on discriminator logits (the paper's sigmoid + log
  loss, Eq. 1, in its numerically stable form);
* ``l1``: voxel-wise mean absolute error (Eq. 2);
* ``ssim``: ``1 - SSIM`` with :data:`gla_model.ssim.METRIC_SSIM_SPEC`;
* ``ms_ssim``: ``1 - MS-SSIM`` (Eq. 6), S = 3, the paper's weights normalised to sum to 1,
  window :data:`gla_model.ssim.LOSS_MS_SSIM_SPEC`;
* ``roi``: Eq. 7, the MSE between the AAL region means of real and synthetic PET;
* ``cycle`` / ``identity``: CycleGAN's L1 cycle-consistency and identity terms.

The combined objective (Eq. 8) is ``sum(weight * term)`` over the terms with a non-zero
weight in the variant's :class:`~gla_model.settings.LossWeights`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gla_model.settings import LossWeights
from gla_model.ssim import LOSS_MS_SSIM_SPEC, METRIC_SSIM_SPEC, PAPER_MS_SSIM_WEIGHTS, ms_ssim, ssim


def adversarial_loss(logits: Tensor, *, real: bool) -> Tensor:
    """BCE-with-logits against an all-real (1) or all-fake (0) target."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Voxel-wise mean absolute error (Eq. 2)."""
    return (pred.float() - target.float()).abs().mean()


def ssim_loss(pred: Tensor, target: Tensor) -> Tensor:
    """``1 - SSIM`` averaged over the batch."""
    return 1.0 - ssim(pred, target, spec=METRIC_SSIM_SPEC).mean()


def ms_ssim_loss(pred: Tensor, target: Tensor) -> Tensor:
    """``1 - MS-SSIM`` (Eq. 6), S = 3 with the paper's weights, averaged over the batch."""
    return 1.0 - ms_ssim(pred, target, spec=LOSS_MS_SSIM_SPEC,
                         weights=PAPER_MS_SSIM_WEIGHTS).mean()


class RoiLoss(nn.Module):
    """Eq. 7: mean over regions of (mean real - mean synthetic)^2 in each atlas region.

    Region sums are one ``index_add`` over the flattened atlas (differentiable, no loop
    over regions); regions without voxels on the grid are left out.

    Args:
        atlas: integer label volume (D, H, W), 0 = background, 1..n_regions.
        n_regions: the number of labels (116 for AAL).
    """

    def __init__(self, *, atlas: Tensor | np.ndarray, n_regions: int) -> None:
        super().__init__()
        labels = torch.as_tensor(np.asarray(atlas), dtype=torch.int64)
        if labels.dim() != 3 or labels.min() < 0 or labels.max() > n_regions:
            raise ValueError(f"atlas must be a 3D label volume with labels 0..{n_regions}")
        counts = torch.bincount(labels.flatten(), minlength=n_regions + 1).double()
        present = counts[1:] > 0
        if not bool(present.any()):
            raise ValueError("the atlas has no labelled voxel")
        self.shape = tuple(labels.shape)
        self.register_buffer("labels", labels.flatten(), persistent=False)
        self.register_buffer("present", present, persistent=False)
        self.register_buffer("counts", counts[1:][present].float(), persistent=False)

    def region_means(self, volume: Tensor) -> Tensor:
        """(N, 1, D, H, W) -> (N, regions present) mean intensity per region."""
        if tuple(volume.shape[2:]) != self.shape:
            raise ValueError(f"volume {tuple(volume.shape)} does not match atlas {self.shape}")
        flat = volume.float().reshape(volume.shape[0], -1)
        sums = flat.new_zeros(volume.shape[0], self.present.numel() + 1)
        sums = sums.index_add(1, self.labels, flat)
        return sums[:, 1:][:, self.present] / self.counts

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return (self.region_means(pred) - self.region_means(target)).pow(2).mean()


def reconstruction_terms(pred: Tensor, target: Tensor, *, weights: LossWeights,
                         roi: RoiLoss | None) -> dict[str, Tensor]:
    """Every reconstruction term with a non-zero weight, unweighted."""
    functions = {"l1": l1_loss, "ssim": ssim_loss, "ms_ssim": ms_ssim_loss}
    terms: dict[str, Tensor] = {}
    for name in weights.active():
        if name == "roi":
            if roi is None:
                raise ValueError("the roi loss term needs an atlas")
            terms[name] = roi(pred, target)
        else:
            terms[name] = functions[name](pred, target)
    return terms


def weighted_sum(terms: Mapping[str, Tensor], *, weights: LossWeights) -> Tensor:
    """Eq. 8: ``sum(weight[name] * term)`` over ``terms``."""
    if not terms:
        raise ValueError("no loss terms to combine")
    return sum(getattr(weights, name) * value for name, value in terms.items())
