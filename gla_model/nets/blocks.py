"""Building blocks shared by the networks: conv + BN + LeakyReLU, residual block, widths,
and the float32 output layers of the generators."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

LEAKY_SLOPE = 0.2


def scaled(channels: int, *, width: float) -> int:
    """``channels`` scaled by the width multiplier, at least 1."""
    return max(1, round(channels * width))


def check_width(width: float) -> float:
    """Reject a width multiplier that is not a positive number."""
    if isinstance(width, bool) or not isinstance(width, int | float) or not width > 0:
        raise ValueError(f"width multiplier must be a positive number, got {width!r}")
    return float(width)


def conv_bn_act(in_channels: int, out_channels: int, *, kernel: int = 3, stride: int = 1,
                padding: int | None = None, groups: int = 1) -> nn.Sequential:
    """Conv3d (no bias, BN follows) + BatchNorm3d + LeakyReLU; ``groups`` independent
    convolutions side by side along the channels (see :class:`torch.nn.Conv3d`)."""
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel, stride=stride,
                  padding=kernel // 2 if padding is None else padding, bias=False,
                  groups=groups),
        nn.BatchNorm3d(out_channels),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3x3 conv + BN layers with an identity skip, then LeakyReLU (He et al. 2016);
    ``groups`` independent blocks side by side along the channels."""

    def __init__(self, *, channels: int, groups: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_act(channels, channels, groups=groups),
            nn.Conv3d(channels, channels, 3, padding=1, bias=False, groups=groups),
            nn.BatchNorm3d(channels),
        )
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.body(x))


class Float32Conv3d(nn.Conv3d):
    """Conv3d computed in float32 with autocast off, whatever autocast the caller runs.

    The generators' last convolution: under bf16 autocast its output would carry 8
    significant bits, so the synthetic PET after the sigmoid would take about 257 distinct
    values in (0, 1). Its input is cast to float32 (bf16 features are exact in float32);
    its weights are float32 already. Same parameters and state dict as ``nn.Conv3d``.
    """

    def forward(self, x: Tensor) -> Tensor:
        with autocast_off(device=x.device):
            return super().forward(x.float())


class Float32Sigmoid(nn.Module):
    """Sigmoid computed in float32 with autocast off (the generators' output activation)."""

    def forward(self, x: Tensor) -> Tensor:
        with autocast_off(device=x.device):
            return torch.sigmoid(x.float())


def autocast_off(*, device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast disabled on ``device`` (nothing to disable on one without autocast, such as
    the meta device the FLOP count runs on)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()
