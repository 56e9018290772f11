"""3D U-Net baseline generator (MONAI's BasicUNet) with a sigmoid output."""

from __future__ import annotations

from torch import Tensor, nn

from gla_model.nets.blocks import LEAKY_SLOPE, check_width, scaled

#: MONAI BasicUNet's default features (4 down-samplings), the width-1.0 baseline.
FEATURES = (32, 32, 64, 128, 256, 32)


class UNet3d(nn.Module):
    """MRI (N, 1, G, G, G) -> PET in (0, 1); G must be divisible by 16.

    Args:
        width: channel multiplier on MONAI's default features (32, 32, 64, 128, 256, 32).
        in_channels: input channels (1: MRI; CycleGAN's inverse generator takes PET).
    """

    def __init__(self, *, width: float = 1.0, in_channels: int = 1) -> None:
        super().__init__()
        # Imported here: importing MONAI takes about 2 s, which every training, synthesis
        # and report job of the GLA-GAN variants would otherwise pay for nothing.
        from monai.networks.nets import BasicUNet

        width = check_width(width)
        self.net = BasicUNet(
            spatial_dims=3, in_channels=in_channels, out_channels=1,
            features=tuple(scaled(f, width=width) for f in FEATURES),
            act=("LeakyReLU", {"negative_slope": LEAKY_SLOPE, "inplace": True}),
            norm=("batch", {}),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).sigmoid()
