"""Device, precision and memory-format policy for training and synthesis.

``auto`` device: CUDA when present, else CPU. ``auto`` precision: on CUDA, bf16 autocast
(fp16 + gradient scaling on GPUs without bf16); on the CPU, bf16 autocast on cores with
AVX-512-BF16 or AMX (about 3x faster Conv3d there), else fp32: on AVX2-only cores
(e.g. the 2-core AMD EPYC this was developed on) a bf16 Conv3d training step measured
10-40x *slower* than fp32. On the CPU, tensors and weights use channels_last_3d, which
made fp32 Conv3d 1.1-2x faster there (see benchmarks/train_throughput.py). Losses and
SSIM statistics are always computed in float32, and so is every generator's output layer
and sigmoid, with autocast off (:class:`gla_model.nets.blocks.Float32Conv3d`): autocast
speeds up the trunk, while the synthetic PET that training scores and synthesis writes
keeps float32 resolution instead of bf16's 8 significant bits.

oneDNN's bf16 Conv3d backward (torch 2.13 CPU, AVX-512-BF16) now and then returns NaN
weight gradients for inputs of a few voxels, in either memory format: for a 2^3 input,
in 0.1 % to half of the calls depending on the data, most often in channels-last
(`benchmarks/bf16_small_conv.py`). The U-Net's bottleneck and the discriminator's last
layers see such inputs, so on such a runtime :meth:`Runtime.prepare` runs every
convolution whose input has fewer than :data:`SMALL_INPUT_VOXELS` voxels in fp32; those
layers are a negligible share of the work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gla_model.errors import ConfigError
from gla_model.vocabulary import DEVICES, PRECISIONS

#: Convolution inputs with fewer voxels (per channel) than this run in fp32 under CPU bf16.
SMALL_INPUT_VOXELS = 1000


@dataclass(frozen=True)
class Runtime:
    """Where and how the networks run."""

    device: torch.device
    precision: str  # "fp32" | "bf16" | "fp16"
    channels_last: bool

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def autocast(self) -> torch.autocast:
        dtype = self.autocast_dtype
        return torch.autocast(device_type=self.device.type, dtype=dtype or torch.float32,
                              enabled=dtype is not None)

    def prepare(self, module: nn.Module) -> nn.Module:
        """``module`` on this device, in this runtime's memory format, with the small-input
        convolutions in fp32 under CPU bf16 autocast (see the module doc)."""
        module = module.to(self.device)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last_3d)
        if self.device.type == "cpu" and self.precision == "bf16":
            for layer in module.modules():
                if type(layer) in _FP32_WHEN_SMALL:
                    layer.__class__ = _FP32_WHEN_SMALL[type(layer)]
        return module

    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x


def resolve_runtime(*, device: str, precision: str) -> Runtime:
    """Turn ``training.device``/``training.precision`` into a :class:`Runtime`.

    Raises :class:`ConfigError` for a name outside the vocabulary (the settings reject it
    before any job; this guards direct calls) and for a device this machine lacks."""
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {DEVICES}, got {device!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was requested but no CUDA GPU is available; "
                          "use device: auto or cpu")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    torch_device = torch.device("cuda" if use_cuda else "cpu")
    if precision == "auto" and use_cuda:
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    elif precision == "auto":
        precision = "bf16" if _cpu_has_fast_bf16() else "fp32"
    if precision == "fp16" and not use_cuda:
        raise ConfigError("precision fp16 needs a CUDA GPU; use bf16 or fp32 on the CPU")
    return Runtime(device=torch_device, precision=precision,
                   channels_last=not use_cuda)


def _cpu_has_fast_bf16() -> bool:
    """Whether this CPU runs bf16 natively (AVX-512-BF16 or AMX tiles)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def _fp32_when_small(forward):
    def guarded(self: nn.Module, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if (x.shape[2:].numel() >= SMALL_INPUT_VOXELS
                or not torch.is_autocast_enabled(x.device.type)):
            return forward(self, x, *args, **kwargs)
        with torch.autocast(x.device.type, enabled=False):
            return forward(self, x.float(), *args, **kwargs)
    return guarded


#: Convolution classes -> subclasses that run small inputs in fp32 (same parameters, so
#: state dicts are unchanged).
_FP32_WHEN_SMALL = {cls: type(f"Fp32WhenSmall{cls.__name__}", (cls,),
                              {"forward": _fp32_when_small(cls.forward)})
                    for cls in (nn.Conv3d, nn.ConvTranspose3d)}
