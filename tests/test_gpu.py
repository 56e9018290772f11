"""CUDA checks (marked ``cuda``, skipped without a GPU) and benchmarks/gpu_check.py on the CPU.

On a GPU machine ``benchmarks/gpu_check.py --device cuda`` runs the ``cuda`` tests
(``pytest -m cuda tests/test_gpu.py``):

* a GLA-GAN training step on CUDA gives finite losses and changes both networks' weights;
* a run stopped after epoch 1 and resumed ends bit-identical to an uninterrupted run
  (weights, optimiser states, history), with deterministic kernels (:func:`deterministic`);
* synthesis on CUDA equals CPU fp32 synthesis within a stated bound: :data:`FP32_ATOL` with
  TF32 off, :data:`TF32_ATOL` with cuDNN's default TF32 convolutions, :data:`BF16_ATOL`
  for the auto precision (bf16 autocast, output layer in float32).

The CPU tests run the script's smoke and its refusal of ``--device cuda`` without a GPU.
Training data, synthesis and gla_model.resources read NIfTI files (nibabel), so the tests
that need them import those modules themselves: on a GPU image without nibabel, the
training-step test still runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gla_model.device import resolve_runtime
from gla_model.losses import RoiLoss
from gla_model.nets import build_model
from gla_model.settings import LossWeights, ModelSpec, TrainingSettings
from gla_model.train.steps import Optimisers, train_step

# cuBLAS (the SSIM filters are matrix products) is deterministic with a fixed workspace; it
# reads this when its first handle is made, so before any test here touches CUDA.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
GRID = 32
SPEC = ModelSpec(arch="glagan", k_patches=2, width=0.125,
                 losses=LossWeights(l1=1.0, ms_ssim=0.5, roi=1.0, adv=0.01))
#: Bounds on |CUDA - CPU fp32| for the test generator (:func:`_model_checkpoint`, outputs
#: 0.47-0.79 inside the brain, standard deviation 0.04). fp32 with TF32 off: the same
#: float32 arithmetic summed in another order (cuDNN vs oneDNN), ~1e-6 expected.
FP32_ATOL = 1e-4
#: cuDNN convolutions in TF32 (PyTorch's default for cuDNN): inputs rounded to 10 mantissa
#: bits; rounding them so on the CPU moved this generator's output by at most 5.4e-4.
TF32_ATOL = 5e-3
#: The auto precision, bf16 autocast (8 mantissa bits in the trunk, the output layer in
#: float32): CPU bf16 differs from CPU fp32 by at most 5.4e-3 on this generator.
BF16_ATOL = 0.03
#: Whatever the precision, the synthetic PET follows the reference voxel for voxel.
MIN_CORRELATION = 0.99

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU: torch.cuda.is_available() is False")


def cuda_test(function):
    """Marked ``cuda`` (what gpu_check.py selects) and skipped without a GPU."""
    return pytest.mark.cuda(needs_cuda(function))


def _volumes(grid: int = GRID, *, n: int = 1, seed: int = 0
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` smooth MRI and PET blobs inside a spherical brain mask, the mask and an atlas
    of 64 regions inside it."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.mgrid[:grid, :grid, :grid] / grid
    mask = ((zz - 0.5) ** 2 + (yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.16).astype(np.float32)
    mri, pet = [], []
    for _ in range(n):
        shift = rng.uniform(-0.1, 0.1, 3)
        volume = mask * (0.5 + 0.5 * np.sin(6 * (zz + shift[0])) * np.cos(5 * (yy + shift[1])))
        mri.append(volume.astype(np.float32))
        pet.append((mask * np.clip(1.0 - volume + 0.2 * xx, 0, 1)).astype(np.float32))
    labels = 1 + (zz * 4).astype(int) * 16 + (yy * 4).astype(int) * 4 + (xx * 4).astype(int)
    return np.stack(mri), np.stack(pet), mask, (labels * (mask > 0)).astype(np.int64)


# ---------------------------------------------------------------- training step
@cuda_test
@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_training_step_on_cuda(precision):
    runtime = resolve_runtime(device="cuda", precision=precision)
    torch.manual_seed(0)
    bundle = runtime.prepare(build_model(spec=SPEC, grid=GRID))
    before = {name: p.detach().clone() for name, p in bundle.named_parameters()}

    def adam(modules):
        return torch.optim.Adam([p for m in modules for p in m.parameters()], lr=1e-3)

    optimisers = Optimisers(adam(bundle.generators()), adam(bundle.discriminators()),
                            torch.amp.GradScaler("cuda", enabled=runtime.precision == "fp16"))
    mri, pet, _, atlas = _volumes(n=2)
    roi = RoiLoss(atlas=atlas, n_regions=int(atlas.max())).to(runtime.device)
    terms = train_step(bundle=bundle, mri=runtime.to_input(torch.from_numpy(mri)[:, None]),
                       pet=runtime.to_input(torch.from_numpy(pet)[:, None]),
                       weights=SPEC.losses, roi=roi, optimisers=optimisers, runtime=runtime)
    assert set(terms) == {"total", "d", "l1", "ms_ssim", "roi", "adv"}
    assert all(np.isfinite(v) for v in terms.values()), terms
    assert all(p.is_cuda for p in bundle.parameters())
    changed = {name for name, p in bundle.named_parameters()
               if not torch.equal(p.detach(), before[name])}
    assert any(name.startswith("generator.") for name in changed)
    assert any(name.startswith("discriminator.") for name in changed)
    assert torch.cuda.max_memory_allocated() > 0


# ---------------------------------------------------------------- resume
@pytest.fixture
def deterministic():
    """Deterministic CUDA kernels for one test; yields the warnings raised meanwhile.

    cuDNN picks deterministic convolution algorithms without autotuning, ``index_add``
    (the ROI loss's region sums, atomic adds by default) becomes a sorted ``index_put``,
    and cuBLAS works with the fixed workspace set above. ``avg_pool3d``'s backward (the
    MS-SSIM scales) is flagged as having no deterministic implementation and would raise;
    with ``warn_only`` it warns instead, and it is deterministic here: 2x2x2 windows with
    stride 2 do not overlap, so PyTorch takes its kernel without atomic adds. Any other
    op's warning is reported by the test that fails.
    """
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2:]


def _write_subjects(preproc_dir: Path, ids: list[str]) -> np.ndarray:
    """Preprocessed T1w, PET and brain mask of ``ids`` on the 32^3 grid; returns the atlas."""
    import nibabel as nib

    from gla_model.layout import preprocessed_path
    from gla_model.resources import model_grid

    _, affine = model_grid(size=GRID)
    mri, pet, mask, atlas = _volumes(n=len(ids), seed=1)
    for i, pid in enumerate(ids):
        for field, data in (("t1w", mri[i]), ("pet", pet[i]), ("mask", mask)):
            path = preprocessed_path(preproc_dir=preproc_dir, participant_id=pid, field=field)
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(data.astype(np.float32), affine), path)
    return atlas


def _flat_tensors(value, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in nested dicts and lists, by its path."""
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list | tuple) else ())
    found: dict[str, torch.Tensor] = {}
    for key, item in items:
        found.update(_flat_tensors(item, f"{prefix}/{key}"))
    return found


