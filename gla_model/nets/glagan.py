"""The GLA-GAN generator (paper Sec. II-A.1): a global path on the whole volume and a
local path of K independent sub-networks on K disjoint cuboid patches, fused
channel-wise and regressed to PET by two convolutions and a sigmoid (the last
convolution and the sigmoid in float32 under any autocast)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gla_model.nets.blocks import (
    Float32Conv3d,
    Float32Sigmoid,
    ResidualBlock,
    check_width,
    conv_bn_act,
    scaled,
)

#: Paper: four conv layers (64, 64, 128, 64 filters, 3x3x3, stride 1), each followed here
#: by a residual block of the same width (four residual blocks in all).
BRANCH_FILTERS = (64, 64, 128, 64)
#: How many halvings of each axis (D, H, W) give K patches.
PATCH_SPLITS = {1: (1, 1, 1), 2: (2, 1, 1), 4: (2, 2, 1), 8: (2, 2, 2)}
PATHS = ("global", "local", "both")


def patch_layout(*, k_patches: int) -> tuple[int, int, int]:
    """Number of patches along (D, H, W) for K in {1, 2, 4, 8} (K=4 at 64^3: 32x32x64)."""
    if k_patches not in PATCH_SPLITS:
        raise ValueError(f"k_patches must be one of {sorted(PATCH_SPLITS)}, got {k_patches!r}")
    return PATCH_SPLITS[k_patches]


class Branch(nn.Module):
    """One feature extractor: four conv + BN + LeakyReLU layers, each with a residual block.

    With ``groups`` > 1 it holds that many extractors with separate weights, side by side
    along the channels (grouped convolutions; batch norm is per channel, so per extractor):
    input channel ``k`` feeds only the ``k``-th block of ``out_channels`` outputs.
    """

    def __init__(self, *, width: float, groups: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = groups
        for filters in BRANCH_FILTERS:
            channels = scaled(filters, width=width) * groups
            layers += [conv_bn_act(in_channels, channels, groups=groups),
                       ResidualBlock(channels=channels, groups=groups)]
            in_channels = channels
        self.layers = nn.Sequential(*layers)
        self.out_channels = in_channels // groups

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class LocalPath(nn.Module):
    """K sub-networks with separate weights, each on its own disjoint patch; outputs stitched
    back. The K patches are stacked along the channels and run as one grouped
    :class:`Branch` (one kernel per layer instead of K small ones; the same mathematics:
    each patch sees only its own weights, zero padding and batch statistics)."""

    def __init__(self, *, k_patches: int, width: float) -> None:
        super().__init__()
        self.splits = patch_layout(k_patches=k_patches)
        self.k_patches = k_patches
        self.branches = Branch(width=width, groups=k_patches)
        self.out_channels = self.branches.out_channels

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] != 1:
            raise ValueError(f"the local path takes one input channel, got {x.shape[1]}")
        for axis, parts in zip((2, 3, 4), self.splits, strict=True):
            if x.shape[axis] % parts:
                raise ValueError(
                    f"volume axis of {x.shape[axis]} voxels cannot be split into {parts} patches"
                )
        patches = [x]
        for axis, parts in zip((2, 3, 4), self.splits, strict=True):
            patches = [piece for p in patches for piece in p.chunk(parts, dim=axis)]
        # cat copies the strided chunks into one dense tensor (oneDNN's Conv3d backward is
        # several times slower on strided views), in the input's memory format
        layout = (torch.channels_last_3d if x.is_contiguous(memory_format=torch.channels_last_3d)
                  else torch.contiguous_format)
        stacked = torch.cat(patches, dim=1).contiguous(memory_format=layout)
        outputs = list(self.branches(stacked).chunk(self.k_patches, dim=1))
        for axis, parts in reversed(list(zip((2, 3, 4), self.splits, strict=True))):
            outputs = [torch.cat(outputs[i:i + parts], dim=axis)
                       for i in range(0, len(outputs), parts)]
        return outputs[0]


class GlaGenerator(nn.Module):
    """MRI (N, 1, D, H, W) in [0, 1] -> PET (N, 1, D, H, W) in (0, 1), float32.

    The last convolution and the sigmoid run in float32 with autocast off (see
    :class:`Float32Conv3d`); the paths and the first head layer follow the caller's autocast.

    Args:
        k_patches: number of local patches K in {1, 2, 4, 8} (ignored when ``path="global"``).
        width: channel multiplier (1.0 = the paper's 64/64/128/64 filters).
        path: "both" (GLA-GAN), "global" (global path only) or "local" (local path only).
    """

    def __init__(self, *, k_patches: int, width: float = 1.0, path: str = "both") -> None:
        super().__init__()
        width = check_width(width)
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        patch_layout(k_patches=k_patches)
        self.global_path = Branch(width=width) if path in ("global", "both") else None
        self.local_path = (LocalPath(k_patches=k_patches, width=width)
                           if path in ("local", "both") else None)
        fused = sum(p.out_channels for p in (self.global_path, self.local_path) if p is not None)
        self.head = nn.Sequential(
            conv_bn_act(fused, scaled(64, width=width)),
            Float32Conv3d(scaled(64, width=width), 1, 3, padding=1),
            Float32Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        features = [p(x) for p in (self.global_path, self.local_path) if p is not None]
        return self.head(torch.cat(features, dim=1))
