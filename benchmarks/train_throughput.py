"""GLA-GAN training throughput against the machine's Conv3d roofline, with peak memory.

Each configuration runs in its own process (so its peak memory is its own). In that
process, with the same device, precision and memory format as the model step:

* the roofline: one plain Conv3d, 64 -> 64 channels, 3^3, forward + backward, batch 2;
* the training step of the GLA-GAN (K = 4; generator + discriminator, forward + backward
  + Adam, Eq. 8 with L1, MS-SSIM, ROI and adversarial terms); FLOPs counted over one
  step (:func:`gla_model.nets.complexity.count_flops`);
* both after ``--warmup`` rounds, then timed in turn ``--repeats`` times (roofline, step,
  roofline, step, ...), so both see the same machine: best and median of each, and the
  ratio achieved / roofline, best to best and the median of the per-round ratios;
* peak resident memory of the process (``ru_maxrss``) and the generator's inference time.

Configurations: ``demo`` (config.yaml: width 0.125, 32^3, batch 1), ``demo b4`` (batch 4),
``paper width`` (width 1.0, 32^3, batch 1) and ``paper`` (workflow/presets/paper.yaml:
width 1.0, 64^3, batch 4).

    .venv/bin/python benchmarks/train_throughput.py                # every configuration
    .venv/bin/python benchmarks/train_throughput.py --quick        # without ``paper``
    .venv/bin/python benchmarks/train_throughput.py --smoke        # demo, 1 step, 16^3 roof
    .venv/bin/python benchmarks/train_throughput.py --json-out F   # also write the figures
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gla_model.device import Runtime, resolve_runtime
from gla_model.losses import RoiLoss
from gla_model.nets import build_model
from gla_model.nets.complexity import count_flops
from gla_model.settings import LossWeights, ModelSpec
from gla_model.train.steps import Optimisers, train_step

LOSSES = LossWeights(l1=1.0, ms_ssim=1.0, roi=1.0, adv=0.01)
#: name -> (width, grid, batch)
CONFIGS = {"demo": (0.125, 32, 1), "demo b4": (0.125, 32, 4),
           "paper width": (1.0, 32, 1), "paper": (1.0, 64, 4)}
ROOF_CHANNELS = 64


def interleaved_timings(fns: list[Callable[[], None]], *, warmup: int, repeats: int
                        ) -> list[list[float]]:
    """Seconds of each of ``fns``, run in turn ``repeats`` times after ``warmup`` rounds,
    so that every function sees the same machine (a busy neighbour slows them alike)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, record in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return times


def roofline_step(runtime: Runtime, *, grid: int) -> Callable[[], None]:
    """Forward + backward of a 64 -> 64 channel 3^3 Conv3d on a batch of 2."""
    conv = torch.nn.Conv3d(ROOF_CHANNELS, ROOF_CHANNELS, 3, padding=1, bias=False)
    if runtime.channels_last:
        conv = conv.to(memory_format=torch.channels_last_3d)
    conv = conv.to(runtime.device)
    x = runtime.to_input(torch.rand(2, ROOF_CHANNELS, grid, grid, grid)).requires_grad_(True)

    def step() -> None:
        with runtime.autocast():
            y = conv(x)
        y.float().sum().backward()

    return step


def gla_training_step(runtime: Runtime, *, width: float, grid: int, batch: int
                      ) -> tuple[Callable[[], None], Callable[[], None]]:
    """The training step and the generator's inference on one volume."""
    torch.manual_seed(0)
    spec = ModelSpec(arch="glagan", k_patches=4, width=width, losses=LOSSES)
    bundle = runtime.prepare(build_model(spec=spec, grid=grid))

    def adam(modules):
        return torch.optim.Adam([p for m in modules for p in m.parameters()], lr=2e-5)

    optimisers = Optimisers(adam(bundle.generators()), adam(bundle.discriminators()),
                            torch.amp.GradScaler(runtime.device.type, enabled=False))
    atlas = np.random.default_rng(0).integers(0, 117, (grid,) * 3)
    roi = RoiLoss(atlas=atlas, n_regions=116)
    mri = runtime.to_input(torch.rand(batch, 1, grid, grid, grid))
    pet = runtime.to_input(torch.rand(batch, 1, grid, grid, grid))

    def step() -> None:
        train_step(bundle=bundle, mri=mri, pet=pet, weights=LOSSES, roi=roi,
                   optimisers=optimisers, runtime=runtime)

    def infer() -> None:
        with torch.no_grad(), runtime.autocast():
            bundle.generator.eval()(mri[:1])
        bundle.generator.train()

    return step, infer


