"""Networks: GLA-GAN generator (global + K local paths), discriminator, U-Net, CycleGAN.

:func:`build_model` turns a model spec (:class:`gla_model.settings.ModelSpec`, a
``models.variants.<name>`` of the config) into a :class:`ModelBundle`; trainer and
synthesis use nothing else.
"""

from gla_model.nets.discriminator import Discriminator
from gla_model.nets.factory import GENERATOR_PATHS, ModelBundle, build_model, validate_grid
from gla_model.nets.glagan import GlaGenerator, patch_layout
from gla_model.nets.unet import UNet3d

__all__ = [
    "GENERATOR_PATHS",
    "Discriminator",
    "GlaGenerator",
    "ModelBundle",
    "UNet3d",
    "build_model",
    "patch_layout",
    "validate_grid",
]