@cuda_test
@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_resumed_run_on_cuda_is_bit_exact(tmp_path, deterministic, precision,
                                         interrupted_then_resumed):
    import pandas as pd

    from gla_model.train.loop import TrainingJob, run_training

    ids = [f"s{i}" for i in range(6)]
    atlas = _write_subjects(tmp_path / "preprocess", ids)
    training = TrainingSettings(epochs=2, batch_size=2, lr=1e-3, lr_schedule="constant",
                                beta1=0.5, beta2=0.999, seed=3, device="cuda",
                                precision=precision, val_every=1, preload=True, threads=1)

    def job(out: Path) -> TrainingJob:
        return TrainingJob(variant="v", spec=SPEC, training=training, fold="0",
                           subjects={"train": ids[:4], "val": ids[4:], "test": []},
                           preproc_dir=tmp_path / "preprocess", atlas=atlas, grid=GRID,
                           checkpoint=out / "model.pt", history=out / "history.tsv")

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_training(job=job(straight))

    interrupted_then_resumed(
        lambda on_epoch_end: run_training(job=job(resumed), on_epoch_end=on_epoch_end),
        resumed / "last.pt")

    others = sorted({str(w.message) for w in deterministic
                     if "deterministic" in str(w.message)
                     and "avg_pool3d_backward" not in str(w.message)})
    a, b = (torch.load(path / "last.pt", weights_only=True) for path in (straight, resumed))
    assert a["epoch"] == b["epoch"] == 2
    for key in ("model", "optimiser_generator", "optimiser_discriminator"):
        left, right = _flat_tensors(a[key]), _flat_tensors(b[key])
        assert left.keys() == right.keys(), key
        differing = {name: float((left[name].double() - right[name].double()).abs().max())
                     for name in left if not torch.equal(left[name], right[name])}
        assert not differing, (f"{key} differs after resume (max abs difference by tensor): "
                               f"{differing}; non-deterministic ops warned: {others}")
    generators = [torch.load(path / "model.pt", weights_only=True)["generator_state"]
                  for path in (straight, resumed)]
    assert all(torch.equal(generators[0][k], generators[1][k]) for k in generators[0])
    pd.testing.assert_frame_equal(pd.read_csv(straight / "history.tsv", sep="\t"),
                                  pd.read_csv(resumed / "history.tsv", sep="\t"))


