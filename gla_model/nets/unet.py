"""3D U-Net baseline generator (MONAI's BasicUNet) with a sigmoid output."""

from __future__ import annotations

from torch import Tensor, nn

from gla_model.nets.blocks import LEAKY_SLOPE, Float32Conv3d, Float32Sigmoid, check_width, scaled

#: MONAI BasicUNet's default features (4 down-samplings), the width-1.0 baseline.
FEATURES = (32, 32, 64, 128, 256, 32)
#: Normalisation layers: MONAI's name -> its arguments. ``instance`` is CycleGAN's
#: (Zhu et al. 2017): no affine, no running statistics.
NORMS = {"batch": ("batch", {}),
         "instance": ("instance", {"affine": False, "track_running_stats": False})}


class UNet3d(nn.Module):
    """MRI (N, 1, G, G, G) -> PET in (0, 1), float32; G must be divisible by 16.

    The last (1x1x1) convolution and the sigmoid run in float32 with autocast off
    (:class:`gla_model.nets.blocks.Float32Conv3d`).

    Args:
        width: channel multiplier on MONAI's default features (32, 32, 64, 128, 256, 32).
        in_channels: input channels (1: MRI; CycleGAN's inverse generator takes PET).
        norm: ``batch`` (the baselines) or ``instance`` (CycleGAN's generators), see
            :data:`NORMS`.
    """

    def __init__(self, *, width: float = 1.0, in_channels: int = 1, norm: str = "batch") -> None:
        super().__init__()
        # Imported here: importing MONAI takes about 2 s, which every training, synthesis
        # and report job of the GLA-GAN variants would otherwise pay for nothing.
        from monai.networks.nets import BasicUNet

        width = check_width(width)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {tuple(NORMS)}, got {norm!r}")
        self.net = BasicUNet(
            spatial_dims=3, in_channels=in_channels, out_channels=1,
            features=tuple(scaled(f, width=width) for f in FEATURES),
            act=("LeakyReLU", {"negative_slope": LEAKY_SLOPE, "inplace": True}),
            norm=NORMS[norm],
        )
        # The same layer and weights, computed in float32: a class swap instead of a new
        # layer, so no random draw is added and the initialisation stays as it was.
        self.net.final_conv.__class__ = Float32Conv3d
        self.output = Float32Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.net(x))
