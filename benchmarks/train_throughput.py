"""GLA-GAN training throughput against the machine's Conv3d roofline, and inference time.

For each configuration: median seconds per training step (generator + discriminator,
forward + backward + Adam, Eq. 8 with L1, MS-SSIM, ROI and adversarial terms), volumes/s,
achieved GFLOP/s (FLOPs counted by torch.utils.flop_counter over one step) and its
ratio to the GFLOP/s of one large plain Conv3d (64 -> 64 channels, 3^3, forward +
backward) measured in the same run with the same precision and memory format; plus
the median generator inference time per volume.

    .venv/bin/python benchmarks/train_throughput.py            # demo + paper width
    .venv/bin/python benchmarks/train_throughput.py --quick    # skip the paper width at 64^3
    .venv/bin/python benchmarks/train_throughput.py --smoke    # demo width, batch 1, 1 step
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from gla_model.device import resolve_runtime
from gla_model.losses import RoiLoss
from gla_model.nets import build_model
from gla_model.settings import LossWeights, ModelSpec
from gla_model.train.steps import Optimisers, train_step

LOSSES = LossWeights(l1=1.0, ms_ssim=1.0, roi=1.0, adv=0.01)


def _median_time(fn, *, reps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def conv_roofline(runtime, *, grid: int, reps: int) -> float:
    """GFLOP/s of a 64 -> 64 channel 3^3 Conv3d, forward + backward, batch 2."""
    conv = torch.nn.Conv3d(64, 64, 3, padding=1, bias=False)
    x = runtime.to_input(torch.rand(2, 64, grid, grid, grid)).requires_grad_(True)
    if runtime.channels_last:
        conv = conv.to(memory_format=torch.channels_last_3d)

    def step():
        with runtime.autocast():
            y = conv(x)
        y.float().sum().backward()

    return _flops(step) / _median_time(step, reps=reps) / 1e9


def gla_step(runtime, *, width: float, grid: int, batch: int, reps: int) -> dict[str, float]:
    torch.manual_seed(0)
    spec = ModelSpec(arch="glagan", k_patches=4, width=width, losses=LOSSES)
    bundle = runtime.prepare(build_model(spec=spec, grid=grid))
    adam = lambda ms: torch.optim.Adam([p for m in ms for p in m.parameters()], lr=2e-5)  # noqa: E731
    optimisers = Optimisers(adam(bundle.generators()), adam(bundle.discriminators()),
                            torch.amp.GradScaler(runtime.device.type, enabled=False))
    atlas = np.random.default_rng(0).integers(0, 117, (grid,) * 3)
    roi = RoiLoss(atlas=atlas, n_regions=116)
    mri = runtime.to_input(torch.rand(batch, 1, grid, grid, grid))
    pet = runtime.to_input(torch.rand(batch, 1, grid, grid, grid))

    def step():
        train_step(bundle=bundle, mri=mri, pet=pet, weights=LOSSES,
                   roi=roi, optimisers=optimisers, runtime=runtime)

    flops = _flops(step)
    seconds = _median_time(step, reps=reps, warmup=0 if reps == 1 else 1)
    bundle.eval()
    one = mri[:1]

    def infer():
        with torch.no_grad(), runtime.autocast():
            bundle.generator(one)

    return {"step_s": seconds, "volumes_per_s": batch / seconds, "gflops": flops / seconds / 1e9,
            "infer_s": _median_time(infer, reps=max(1, reps))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the paper width at 64^3")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds: the demo width only, batch 1, one timed step")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args(argv)
    runtime = resolve_runtime(device=args.device, precision=args.precision)
    configs = [("demo", 0.125, 32, 4, 5), ("paper width", 1.0, 32, 1, 2)]
    if args.smoke:
        configs = [("demo", 0.125, 32, 1, 1)]
    elif not args.quick:
        configs.append(("paper", 1.0, 64, 1, 1))
    print(f"device {runtime.device}, precision {runtime.precision}, channels_last "
          f"{runtime.channels_last}, threads {torch.get_num_threads()}")
    print(f"{'config':<12} {'width':>5} {'grid':>4} {'batch':>5} {'step s':>8} {'vol/s':>7} "
          f"{'GFLOP/s':>8} {'roofline':>8} {'ratio':>6} {'infer s/vol':>11}")
    for name, width, grid, batch, reps in configs:
        result = gla_step(runtime, width=width, grid=grid, batch=batch, reps=reps)
        roof = conv_roofline(runtime, grid=grid, reps=1 if args.smoke else 3)
        print(f"{name:<12} {width:>5} {grid:>4} {batch:>5} {result['step_s']:>8.3f} "
              f"{result['volumes_per_s']:>7.3f} {result['gflops']:>8.1f} {roof:>8.1f} "
              f"{result['gflops'] / roof:>6.2f} {result['infer_s']:>11.3f}")


if __name__ == "__main__":
    main()
