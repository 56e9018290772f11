"""One optimisation step and one validation pass, for every architecture.

GAN variants (glagan*, gan, unet3d with adversarial) use a conditional discriminator
on (MRI, PET) pairs: D is updated first on real vs. detached fake pairs, then G on
Eq. 8. CycleGAN (A = MRI, B = PET) adds the inverse generator, unconditional
discriminators on each domain, and L1 cycle and identity terms. The identity term runs
real PET through the MRI -> PET generator in training mode; CycleGAN's generators use
instance norm without running statistics (:data:`gla_model.nets.factory.UNET_NORMS`), so
that pass leaves nothing behind that the generator uses at test time.

Generators return float32 whatever the autocast (their output layer runs in float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gla_model.device import Runtime
from gla_model.losses import RoiLoss, adversarial_loss, l1_loss, reconstruction_terms, weighted_sum
from gla_model.nets import ModelBundle
from gla_model.settings import LossWeights
from gla_model.ssim import METRIC_SSIM_SPEC, ssim


@dataclass
class Optimisers:
    """Adam for the generators, Adam for the discriminators (None without), one scaler."""

    generator: torch.optim.Optimizer
    discriminator: torch.optim.Optimizer | None
    scaler: torch.amp.GradScaler

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every optimiser."""
        for optimiser in (self.generator, self.discriminator):
            if optimiser is None:
                continue
            for group in optimiser.param_groups:
                group["lr"] = lr


def _set_requires_grad(modules, flag: bool) -> None:
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(flag)


def _discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return 0.5 * (adversarial_loss(real_logits, real=True)
                  + adversarial_loss(fake_logits, real=False))


def _update(loss: Tensor, optimiser: torch.optim.Optimizer, scaler: torch.amp.GradScaler
            ) -> None:
    optimiser.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimiser)


def train_step(*, bundle: ModelBundle, mri: Tensor, pet: Tensor, weights: LossWeights,
               roi: RoiLoss | None, optimisers: Optimisers, runtime: Runtime
               ) -> dict[str, float]:
    """One step on a batch; returns every unweighted term, the G total and the D loss."""
    cycle = bundle.inverse is not None
    discriminators = bundle.discriminators()
    with runtime.autocast():
        fake = bundle.generator(mri)
        fake_mri = bundle.inverse(pet) if cycle else None
    terms: dict[str, Tensor] = {}
    if discriminators:
        _set_requires_grad(discriminators, True)
        with runtime.autocast():
            if cycle:
                loss_d = (_discriminator_loss(bundle.discriminator(pet),
                                              bundle.discriminator(fake.detach()))
                          + _discriminator_loss(bundle.discriminator_inverse(mri),
                                                bundle.discriminator_inverse(fake_mri.detach())))
            else:
                loss_d = _discriminator_loss(bundle.discriminator(torch.cat([mri, pet], 1)),
                                             bundle.discriminator(
                                                 torch.cat([mri, fake.detach()], 1)))
        _update(loss_d, optimisers.discriminator, optimisers.scaler)
        _set_requires_grad(discriminators, False)
        terms["d"] = loss_d.detach()
    terms.update(reconstruction_terms(fake, pet, weights=weights, roi=roi))
    with runtime.autocast():
        if discriminators and cycle:
            terms["adv"] = (adversarial_loss(bundle.discriminator(fake), real=True)
                            + adversarial_loss(bundle.discriminator_inverse(fake_mri), real=True))
        elif discriminators:
            terms["adv"] = adversarial_loss(bundle.discriminator(torch.cat([mri, fake], 1)),
                                            real=True)
        if cycle and weights.cycle > 0:
            terms["cycle"] = (l1_loss(bundle.inverse(fake), mri)
                              + l1_loss(bundle.generator(fake_mri), pet))
        if cycle and weights.identity > 0:
            terms["identity"] = (l1_loss(bundle.generator(pet), pet)
                                 + l1_loss(bundle.inverse(mri), mri))
    total = weighted_sum({k: v for k, v in terms.items() if k != "d"}, weights=weights)
    _update(total, optimisers.generator, optimisers.scaler)
    optimisers.scaler.update()
    if discriminators:
        _set_requires_grad(discriminators, True)
    return {"total": float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()}}


@torch.no_grad()
def validation_terms(*, bundle: ModelBundle, mri: Tensor, pet: Tensor, mask: Tensor,
                     weights: LossWeights, roi: RoiLoss | None, runtime: Runtime
                     ) -> dict[str, float]:
    """Reconstruction terms, their weighted sum ``loss`` (the selection criterion) and
    ``ssim_brain`` (the metric SSIM inside the brain mask) on a validation batch."""
    with runtime.autocast():
        fake = bundle.generator(mri)
    terms = reconstruction_terms(fake, pet, weights=weights, roi=roi)
    values = {k: float(v) for k, v in terms.items()}
    values["loss"] = float(weighted_sum(terms, weights=weights))
    values["ssim_brain"] = float(ssim(fake, pet, spec=METRIC_SSIM_SPEC, mask=mask).mean())
    return values
