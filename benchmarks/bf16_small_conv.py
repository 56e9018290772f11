"""How often oneDNN's bf16 Conv3d backward returns NaN gradients for 2^3 inputs, with and
without :meth:`gla_model.device.Runtime.prepare` (which runs such inputs in fp32).

Shapes: 4 -> 8 channels at batch 2, and the U-Net's bottleneck at a 32^3 grid and width
0.125 (16 -> 32 channels) at batch 1 and 2. The rate varies a lot from run to run (seen
here: from 0.1 % to half of the calls), so the script sums over the shapes and repeats.
Only CPUs with native bf16 (AVX-512-BF16 or AMX) run this path.

    .venv/bin/python benchmarks/bf16_small_conv.py [--calls 1500]
    .venv/bin/python benchmarks/bf16_small_conv.py --smoke    # 2 calls per shape
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from gla_model.device import Runtime, _cpu_has_fast_bf16

#: (input channels, output channels, batch size), all on a 2^3 input.
SHAPES = ((4, 8, 2), (16, 32, 1), (16, 32, 2))


def nan_calls(*, prepared: bool, calls: int, channels_last: bool, shape: tuple[int, int, int]
              ) -> int:
    """Number of backward calls with a non-finite weight or input gradient (random data:
    which inputs trigger the fault is not known, so the count changes from run to run)."""
    in_channels, out_channels, batch = shape
    runtime = Runtime(device=torch.device("cpu"), precision="bf16", channels_last=channels_last)
    conv = nn.Conv3d(in_channels, out_channels, 3, padding=1, bias=False)
    if prepared:
        conv = runtime.prepare(conv)
    elif channels_last:
        conv = conv.to(memory_format=torch.channels_last_3d)
    bad = 0
    for _ in range(calls):
        x = runtime.to_input(torch.randn(batch, in_channels, 2, 2, 2)).requires_grad_(True)
        with runtime.autocast():
            y = conv(x)
        y.float().abs().mean().backward()
        bad += not (torch.isfinite(conv.weight.grad).all() and torch.isfinite(x.grad).all())
        conv.weight.grad = None
    return bad


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--smoke", action="store_true", help="seconds: 2 calls per shape")
    args = parser.parse_args(argv)
    if args.smoke:
        args.calls = 2
    torch.set_num_threads(1)
    if not _cpu_has_fast_bf16():
        print("this CPU has no native bf16; precision auto uses fp32 here")
    total = args.calls * len(SHAPES)
    for channels_last in (False, True):
        counts = {prepared: sum(nan_calls(prepared=prepared, calls=args.calls,
                                          channels_last=channels_last, shape=shape)
                                for shape in SHAPES)
                  for prepared in (False, True)}
        print(f"channels_last {channels_last!s:5}: NaN gradients in {counts[False]}/{total} "
              f"calls plain bf16, {counts[True]}/{total} prepared "
              f"(ratio {counts[True] / max(counts[False], 1):.3f})")


if __name__ == "__main__":
    main()
