"""A ready GPU check: the CUDA tests, paper-scale GLA-GAN training and synthesis throughput,
and the largest grid that trains on the card, in one unattended run of under 8 minutes.

    python benchmarks/gpu_check.py --device cuda --out results/gpu_check.json
    .venv/bin/python benchmarks/gpu_check.py --device cpu --smoke      # seconds, same path

Sections, in this order, each only while --budget-s lasts (what does not fit is listed
under "skipped" in the JSON, with the reason):

1. tests: ``pytest -m cuda tests/test_gpu.py`` in a subprocess (CUDA only): a training
   step, bit-exact resume and synthesis against CPU fp32, all on CUDA.
2. roofline: TFLOP/s of one large Conv3d (64 -> 64 channels, 3^3, 64^3 x 4, forward and
   both backward products) in the run's precision, in both memory formats; the faster one
   is the roofline that the model's throughput is divided by.
3. training: the paper's GLA-GAN (workflow/presets/paper.yaml: K=4, width 1.0, Eq. 8 with
   adversarial, L1, MS-SSIM and ROI terms, Adam) at 64^3, batch 4, one full
   ``train_step`` (D and G updates): median steps/s after warm-up, volumes/s, TFLOP/s
   (FLOPs counted by torch.utils.flop_counter over one step) and its ratio to the
   roofline, and the peak GPU memory.
4. synthesis: generator volumes/s, host array in, host array out (what ``Synthesizer``
   does per volume), at batch 1 and at the best batch of 1, 2, 4, 8, 16 that fits.
5. repeatability: the same 3 training steps (64^3, width 1.0, batch 2) twice from the same
   seed with the default kernels (no deterministic algorithms, as training runs); the
   largest weight difference. 0 means the default training path repeats bit for bit; the
   resume test turns deterministic kernels on.
6. largest grid: the largest of 64, 96, 128, 160, 192 voxels a side that completes a
   training step at width 1.0, batch 1 (the paper stopped at 64^3 for memory).

Output: the device first, then one line per figure (``name: value unit (...)``), and one
JSON (--out), rewritten after every section so a run stopped at its time limit leaves
what it measured. Exit status 0 when no section failed and the tests passed (a section
skipped for time is no failure), 1 when a test or a section failed, 2 when ``--device
cuda`` finds no CUDA GPU (the venv's torch is a CPU build: use a python whose torch has
CUDA; the package is imported from the repo, and the resume and synthesis tests also need
nibabel).

Smoke (``--smoke``): width 0.125, grid 32, a small roofline Conv3d, two timed steps,
synthesis at batches 1 and 2, grids (32,) only, one CPU thread unless --threads: seconds
on a CPU; writes no JSON unless --out is given.
"""

# ruff: noqa: E402 - the package is imported after sys.path is given the repo root (below)
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# A GPU image's python may run this without the package installed: import it from the repo.
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from gla_model.device import Runtime, resolve_runtime
from gla_model.losses import RoiLoss
from gla_model.nets import build_model
from gla_model.nets.complexity import count_flops
from gla_model.settings import ModelSpec, build_settings, load_config
from gla_model.train.steps import Optimisers, train_step

PAPER_CONFIG = (ROOT / "config.yaml", ROOT / "workflow" / "presets" / "paper.yaml")
PAPER_VARIANT = "glagan"
DEFAULT_OUT = ROOT / "results" / "gpu_check.json"
#: AAL's regions, as gla_model.resources.AAL_REGION_COUNT; not imported from there, since
#: that module needs nibabel, which a GPU image may lack (the measurements do not read NIfTI).
ROI_REGIONS = 116
GIB = 2 ** 30
#: Seconds the CUDA tests may take at most (they take well under a minute on a GPU).
TESTS_TIMEOUT_S = 240
#: Substrings of errors that mean the card ran out of memory (cuDNN and cuBLAS report it
#: as a RuntimeError of their own, not torch.cuda.OutOfMemoryError).
OOM_MARKERS = ("out of memory", "CUDNN_STATUS_ALLOC_FAILED", "CUBLAS_STATUS_ALLOC_FAILED")


