"""`build_model`: a variant spec (config ``models.variants.<name>``) -> networks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gla_model.errors import ConfigError
from gla_model.losses import LossWeights
from gla_model.nets.discriminator import Discriminator
from gla_model.nets.glagan import PATCH_SPLITS, GlaGenerator
from gla_model.nets.unet import UNet3d

#: arch -> generator path of the GLA generator (None: not a GLA-GAN).
ARCHITECTURES: dict[str, str | None] = {
    "glagan": "both",
    "glagan_global": "global",
    "glagan_local": "local",
    "unet3d": None,
    "gan": None,
    "cyclegan": None,
}
SPEC_KEYS = {"arch", "k_patches", "width", "losses"}
#: Architectures with a local (patch) module, which therefore need ``k_patches``.
PATCH_ARCHS = {"glagan", "glagan_local"}


@dataclass(frozen=True)
class VariantSpec:
    """A validated variant spec."""

    arch: str
    k_patches: int
    width: float
    adversarial: bool
    losses: LossWeights

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> VariantSpec:
        """Validate a spec dict, raising :class:`ConfigError` naming the bad key."""
        if not isinstance(spec, Mapping):
            raise ConfigError(f"variant spec must be a mapping, got {type(spec).__name__}")
        unknown = set(spec) - SPEC_KEYS
        if unknown:
            raise ConfigError(f"unknown variant spec keys {sorted(unknown)}; "
                              f"allowed: {sorted(SPEC_KEYS)}")
        arch = spec.get("arch")
        if arch not in ARCHITECTURES:
            raise ConfigError(f"variant arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
        k_patches = spec.get("k_patches", None if arch in PATCH_ARCHS else 1)
        if isinstance(k_patches, bool) or k_patches not in PATCH_SPLITS:
            raise ConfigError(f"variant k_patches must be one of {sorted(PATCH_SPLITS)} for "
                              f"arch {arch}, got {k_patches!r}")
        width = spec.get("width", 1.0)
        if isinstance(width, bool) or not isinstance(width, int | float) or not width > 0:
            raise ConfigError(f"variant width must be a positive number, got {width!r}")
        losses = LossWeights.from_dict(spec.get("losses", {"l1": 1.0}))
        adversarial = losses.adv > 0
        if arch in ("gan", "cyclegan") and not adversarial:
            raise ConfigError(f"arch {arch} is adversarial by definition; set losses.adv > 0")
        if arch != "cyclegan" and (losses.cycle > 0 or losses.identity > 0):
            raise ConfigError(f"cycle and identity losses apply to arch cyclegan only, not {arch}")
        return cls(arch=arch, k_patches=int(k_patches), width=float(width),
                   adversarial=adversarial, losses=losses)


class ModelBundle(nn.Module):
    """The networks of one variant; ``generator`` maps MRI to PET for every arch.

    ``discriminator`` judges (MRI, PET) pairs (conditional) for the GAN variants;
    CycleGAN adds ``inverse`` (PET -> MRI) and unconditional ``discriminator`` (PET) and
    ``discriminator_inverse`` (MRI). Absent networks are ``None``.
    """

    def __init__(self, *, spec: VariantSpec, grid: int, generator: nn.Module,
                 discriminator: nn.Module | None = None, inverse: nn.Module | None = None,
                 discriminator_inverse: nn.Module | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.grid = grid
        self.generator = generator
        self.discriminator = discriminator
        self.inverse = inverse
        self.discriminator_inverse = discriminator_inverse

    def discriminators(self) -> list[nn.Module]:
        return [d for d in (self.discriminator, self.discriminator_inverse) if d is not None]

    def generators(self) -> list[nn.Module]:
        return [g for g in (self.generator, self.inverse) if g is not None]


class BrainMasked(nn.Module):
    """A generator whose output is zero wherever its input is zero.

    Preprocessed volumes are zero outside the brain mask (skull-stripped T1w, masked PET),
    so the input itself carries the mask: every subject, MRI-only ones included, gets
    synthetic uptake inside its own brain only, and training spends no steps learning to
    predict the empty background.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x) * (x > 0).to(x.dtype)


def validate_grid(grid: int) -> int:
    """Grids must be multiples of 16 (U-Net depth) and >= 32 (discriminator depth)."""
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 32 or grid % 16:
        raise ConfigError(f"model grid must be a multiple of 16 and >= 32 (e.g. 32, 64), "
                          f"got {grid!r}")
    return grid


def build_model(*, spec: Mapping[str, Any] | VariantSpec, grid: int) -> ModelBundle:
    """Build the networks of a variant for a ``grid``^3 volume."""
    spec = spec if isinstance(spec, VariantSpec) else VariantSpec.from_dict(spec)
    validate_grid(grid)
    path = ARCHITECTURES[spec.arch]
    if path is not None:
        network: nn.Module = GlaGenerator(k_patches=spec.k_patches, width=spec.width,
                                          path=path)
    else:
        network = UNet3d(width=spec.width)
    generator = BrainMasked(network)
    if spec.arch == "cyclegan":
        return ModelBundle(
            spec=spec, grid=grid, generator=generator,
            inverse=BrainMasked(UNet3d(width=spec.width)),
            discriminator=Discriminator(in_channels=1, width=spec.width),
            discriminator_inverse=Discriminator(in_channels=1, width=spec.width),
        )
    discriminator = Discriminator(in_channels=2, width=spec.width) if spec.adversarial else None
    return ModelBundle(spec=spec, grid=grid, generator=generator, discriminator=discriminator)
