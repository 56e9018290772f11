"""Runtime policy: small-input convolutions in fp32 under CPU bf16; state dicts unchanged."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gla_model.device import SMALL_INPUT_VOXELS, Runtime, resolve_runtime
from gla_model.errors import ConfigError
from gla_model.nets import build_model
from gla_model.nets.blocks import Float32Conv3d
from gla_model.settings import LossWeights, ModelSpec

CPU_BF16 = Runtime(device=torch.device("cpu"), precision="bf16", channels_last=True)
CPU_FP32 = Runtime(device=torch.device("cpu"), precision="fp32", channels_last=True)


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ConvTranspose3d(4, 2, 2, stride=2))


@pytest.mark.parametrize(("side", "dtype"), [
    (2, torch.float32),   # 8 voxels: the case oneDNN gets wrong, run in fp32
    (9, torch.float32),   # 729 < SMALL_INPUT_VOXELS
    (10, torch.bfloat16),  # 1000 = SMALL_INPUT_VOXELS: stays in bf16
    (16, torch.bfloat16),
])
def test_cpu_bf16_runs_small_inputs_in_fp32(side, dtype):
    assert side**3 < SMALL_INPUT_VOXELS or dtype is torch.bfloat16
    net = CPU_BF16.prepare(_net())
    with CPU_BF16.autocast():
        first = net[0](CPU_BF16.to_input(torch.rand(1, 1, side, side, side)))
    assert first.dtype is dtype


def test_small_input_guard_keeps_gradients_and_state_dict():
    reference = _net()
    prepared = CPU_BF16.prepare(_net())
    prepared.load_state_dict(reference.state_dict())
    assert prepared.state_dict().keys() == reference.state_dict().keys()
    x = torch.rand(2, 1, 2, 2, 2)
    with CPU_BF16.autocast():
        out = prepared(CPU_BF16.to_input(x))
    out.float().sum().backward()
    reference(x).sum().backward()
    for a, b in zip(prepared.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)


def test_fp32_runtime_leaves_convolutions_alone():
    net = CPU_FP32.prepare(_net())
    assert type(net[0]) is nn.Conv3d and type(net[1]) is nn.ConvTranspose3d
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_every_small_convolution_of_the_unet_runs_in_fp32():
    """The U-Net's 4^3 and 2^3 levels at a 32^3 grid, where the NaN gradients came from."""
    spec = ModelSpec(arch="unet3d", width=0.125, losses=LossWeights(l1=1.0))
    bundle = CPU_BF16.prepare(build_model(spec=spec, grid=32))
    seen = []
    for layer in bundle.generator.modules():
        if isinstance(layer, nn.modules.conv._ConvNd):
            layer.register_forward_hook(lambda m, i, o: seen.append(
                (i[0].shape[2:].numel(), isinstance(m, Float32Conv3d), o.dtype)))
    with torch.no_grad(), CPU_BF16.autocast():
        bundle.generator(CPU_BF16.to_input(torch.rand(1, 1, 32, 32, 32)))
    small = [dtype for voxels, last, dtype in seen if voxels < SMALL_INPUT_VOXELS]
    large = [dtype for voxels, last, dtype in seen if voxels >= SMALL_INPUT_VOXELS and not last]
    output = [dtype for _, last, dtype in seen if last]
    assert small and all(dtype is torch.float32 for dtype in small)
    assert large and all(dtype is torch.bfloat16 for dtype in large)
    # The output layer runs in fp32 whatever its size (tests/test_nets.py checks its values).
    assert output == [torch.float32]


def test_prepare_leaves_the_float32_output_layer_alone():
    spec = ModelSpec(arch="glagan", k_patches=2, width=0.0625, losses=LossWeights(l1=1.0))
    generator = CPU_BF16.prepare(build_model(spec=spec, grid=32)).generator
    assert type(generator.network.head[1]) is Float32Conv3d


@pytest.mark.parametrize(("device", "precision", "match"), [
    ("tpu", "auto", "device must be one of"), ("cpu", "int8", "precision must be one of"),
    ("cpu", "fp16", "fp16 needs a CUDA GPU"),
])
def test_bad_runtime_settings_raise(device, precision, match):
    with pytest.raises(ConfigError, match=match):
        resolve_runtime(device=device, precision=precision)