@dataclass(frozen=True)
class Sizes:
    """What each section measures: the full check or its smoke."""

    width: float  # training and synthesis
    grid: int
    batch: int
    warmup: int
    steps: int  # timed training steps
    conv: tuple[int, int, int]  # roofline Conv3d: channels, grid, batch
    conv_reps: int
    synth_batches: tuple[int, ...]
    synth_reps: int
    repeat: tuple[float, int, int, int]  # repeatability: width, grid, batch, steps
    probe_width: float
    probe_grids: tuple[int, ...]


FULL = Sizes(width=1.0, grid=64, batch=4, warmup=2, steps=10, conv=(64, 64, 4), conv_reps=10,
             synth_batches=(1, 2, 4, 8, 16), synth_reps=5, repeat=(1.0, 64, 2, 3),
             probe_width=1.0, probe_grids=(64, 96, 128, 160, 192))
SMOKE = Sizes(width=0.125, grid=32, batch=1, warmup=0, steps=2, conv=(32, 16, 2), conv_reps=2,
              synth_batches=(1, 2), synth_reps=1, repeat=(0.125, 32, 1, 1),
              probe_width=0.125, probe_grids=(32,))


@dataclass
class Budget:
    seconds: float
    start: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.seconds - self.elapsed()


def number(value: float) -> str:
    """Up to 4 significant digits, never in exponent notation."""
    if value == 0 or not np.isfinite(value):
        return str(value)
    return np.format_float_positional(value, precision=4, unique=False, fractional=False,
                                      trim="-")


def is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or any(
        marker in str(error) for marker in OOM_MARKERS)


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def paper_spec(width: float) -> tuple[ModelSpec, dict[str, float]]:
    """The paper preset's GLA-GAN spec at ``width``, and its Adam settings."""
    settings = build_settings(config=load_config(paths=list(PAPER_CONFIG)))
    variant = settings.models.variants[PAPER_VARIANT].model_spec()
    training = settings.training
    spec = ModelSpec(arch=variant.arch, k_patches=variant.k_patches, width=width,
                     losses=variant.losses)
    return spec, {"lr": training.lr, "beta1": training.beta1, "beta2": training.beta2}