# ---------------------------------------------------------------- synthesis
@contextlib.contextmanager
def _tf32(allowed: bool | None):
    """cuDNN and cuBLAS TF32 set to ``allowed`` (None: PyTorch's defaults, untouched)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    if allowed is not None:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _model_checkpoint(path: Path) -> Path:
    """A model.pt of a generator whose batch-norm statistics and affine parameters are
    random too (scales 1-3), so that its eval-mode output varies inside the brain instead
    of sitting near 0.5 as a fresh network's does."""
    from gla_model import __version__
    from gla_model.checkpoint import FORMAT, MODEL_KIND

    torch.manual_seed(0)
    bundle = build_model(spec=SPEC, grid=GRID)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in bundle.generator.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                size = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
                module.weight.copy_(1.0 + 2.0 * torch.rand(size, generator=generator))
                module.bias.copy_(0.2 * torch.randn(size, generator=generator))
    record = {"kind": MODEL_KIND, "format": FORMAT, "code_version": __version__,
              "variant": "v", "spec": SPEC.as_dict(), "grid": GRID, "fold": "0",
              "generator_state": bundle.generator.state_dict(), "epoch": 1, "val_loss": None,
              "selection": "test", "training_subjects": [], "validation_subjects": []}
    torch.save(record, path)
    return path


@cuda_test
@pytest.mark.parametrize(("precision", "tf32", "atol"), [
    pytest.param("fp32", False, FP32_ATOL, id="fp32-tf32-off"),
    pytest.param("fp32", None, TF32_ATOL, id="fp32-default-tf32"),
    pytest.param("auto", None, BF16_ATOL, id="auto"),
])
def test_cuda_synthesis_matches_cpu_fp32(tmp_path, precision, tf32, atol):
    from gla_model.synthesize import load_synthesizer

    checkpoint = _model_checkpoint(tmp_path / "model.pt")
    mri = _volumes()[0][0]
    reference = load_synthesizer(checkpoint=checkpoint, device="cpu", precision="fp32",
                                 threads=None)(mri)
    inside = _volumes()[2] > 0
    assert reference[inside].std() > 0.01  # the comparison is not between constants
    with _tf32(tf32):
        synthesizer = load_synthesizer(checkpoint=checkpoint, device="cuda",
                                       precision=precision, threads=None)
        assert synthesizer.runtime.device.type == "cuda"
        pet = synthesizer(mri)
    assert pet.dtype == np.float32 and pet.shape == (GRID,) * 3
    np.testing.assert_allclose(pet, reference, rtol=0, atol=atol)
    assert np.corrcoef(pet[inside], reference[inside])[0, 1] > MIN_CORRELATION


# ---------------------------------------------------------------- the script on the CPU
def _run_script(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_gpu_check_smoke_on_cpu_writes_json_and_figures(tmp_path):
    from gla_model.resources import AAL_REGION_COUNT

    out = tmp_path / "gpu_check.json"
    result = _run_script("--device", "cpu", "--smoke", "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("device: ") and "cpu" in lines[0]
    number = r"[0-9][0-9.]*"
    for figure in (rf"conv3d roofline: {number} TFLOP/s",
                   rf"training steps/s: {number} steps/s \(32\^3, width 0.125",
                   rf"training volumes/s: {number} volumes/s",
                   rf"training throughput: {number} TFLOP/s \(ratio {number} to the Conv3d",
                   rf"training peak host memory \(process max RSS\): {number} GiB",
                   rf"synthesis batch 1: {number} volumes/s",
                   rf"synthesis best batch [12]: {number} volumes/s \(ratio {number}",
                   r"training repeatability: 0.0 max \|weight difference\|",
                   r"largest trainable grid: 32 voxels a side",
                   r"skipped cuda tests: they need --device cuda",
                   r"gpu check: ok"):
        assert re.search(figure, result.stdout), (figure, result.stdout)
    data = json.loads(out.read_text())
    assert {"device", "tests", "roofline", "training", "synthesis", "repeatability",
            "max_grid", "figures", "skipped", "errors", "elapsed_s", "ok"} <= data.keys()
    assert data["ok"] and not data["errors"] and data["device"]["type"] == "cpu"
    assert data["tests"] == {"ran": False, "reason": "CUDA tests need --device cuda"}
    training = data["training"]
    assert training["losses_finite"] and training["grid"] == 32
    assert training["roi_regions"] == AAL_REGION_COUNT
    assert training["volumes_per_s"] == pytest.approx(training["steps_per_s"] * training["batch"])
    assert training["ratio_to_roofline"] > 0 and training["flops_per_step"] > 0
    assert data["synthesis"]["best_batch"] in (1, 2)
    assert data["max_grid"]["largest"] == 32
    assert data["repeatability"]["bit_exact"]
    assert all(figure["line"] in lines for figure in data["figures"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_gpu_check_refuses_cuda_without_a_gpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    result = _run_script("--device", "cuda", "--smoke", "--out", str(out), timeout=120)
    assert result.returncode == 2
    assert "--device cuda, but torch sees no CUDA GPU" in result.stderr
    assert json.loads(out.read_text())["ok"] is False
