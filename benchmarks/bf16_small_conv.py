"""How often oneDNN's bf16 Conv3d backward returns NaN gradients for a 2^3 input, with and
without :meth:`gla_model.device.Runtime.prepare` (which runs such inputs in fp32).

The shape is the U-Net's bottleneck at a 32^3 grid and width 0.125 (16 -> 32 channels,
batch 1). Only CPUs with native bf16 (AVX-512-BF16 or AMX) run this path.

    .venv/bin/python benchmarks/bf16_small_conv.py [--calls 3000]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from gla_model.device import Runtime, _cpu_has_fast_bf16


def nan_calls(*, prepared: bool, calls: int, channels_last: bool) -> int:
    """Number of backward calls with a non-finite weight or input gradient."""
    torch.manual_seed(0)
    runtime = Runtime(device=torch.device("cpu"), precision="bf16", channels_last=channels_last)
    conv = nn.Conv3d(16, 32, 3, padding=1, bias=False)
    conv = runtime.prepare(conv) if prepared else conv
    bad = 0
    for _ in range(calls):
        x = runtime.to_input(torch.randn(1, 16, 2, 2, 2)).requires_grad_(True)
        with runtime.autocast():
            y = conv(x)
        y.float().abs().mean().backward()
        bad += not (torch.isfinite(conv.weight.grad).all() and torch.isfinite(x.grad).all())
        conv.weight.grad = None
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not _cpu_has_fast_bf16():
        print("this CPU has no native bf16; precision auto uses fp32 here")
    for channels_last in (False, True):
        raw = nan_calls(prepared=False, calls=args.calls, channels_last=channels_last)
        guarded = nan_calls(prepared=True, calls=args.calls, channels_last=channels_last)
        print(f"channels_last {channels_last!s:5}: NaN gradients in {raw}/{args.calls} calls "
              f"plain bf16, {guarded}/{args.calls} prepared (ratio {guarded / max(raw, 1):.3f})")


if __name__ == "__main__":
    main()