class Check:
    """The sections of one run and the JSON they fill."""

    def __init__(self, args: argparse.Namespace, runtime: Runtime) -> None:
        self.args = args
        self.runtime = runtime
        self.cuda = runtime.device.type == "cuda"
        self.sizes = SMOKE if args.smoke else FULL
        self.budget = Budget(args.budget_s)
        self.out: Path | None = args.out
        self.failed: list[str] = []
        self.results: dict[str, Any] = {
            "script": "benchmarks/gpu_check.py", "argv": sys.argv[1:],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "smoke": args.smoke,
            "budget_s": args.budget_s, "device": {}, "figures": [], "skipped": [],
            "errors": {}, "section_s": {},
        }

    # ------------------------------------------------------------ output
    def emit(self, name: str, value: float | int, unit: str, note: str = "") -> None:
        line = f"{name}: {number(value) if isinstance(value, float) else value} {unit}"
        line += f" ({note})" if note else ""
        print(line, flush=True)
        self.results["figures"].append({"name": name, "value": value, "unit": unit,
                                        "line": line})

    def skip(self, what: str, why: str) -> None:
        self.results["skipped"].append({"what": what, "why": why})
        print(f"skipped {what}: {why}", flush=True)

    def save(self) -> None:
        self.results["elapsed_s"] = round(self.budget.elapsed(), 2)
        if self.out is None:
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(f".{self.out.name}.tmp")
        tmp.write_text(json.dumps(self.results, indent=2, default=_jsonable) + "\n")
        os.replace(tmp, self.out)

    # ------------------------------------------------------------ helpers
    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def peak_memory(self) -> int:
        """Peak GPU memory allocated since :meth:`reset_peak`; on the CPU, the process's
        peak resident memory (never reset)."""
        if self.cuda:
            return int(torch.cuda.max_memory_allocated())
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    @property
    def memory_kind(self) -> str:
        return "GPU memory" if self.cuda else "host memory (process max RSS)"

    def timed(self, fn: Callable[[], Any], *, reps: int, warmup: int,
              deadline: float | None = None) -> list[float]:
        """Seconds of each of ``reps`` calls after ``warmup`` calls, synchronised; stops
        early (after at least 2) once ``deadline`` seconds of the budget are left."""
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(reps):
            if deadline is not None and len(times) >= 2 and self.budget.left() < deadline:
                break
            self.sync()
            start = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - start)
        return times

    @staticmethod
    def flops(fn: Callable[[], Any]) -> int:
        return count_flops(fn)

    def training_setup(self, *, width: float, grid: int, batch: int, seed: int = 0):
        """The paper's networks, optimisers, ROI loss and one batch, on this runtime."""
        spec, adam = paper_spec(width)
        torch.manual_seed(seed)
        bundle = self.runtime.prepare(build_model(spec=spec, grid=grid))

        def optimiser(modules):
            params = [p for m in modules for p in m.parameters()]
            return torch.optim.Adam(params, lr=adam["lr"], betas=(adam["beta1"], adam["beta2"]))

        optimisers = Optimisers(optimiser(bundle.generators()),
                                optimiser(bundle.discriminators()),
                                torch.amp.GradScaler(self.runtime.device.type,
                                                     enabled=self.runtime.precision == "fp16"))
        rng = np.random.default_rng(seed)
        atlas = rng.integers(0, ROI_REGIONS + 1, (grid,) * 3)
        roi = RoiLoss(atlas=atlas, n_regions=ROI_REGIONS).to(self.runtime.device)
        generator = torch.Generator().manual_seed(seed)
        mri = self.runtime.to_input(torch.rand(batch, 1, grid, grid, grid, generator=generator))
        pet = self.runtime.to_input(torch.rand(batch, 1, grid, grid, grid, generator=generator))

        def step() -> dict[str, float]:
            return train_step(bundle=bundle, mri=mri, pet=pet, weights=spec.losses, roi=roi,
                              optimisers=optimisers, runtime=self.runtime)

        return spec, bundle, step

    # ------------------------------------------------------------ sections
    def device_section(self) -> None:
        info: dict[str, Any] = {"type": self.runtime.device.type,
                                "precision": self.runtime.precision,
                                "channels_last": self.runtime.channels_last,
                                "torch": torch.__version__, "cpu": cpu_model(),
                                "python": platform.python_version()}
        if self.cuda:
            props = torch.cuda.get_device_properties(0)
            info.update(name=props.name, total_memory_bytes=int(props.total_memory),
                        capability=f"{props.major}.{props.minor}",
                        multiprocessors=props.multi_processor_count,
                        cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                        cudnn_benchmark=torch.backends.cudnn.benchmark,
                        cudnn_allow_tf32=torch.backends.cudnn.allow_tf32)
            note = (f"cuda, {number(props.total_memory / GIB)} GiB, sm_{props.major}"
                    f"{props.minor}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
                    f"precision {self.runtime.precision}")
        else:
            info.update(name=info["cpu"], threads=torch.get_num_threads(),
                        total_memory_bytes=os.sysconf("SC_PAGE_SIZE")
                        * os.sysconf("SC_PHYS_PAGES"))
            threads = torch.get_num_threads()
            note = (f"cpu, {threads} thread{'s' * (threads != 1)}, torch {torch.__version__}, "
                    f"precision {self.runtime.precision}")
        self.results["device"] = info
        line = f"device: {info['name']} ({note})"
        print(line, flush=True)
        self.results["figures"].append({"name": "device", "value": info["name"], "unit": "",
                                        "line": line})

    def tests_section(self) -> None:
        if not self.cuda:
            self.results["tests"] = {"ran": False, "reason": "CUDA tests need --device cuda"}
            self.skip("cuda tests", "they need --device cuda")
            return
        if self.args.no_tests:
            self.results["tests"] = {"ran": False, "reason": "--no-tests"}
            self.skip("cuda tests", "--no-tests")
            return
        timeout = min(TESTS_TIMEOUT_S, max(30.0, 0.5 * self.budget.left()))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        env.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        with tempfile.TemporaryDirectory() as tmp:
            junit = Path(tmp) / "junit.xml"
            command = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p",
                       "no:cacheprovider", f"--junitxml={junit}", "tests/test_gpu.py"]
            start = time.perf_counter()
            try:
                proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                                      text=True, timeout=timeout, check=False)
                output, returncode = proc.stdout + proc.stderr, proc.returncode
            except subprocess.TimeoutExpired as error:
                output = "".join(part.decode(errors="replace") if isinstance(part, bytes)
                                 else part or "" for part in (error.stdout, error.stderr))
                output += f"\n[timed out after {timeout:.0f} s]"
                returncode = None
            seconds = time.perf_counter() - start
            counts = _junit_counts(junit)
        ok = (returncode == 0 and counts["failed"] == 0 and counts["errors"] == 0
              and counts["passed"] > 0)
        self.results["tests"] = {"ran": True, "ok": ok, "returncode": returncode,
                                 "seconds": round(seconds, 1), "command": command[1:],
                                 **counts, "output_tail": output[-4000:]}
        note = (f"{counts['failed']} failed, {counts['errors']} errors, "
                f"{counts['skipped']} skipped, {number(seconds)} s")
        if returncode is None:
            note += f", timed out after {timeout:.0f} s"
        self.emit("cuda tests", counts["passed"], "passed", note)
        for name, message in counts["failures"]:
            print(f"  FAILED {name}: {message}", flush=True)
        if not ok:
            self.failed.append("cuda tests")
            print(output[-2000:], flush=True)

    def roofline_section(self) -> None:
        channels, grid, batch = self.sizes.conv
        dtype = self.runtime.autocast_dtype or torch.float32
        formats = {"channels_last_3d": torch.channels_last_3d,
                   "contiguous": torch.contiguous_format}
        measured: dict[str, dict[str, float]] = {}
        for name, memory_format in formats.items():
            conv = torch.nn.Conv3d(channels, channels, 3, padding=1, bias=False)
            conv = conv.to(self.runtime.device, dtype).to(memory_format=memory_format)
            x = torch.rand(batch, channels, grid, grid, grid, device=self.runtime.device,
                           dtype=dtype).contiguous(memory_format=memory_format)
            x.requires_grad_(True)
            grad = torch.ones_like(conv(x)).detach()

            def step(conv=conv, x=x, grad=grad):
                x.grad = conv.weight.grad = None
                conv(x).backward(grad)

            flops = self.flops(step)
            times = self.timed(step, reps=self.sizes.conv_reps,
                               warmup=self.sizes.warmup + 1)
            seconds = statistics.median(times)
            measured[name] = {"tflops": flops / seconds / 1e12, "step_s": seconds,
                              "flops": flops}
            del conv, x, grad
        best = max(measured, key=lambda k: measured[k]["tflops"])
        other = next(k for k in measured if k != best)
        self.results["roofline"] = {
            "what": f"Conv3d {channels}->{channels} ch, 3^3, padding 1, {grid}^3 x {batch}, "
                    f"{dtype}, forward + input and weight gradients",
            "formats": measured, "best_format": best, "tflops": measured[best]["tflops"]}
        self.emit("conv3d roofline", measured[best]["tflops"], "TFLOP/s",
                  f"{str(dtype).removeprefix('torch.')} {best}, {channels}->{channels} ch 3^3, "
                  f"{grid}^3 x {batch}, fwd+bwd; {other} "
                  f"{number(measured[other]['tflops'])} TFLOP/s, ratio "
                  f"{number(measured[other]['tflops'] / measured[best]['tflops'])}")
        self.free()

    def training_section(self) -> None:
        sizes = self.sizes
        self.free()
        self.reset_peak()
        spec, _, step = self.training_setup(width=sizes.width, grid=sizes.grid,
                                            batch=sizes.batch)
        last: dict[str, float] = {}

        def timed_step() -> None:
            last.update(step())

        flops = self.flops(timed_step)  # also the first warm-up step
        times = self.timed(timed_step, reps=sizes.steps, warmup=sizes.warmup,
                           deadline=0.25 * self.budget.seconds)
        terms = dict(last)
        peak = self.peak_memory()
        seconds = statistics.median(times)
        roofline = self.results.get("roofline", {}).get("tflops")
        tflops = flops / seconds / 1e12
        finite = all(np.isfinite(v) for v in terms.values())
        what = (f"{sizes.grid}^3, width {spec.width}, batch {sizes.batch}, "
                f"{self.runtime.precision}, K={spec.k_patches}")
        self.results["training"] = {
            "what": what, "spec": spec.as_dict(), "grid": sizes.grid, "batch": sizes.batch,
            "steps_per_s": 1 / seconds, "volumes_per_s": sizes.batch / seconds,
            "step_s_median": seconds, "step_s": times, "flops_per_step": flops,
            "roi_regions": ROI_REGIONS, "tflops": tflops,
            "ratio_to_roofline": tflops / roofline if roofline else None,
            "peak_memory_bytes": peak, "memory_kind": self.memory_kind,
            "losses_finite": finite, "last_terms": terms}
        self.emit("training steps/s", 1 / seconds, "steps/s",
                  f"{what}; median of {len(times)} steps")
        self.emit("training volumes/s", sizes.batch / seconds, "volumes/s")
        note = (f"ratio {number(tflops / roofline)} to the Conv3d roofline" if roofline
                else "no roofline measured")
        self.emit("training throughput", tflops, "TFLOP/s", note)
        total = self.results["device"].get("total_memory_bytes")
        note = f"ratio {number(peak / total)} of {number(total / GIB)} GiB" if total else ""
        self.emit(f"training peak {self.memory_kind}", peak / GIB, "GiB", note)
        if not finite:
            self.failed.append("training losses not finite")
            print(f"training losses not finite: {terms}", flush=True)

    def synthesis_section(self) -> None:
        sizes = self.sizes
        self.free()
        spec, _ = paper_spec(sizes.width)
        torch.manual_seed(0)
        generator = self.runtime.prepare(build_model(spec=spec, grid=sizes.grid).generator)
        generator.eval()
        grid = sizes.grid
        batches: dict[str, dict[str, Any]] = {}
        for batch in sizes.synth_batches:
            if batches and self.budget.left() < 0.2 * self.budget.seconds:
                self.skip(f"synthesis batch {batch}", "time budget")
                continue
            host = torch.rand(batch, 1, grid, grid, grid,
                              generator=torch.Generator().manual_seed(batch))

            def synthesize(host=host) -> np.ndarray:
                with torch.no_grad(), self.runtime.autocast():
                    pet = generator(self.runtime.to_input(host))
                return pet.cpu().numpy()

            try:
                times = self.timed(synthesize, reps=sizes.synth_reps, warmup=1)
            except RuntimeError as error:
                if not is_oom(error):
                    raise
                batches[str(batch)] = {"status": "out of memory", "error": first_line(error)}
                self.free()
                break
            seconds = statistics.median(times)
            batches[str(batch)] = {"status": "ok", "batch_s": seconds,
                                   "volumes_per_s": batch / seconds}
        fitted = {int(b): r for b, r in batches.items() if r["status"] == "ok"}
        best = max(fitted, key=lambda b: fitted[b]["volumes_per_s"])
        one = fitted[1]["volumes_per_s"]
        self.results["synthesis"] = {
            "what": f"{grid}^3, width {spec.width}, {self.runtime.precision}, generator in "
                    "eval mode, host float32 in and out (as Synthesizer per volume)",
            "batches": batches, "batch1_volumes_per_s": one, "best_batch": best,
            "best_volumes_per_s": fitted[best]["volumes_per_s"]}
        self.emit("synthesis batch 1", one, "volumes/s",
                  f"{grid}^3, width {spec.width}, {self.runtime.precision}, host to host")
        self.emit(f"synthesis best batch {best}", fitted[best]["volumes_per_s"], "volumes/s",
                  f"ratio {number(fitted[best]['volumes_per_s'] / one)} to batch 1; tried "
                  f"{', '.join(batches)}")

    def repeatability_section(self) -> None:
        width, grid, batch, steps = self.sizes.repeat
        self.free()
        runs = []
        for _ in range(2):
            _, bundle, step = self.training_setup(width=width, grid=grid, batch=batch, seed=1)
            for _ in range(steps):
                step()
            runs.append({k: v.detach().float().cpu() for k, v in bundle.state_dict().items()
                         if v.is_floating_point()})
            del bundle, step
        diff = max(float((runs[0][k] - runs[1][k]).abs().max()) for k in runs[0])
        self.results["repeatability"] = {
            "what": f"{steps} training steps twice from seed 1, {grid}^3, width {width}, "
                    f"batch {batch}, {self.runtime.precision}, default kernels "
                    f"(deterministic algorithms {torch.are_deterministic_algorithms_enabled()})",
            "max_abs_weight_diff": diff, "bit_exact": diff == 0.0}
        self.emit("training repeatability", diff, "max |weight difference|",
                  f"{steps} steps twice, default kernels; bit-exact {diff == 0.0}")

    def max_grid_section(self) -> None:
        sizes = self.sizes
        self.free()
        total = self.results["device"].get("total_memory_bytes")
        tried: dict[str, dict[str, Any]] = {}
        largest, limit = None, "every grid tried fits"
        previous: tuple[int, float] | None = None
        for grid in sizes.probe_grids:
            if previous is not None:
                estimate = 3 * previous[1] * (grid / previous[0]) ** 3 + 5
                if estimate > self.budget.left():
                    limit = f"{grid}^3 not tried: about {estimate:.0f} s, over the budget left"
                    self.skip(f"grid {grid}^3", f"time budget (about {estimate:.0f} s needed, "
                                                f"{self.budget.left():.0f} s left)")
                    break
            result = self._try_grid(grid, width=sizes.probe_width)
            self.free()
            tried[str(grid)] = result
            if result["status"] != "ok":
                limit = f"{grid}^3: {result['status']}"
                print(f"grid {grid}^3: {result['status']} ({result['error']})", flush=True)
                break
            largest, previous = grid, (grid, result["step_s"])
            note = (f"ratio {number(result['peak_memory_bytes'] / total)} of the card"
                    if total and self.cuda else self.memory_kind)
            self.emit(f"grid {grid}^3 peak memory", result["peak_memory_bytes"] / GIB, "GiB",
                      f"{number(result['step_s'])} s/step; {note}")
        self.results["max_grid"] = {"width": sizes.probe_width, "batch": 1,
                                    "precision": self.runtime.precision, "tried": tried,
                                    "largest": largest, "limit": limit}
        if largest is None:
            self.failed.append("no grid trains")
            print(f"largest trainable grid: none ({limit})", flush=True)
            return
        self.emit("largest trainable grid", largest, "voxels a side",
                  f"{largest}^3, width {sizes.probe_width}, batch 1, {self.runtime.precision}; "
                  f"{limit}")

    def _try_grid(self, grid: int, *, width: float) -> dict[str, Any]:
        """One warm-up and one timed training step at ``grid``^3, batch 1, or why not."""
        self.reset_peak()
        start = time.perf_counter()
        try:
            _, bundle, step = self.training_setup(width=width, grid=grid, batch=1)
            step()
            self.sync()
            timed = time.perf_counter()
            terms = step()
            self.sync()
            step_s = time.perf_counter() - timed
        except RuntimeError as error:
            status = "out of memory" if is_oom(error) else "error"
            return {"status": status, "error": first_line(error),
                    "seconds": time.perf_counter() - start}
        finite = all(np.isfinite(v) for v in terms.values())
        del bundle, step
        return {"status": "ok" if finite else "losses not finite", "error": "",
                "step_s": step_s, "peak_memory_bytes": self.peak_memory(),
                "seconds": time.perf_counter() - start}

    # ------------------------------------------------------------ driver
    def run_section(self, name: str, fn: Callable[[], None], *, needs: float) -> None:
        """Run one section unless less than ``needs`` (a fraction of the budget) is left;
        an exception is recorded and the next section runs."""
        left = self.budget.left()
        if left < needs * self.budget.seconds:
            self.skip(name, f"time budget ({left:.0f} s of {self.budget.seconds:.0f} s left)")
            self.save()
            return
        start = time.perf_counter()
        try:
            fn()
        except Exception as error:  # one section's failure must not end the run
            self.results["errors"][name] = traceback.format_exc()[-4000:]
            self.failed.append(name)
            print(f"{name}: FAILED ({first_line(error)})", flush=True)
        finally:
            self.results["section_s"][name] = round(time.perf_counter() - start, 2)
            self.free()
            self.save()

    def run(self) -> int:
        self.device_section()
        self.save()
        self.run_section("tests", self.tests_section, needs=0.3)
        self.run_section("roofline", self.roofline_section, needs=0.02)
        self.run_section("training", self.training_section, needs=0.08)
        self.run_section("synthesis", self.synthesis_section, needs=0.05)
        self.run_section("repeatability", self.repeatability_section, needs=0.15)
        self.run_section("max_grid", self.max_grid_section, needs=0.05)
        elapsed = self.budget.elapsed()
        self.results["ok"] = not self.failed
        self.results["failed"] = self.failed
        self.emit("total time", elapsed, "s",
                  f"ratio {number(elapsed / self.budget.seconds)} of the "
                  f"{number(self.budget.seconds)} s budget")
        self.save()
        if self.out is not None:
            print(f"json: {self.out}", flush=True)
        print("gpu check: " + ("ok" if not self.failed else f"FAILED ({', '.join(self.failed)})"),
              flush=True)
        return 0 if not self.failed else 1


