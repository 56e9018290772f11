"""Device, precision and memory-format policy for training and synthesis.

``auto`` device: CUDA when present, else CPU. ``auto`` precision: on CUDA, bf16 autocast
(fp16 + gradient scaling on GPUs without bf16); on the CPU, bf16 autocast on cores with
AVX-512-BF16 or AMX (about 3x faster Conv3d there), else fp32: on AVX2-only cores
(e.g. the 2-core AMD EPYC this was developed on) a bf16 Conv3d training step measured
10-40x *slower* than fp32. On the CPU, tensors and weights use channels_last_3d, which
made fp32 Conv3d 1.1-2x faster there (see benchmarks/train_throughput.py). Losses and
SSIM statistics are always computed in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gla_model.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


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

    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x


def resolve_runtime(*, device: str, precision: str) -> Runtime:
    """Turn the config's ``device``/``precision`` strings into a :class:`Runtime`."""
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
