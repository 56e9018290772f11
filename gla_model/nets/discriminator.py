"""The GLA-GAN discriminator (paper Sec. II-A.2): six convolutions returning logits."""

from __future__ import annotations

from torch import Tensor, nn

from gla_model.nets.blocks import check_width, conv_bn_act, scaled

FILTERS = (64, 128, 256, 512, 64)


class Discriminator(nn.Module):
    """Patch discriminator: (N, in_channels, G, G, G) -> logits (N, 1, g, g, g).

    Kernels 4,4,4,4,2,2 with 64,128,256,512,64,1 filters (scaled by ``width`` except the
    last), BN + LeakyReLU after the first five. Strides: the first three 4^3 layers halve
    the grid (stride 2, padding 1), the fourth (stride 1, padding 1) and the two 2^3
    layers (stride 1, no padding) shrink it by one voxel each, so a 32^3 grid gives one
    logit and 64^3 a 5^3 patch map. The paper's final sigmoid is folded into the loss
    (``BCEWithLogitsLoss``), which is the numerically stable equivalent.

    Args:
        in_channels: 2 for the conditional discriminator (MRI and PET concatenated),
            1 for CycleGAN's unconditional ones.
        width: channel multiplier (1.0 = paper).
    """

    def __init__(self, *, in_channels: int, width: float = 1.0) -> None:
        super().__init__()
        width = check_width(width)
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        kernels = (4, 4, 4, 4, 2)
        strides = (2, 2, 2, 1, 1)
        paddings = (1, 1, 1, 1, 0)
        layers: list[nn.Module] = []
        channels = in_channels
        for filters, kernel, stride, padding in zip(FILTERS, kernels, strides, paddings,
                                                    strict=True):
            out = scaled(filters, width=width)
            layers.append(conv_bn_act(channels, out, kernel=kernel, stride=stride,
                                      padding=padding))
            channels = out
        layers.append(nn.Conv3d(channels, 1, 2))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
