"""The MS-SSIM loss's Gaussian filter: matrix products (``gla_model.ssim``) against the
obvious peer, symmetric padding plus three single-channel 1D ``conv3d`` passes.

Prints the median forward + backward time of the MS-SSIM loss at 32^3 (batch 1, the
demo's training step) with each filter, their ratio, and the largest difference of the
filtered volumes (they compute the same sums).

    .venv/bin/python benchmarks/ssim_filter.py [--reps 30]
    .venv/bin/python benchmarks/ssim_filter.py --smoke    # 4 calls, the last one timed
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import torch
import torch.nn.functional as F

from gla_model import ssim


def conv_filter(volume: torch.Tensor, *, spec: ssim.SsimSpec) -> torch.Tensor:
    """The peer: pad by mirroring, then a 1D Gaussian ``conv3d`` along each axis."""
    radius = spec.window // 2
    kernel = ssim._gaussian_1d(spec, dtype=volume.dtype, device=volume.device)
    n, c = volume.shape[:2]
    out = volume.reshape(n * c, 1, *volume.shape[2:])
    for axis in (2, 3, 4):
        size = out.shape[axis]
        head = out.narrow(axis, 0, radius).flip(axis)
        tail = out.narrow(axis, size - radius, radius).flip(axis)
        out = torch.cat([head, out, tail], dim=axis)
    for shape in ((-1, 1, 1), (1, -1, 1), (1, 1, -1)):
        out = F.conv3d(out, kernel.view(1, 1, *shape))
    return out.reshape(n, c, *out.shape[2:])


#: Calls left out of the median (start-up of the first calls).
WARMUP = 3


def loss_seconds(*, reps: int = 30) -> float:
    x = torch.rand(1, 1, 32, 32, 32, requires_grad=True)
    y = torch.rand(1, 1, 32, 32, 32)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        (1 - ssim.ms_ssim(x, y, spec=ssim.LOSS_MS_SSIM_SPEC).mean()).backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[WARMUP:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30,
                        help=f"calls per filter; the first {WARMUP} are not timed")
    parser.add_argument("--smoke", action="store_true", help="seconds: one timed call each")
    args = parser.parse_args(argv)
    if args.smoke:
        args.reps = WARMUP + 1
    if args.reps <= WARMUP:
        parser.error(f"--reps must be over {WARMUP}")
    torch.set_num_threads(1)
    volume = torch.rand(2, 5, 32, 32, 32, dtype=torch.float64)
    difference = max(
        float((ssim._gaussian_filter(volume, spec=spec) - conv_filter(volume, spec=spec))
              .abs().max())
        for spec in (ssim.LOSS_MS_SSIM_SPEC, ssim.METRIC_SSIM_SPEC))
    matrix = loss_seconds(reps=args.reps)
    with mock.patch.object(ssim, "_gaussian_filter", conv_filter):
        conv = loss_seconds(reps=args.reps)
    print(f"MS-SSIM loss forward+backward at 32^3, 1 thread: matrix filter {matrix * 1e3:.1f} ms, "
          f"padded conv3d {conv * 1e3:.1f} ms (ratio {matrix / conv:.2f}); "
          f"max filter difference {difference:.1e}")


if __name__ == "__main__":
    main()