def _jsonable(value: Any) -> float | str:
    """Numbers (numpy scalars, 0-d tensors) as floats, anything else as its text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _junit_counts(path: Path) -> dict[str, Any]:
    """passed/failed/errors/skipped and the failing tests of a pytest JUnit XML report."""
    counts: dict[str, Any] = {"tests": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0,
                              "failures": []}
    if not path.is_file():
        return counts
    root = ET.parse(path).getroot()
    for suite in root.iter("testsuite"):
        counts["tests"] += int(suite.get("tests", 0))
        counts["failed"] += int(suite.get("failures", 0))
        counts["errors"] += int(suite.get("errors", 0))
        counts["skipped"] += int(suite.get("skipped", 0))
    counts["passed"] = counts["tests"] - counts["failed"] - counts["errors"] - counts["skipped"]
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            node = case.find(kind)
            if node is not None:
                counts["failures"].append((f"{case.get('classname')}::{case.get('name')}",
                                           (node.get("message") or "")[:300]))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"),
                        help="auto: cuda when torch sees a GPU, else cpu")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                        help="auto: bf16 on a GPU that has it (see gla_model.device)")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds: width 0.125, grid 32, 2 timed steps, grids (32,)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON to write (default {DEFAULT_OUT.relative_to(ROOT)}; none "
                             "with --smoke)")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="seconds for the whole check; sections that would not fit are "
                             "skipped and listed (default 420)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: torch's; 1 for a CPU smoke, which two "
                             "threads on two busy cores made 4-6x slower and erratic)")
    parser.add_argument("--no-tests", action="store_true", help="skip the CUDA tests")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="let cuDNN autotune convolutions (training leaves it off)")
    args = parser.parse_args(argv)
    if args.out is None and not args.smoke:
        args.out = DEFAULT_OUT
    if args.device == "cuda" and not torch.cuda.is_available():
        build = (f"a CPU build of torch ({torch.__version__})" if torch.version.cuda is None
                 else f"torch {torch.__version__} built for CUDA {torch.version.cuda}")
        message = (f"gpu_check: --device cuda, but torch sees no CUDA GPU: {sys.executable} "
                   f"has {build}. Run it with a python whose torch has CUDA and sees the "
                   "GPU (e.g. a GPU image's python3 with PYTHONPATH set to the repo root).")
        print(message, file=sys.stderr, flush=True)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"script": "benchmarks/gpu_check.py", "ok": False,
                                            "error": message}, indent=2) + "\n")
        return 2
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    runtime = resolve_runtime(device=args.device, precision=args.precision)
    if args.threads is None and args.smoke and runtime.device.type == "cpu":
        args.threads = 1
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return Check(args, runtime).run()


if __name__ == "__main__":
    sys.exit(main())
