"""`build_model`: a model spec (config ``models.variants.<name>``) -> networks.

The spec arrives validated (:class:`gla_model.settings.ModelSpec`, checked by the settings
fields); this module only maps it onto networks.
"""

from __future__ import annotations

import torch
from torch import nn

from gla_model.errors import ConfigError
from gla_model.nets.discriminator import Discriminator
from gla_model.nets.glagan import GlaGenerator
from gla_model.nets.unet import UNet3d
from gla_model.settings import ModelSpec

#: arch (every one of :data:`gla_model.vocabulary.ARCHITECTURES`) -> path of the GLA
#: generator, or None for the U-Net generator of the baselines.
GENERATOR_PATHS: dict[str, str | None] = {
    "glagan": "both",
    "glagan_global": "global",
    "glagan_local": "local",
    "unet3d": None,
    "gan": None,
    "cyclegan": None,
}

#: arch -> normalisation of its U-Net generators when not batch norm. CycleGAN's identity
#: term runs real PET (and its cycle term synthetic MRI) through the MRI -> PET generator
#: in training mode, so batch-norm running statistics would mix MRI and PET at test time;
#: instance norm without running statistics (CycleGAN's own choice, Zhu et al. 2017)
#: normalises every volume by its own statistics in training and at test time alike.
UNET_NORMS: dict[str, str] = {"cyclegan": "instance"}


class ModelBundle(nn.Module):
    """The networks of one variant; ``generator`` maps MRI to PET for every arch.

    ``discriminator`` judges (MRI, PET) pairs (conditional) for the GAN variants;
    CycleGAN adds ``inverse`` (PET -> MRI) and unconditional ``discriminator`` (PET) and
    ``discriminator_inverse`` (MRI). Absent networks are ``None``.
    """

    def __init__(self, *, spec: ModelSpec, grid: int, generator: nn.Module,
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


def build_model(*, spec: ModelSpec, grid: int) -> ModelBundle:
    """Build the networks of a model spec for a ``grid``^3 volume.

    Args:
        spec: the variant's validated model spec (``VariantSettings.model_spec()``, or
            :func:`gla_model.settings.job_value` with ``as_type=ModelSpec``).
        grid: the model grid (see :func:`validate_grid`).
    """
    validate_grid(grid)
    path = GENERATOR_PATHS[spec.arch]
    norm = UNET_NORMS.get(spec.arch, "batch")
    if path is not None:
        network: nn.Module = GlaGenerator(k_patches=spec.patches, width=spec.width, path=path)
    else:
        network = UNet3d(width=spec.width, norm=norm)
    generator = BrainMasked(network)
    if spec.arch == "cyclegan":
        return ModelBundle(
            spec=spec, grid=grid, generator=generator,
            inverse=BrainMasked(UNet3d(width=spec.width, norm=norm)),
            discriminator=Discriminator(in_channels=1, width=spec.width),
            discriminator_inverse=Discriminator(in_channels=1, width=spec.width),
        )
    discriminator = Discriminator(in_channels=2, width=spec.width) if spec.adversarial else None
    return ModelBundle(spec=spec, grid=grid, generator=generator, discriminator=discriminator)