def measure(*, name: str, device: str, precision: str, roof_grid: int, warmup: int,
            repeats: int) -> dict[str, float | str]:
    """Every figure of one configuration (runs in the configuration's own process)."""
    width, grid, batch = CONFIGS[name]
    runtime = resolve_runtime(device=device, precision=precision)
    roof = roofline_step(runtime, grid=roof_grid)
    step, infer = gla_training_step(runtime, width=width, grid=grid, batch=batch)
    roof_flops, step_flops = count_flops(roof), count_flops(step)
    roof_times, step_times = interleaved_timings([roof, step], warmup=warmup, repeats=repeats)
    infer_times = interleaved_timings([infer], warmup=1, repeats=max(1, repeats // 2))[0]
    pair_ratios = [(step_flops / s) / (roof_flops / r)
                   for s, r in zip(step_times, roof_times, strict=True)]
    best, median = min(step_times), statistics.median(step_times)
    roof_best, roof_median = roof_flops / min(roof_times), roof_flops / statistics.median(
        roof_times)
    peak_gpu = (torch.cuda.max_memory_allocated() / 2**30 if runtime.device.type == "cuda"
                else float("nan"))
    return {
        "config": name, "width": width, "grid": grid, "batch": batch,
        "device": str(runtime.device), "precision": runtime.precision,
        "threads": torch.get_num_threads(),
        "step_s_best": best, "step_s_median": median, "volumes_per_s": batch / median,
        "gflops_best": step_flops / best / 1e9, "gflops_median": step_flops / median / 1e9,
        "roofline_gflops_best": roof_best / 1e9, "roofline_gflops_median": roof_median / 1e9,
        "ratio_best": step_flops / best / roof_best,
        "ratio_median": statistics.median(pair_ratios),
        "infer_s": statistics.median(infer_times),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_gpu_gib": peak_gpu,
    }


def _child(queue: multiprocessing.Queue, kwargs: dict) -> None:
    queue.put(measure(**kwargs))


def measure_in_process(**kwargs) -> dict[str, float | str]:
    """:func:`measure` in a fresh process, so its peak memory is the configuration's."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, kwargs))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode:
        raise SystemExit(f"configuration {kwargs['name']} failed (exit {process.exitcode})")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the paper configuration")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds: the demo configuration, one step, a 16^3 roofline")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), metavar="NAME",
                        help=f"configurations to run (of {list(CONFIGS)})")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json-out", type=Path, help="write every figure to this JSON file")
    args = parser.parse_args(argv)
    names = args.configs or [n for n in CONFIGS if not (args.quick and n == "paper")]
    warmup, repeats, roof_grid = args.warmup, args.repeats, 32
    if args.smoke:
        names, warmup, repeats, roof_grid = ["demo"], 1, 1, 16
    print(f"{'config':<12} {'width':>5} {'grid':>4} {'batch':>5} {'step s best/med':>16} "
          f"{'vol/s':>6} {'GFLOP/s med':>11} {'roof med':>8} {'ratio best/med':>14} "
          f"{'peak GiB':>8} {'infer s':>7}")
    results = []
    for name in names:
        row = measure_in_process(name=name, device=args.device, precision=args.precision,
                                 roof_grid=roof_grid, warmup=warmup, repeats=repeats)
        results.append(row)
        print(f"{name:<12} {row['width']:>5} {row['grid']:>4} {row['batch']:>5} "
              f"{row['step_s_best']:>7.3f}/{row['step_s_median']:<8.3f} "
              f"{row['volumes_per_s']:>6.2f} {row['gflops_median']:>11.1f} "
              f"{row['roofline_gflops_median']:>8.1f} "
              f"{row['ratio_best']:>6.2f}/{row['ratio_median']:<7.2f} "
              f"{row['peak_rss_gib']:>8.2f} {row['infer_s']:>7.3f}", flush=True)
    print(f"device {results[0]['device']}, precision {results[0]['precision']}, threads "
          f"{results[0]['threads']}; warm-up {warmup}, repeats {repeats}; roofline: "
          f"Conv3d {ROOF_CHANNELS}->{ROOF_CHANNELS} 3^3 fwd+bwd, batch 2, {roof_grid}^3")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
