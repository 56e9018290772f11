"""Networks: shape tables at 32^3 and 64^3, patch layouts, bad hyperparameters, the float32
output layer, CycleGAN's normalisation, parameter and FLOP counts."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from gla_model import vocabulary
from gla_model.device import Runtime
from gla_model.errors import ConfigError
from gla_model.nets import (
    GENERATOR_PATHS,
    Discriminator,
    GlaGenerator,
    UNet3d,
    build_model,
    patch_layout,
)
from gla_model.nets.blocks import Float32Conv3d, Float32Sigmoid
from gla_model.nets.complexity import (
    complexity_markdown,
    complexity_rows,
    count_flops,
    forward_flops,
    model_complexity,
)
from gla_model.nets.factory import BrainMasked
from gla_model.nets.glagan import PATCH_SPLITS, Branch, LocalPath
from gla_model.settings import LossWeights, ModelSpec, VariantSettings, job_value
from gla_model.train.steps import Optimisers, train_step

LOSSES = {"l1": 1.0}
KEY = "models.variants.test"


def spec_of(values: dict) -> ModelSpec:
    """A model spec from config-style values, checked as ``--settings`` is."""
    return job_value({KEY: values}, KEY, as_type=ModelSpec)


@pytest.mark.parametrize(("arch", "k", "grid", "width"), [
    *[("glagan", k, 32, 0.125) for k in (1, 2, 4, 8)],
    ("glagan_global", 1, 32, 0.125), ("glagan_local", 4, 32, 0.125),
    ("glagan", 4, 64, 0.03), ("glagan", 8, 64, 0.03),
    ("unet3d", 1, 32, 0.125), ("unet3d", 1, 64, 0.125),
])
def test_generator_shapes(arch, k, grid, width):
    bundle = build_model(spec=spec_of({"arch": arch, "k_patches": k, "width": width,
                                       "losses": LOSSES}), grid=grid)
    # Inputs inside the brain (> 0): the generator is zero wherever its input is zero.
    seeded = torch.Generator().manual_seed(0)
    mri = 0.01 + 0.99 * torch.rand(2, 1, grid, grid, grid, generator=seeded)
    with torch.no_grad():
        out = bundle.generator(mri)
    assert out.shape == (2, 1, grid, grid, grid)
    assert float(out.min()) > 0 and float(out.max()) < 1


@pytest.mark.parametrize(("grid", "logits"), [(32, 1), (64, 5)])
def test_discriminator_shapes(grid, logits):
    net = Discriminator(in_channels=2, width=0.0625)
    assert net(torch.rand(2, 2, grid, grid, grid)).shape == (2, 1, logits, logits, logits)


def test_gan_and_cyclegan_bundles():
    gan = build_model(spec=spec_of({"arch": "gan", "width": 0.0625,
                                    "losses": {"l1": 1, "ssim": 1, "adv": 1}}), grid=32)
    assert gan.discriminator is not None and gan.inverse is None
    cyc = build_model(spec=spec_of({"arch": "cyclegan", "width": 0.0625,
                                    "losses": {"l1": 1, "adv": 1, "cycle": 10, "identity": 5}}),
                      grid=32)
    assert len(cyc.generators()) == 2 and len(cyc.discriminators()) == 2
    assert cyc.discriminator(torch.rand(1, 1, 32, 32, 32)).shape == (1, 1, 1, 1, 1)


def test_local_patches_are_independent():
    """A change inside one patch must not reach the other patches' local features."""
    torch.manual_seed(0)
    gen = GlaGenerator(k_patches=4, width=0.0625, path="local").eval()
    x = torch.rand(1, 1, 32, 32, 32)
    y = x.clone()
    y[:, :, :16, :16] += 0.5  # patch (0, 0) of the 2 x 2 x 1 layout
    with torch.no_grad():
        a, b = gen.local_path(x), gen.local_path(y)
    assert not torch.equal(a[:, :, :16, :16], b[:, :, :16, :16])
    assert torch.equal(a[:, :, 16:], b[:, :, 16:]) and torch.equal(a[:, :, :, 16:], b[:, :, :, 16:])
    first = gen.local_path.branches.layers[0][0]
    assert first.groups == 4 and first.weight.shape[1] == 1  # one input channel per patch
    assert patch_layout(k_patches=4) == (2, 2, 1)


def _reference_branches(grouped: Branch, k_patches: int, width: float) -> list[Branch]:
    """K separate branches holding the weights of the K groups of ``grouped``."""
    branches = [Branch(width=width) for _ in range(k_patches)]
    for k, branch in enumerate(branches):
        for mine, theirs in zip(branch.modules(), grouped.modules(), strict=True):
            if isinstance(mine, torch.nn.Conv3d | torch.nn.BatchNorm3d):
                size = mine.weight.shape[0]
                for tensor in ("weight", "bias", "running_mean", "running_var"):
                    if getattr(mine, tensor, None) is not None:
                        getattr(mine, tensor).data.copy_(
                            getattr(theirs, tensor).data[k * size:(k + 1) * size])
    return branches


@pytest.mark.parametrize("k_patches", [2, 4, 8])
def test_grouped_local_path_equals_k_separate_branches(k_patches):
    """The grouped local path computes what K separate branches on K patches compute:
    outputs and every weight gradient, in training mode (batch statistics per patch).
    In float64, so that only the order of summation differs (float32 differs by ~1e-5)."""
    torch.manual_seed(k_patches)
    width, grid = 0.0625, 16
    local = LocalPath(k_patches=k_patches, width=width).train().double()
    reference = [b.double() for b in _reference_branches(local.branches, k_patches, width)]
    x = torch.rand(2, 1, grid, grid, grid, dtype=torch.float64)
    out = local(x)
    splits = patch_layout(k_patches=k_patches)
    patches = [x]
    for axis, parts in zip((2, 3, 4), splits, strict=True):
        patches = [piece for p in patches for piece in p.chunk(parts, dim=axis)]
    expected = [branch.train()(p.contiguous()) for branch, p in zip(reference, patches,
                                                                    strict=True)]
    for axis, parts in reversed(list(zip((2, 3, 4), splits, strict=True))):
        expected = [torch.cat(expected[i:i + parts], dim=axis)
                    for i in range(0, len(expected), parts)]
    torch.testing.assert_close(out, expected[0], rtol=1e-9, atol=1e-10)
    target = torch.rand_like(out)
    ((out - target) ** 2).mean().backward()
    ((expected[0] - target) ** 2).mean().backward()
    grouped_convs = [m for m in local.branches.modules() if isinstance(m, torch.nn.Conv3d)]
    for k, branch in enumerate(reference):
        convs = [m for m in branch.modules() if isinstance(m, torch.nn.Conv3d)]
        for mine, theirs in zip(convs, grouped_convs, strict=True):
            size = mine.weight.shape[0]
            torch.testing.assert_close(theirs.weight.grad[k * size:(k + 1) * size],
                                       mine.weight.grad, rtol=1e-9, atol=1e-12)


def test_width_scales_parameters():
    small = sum(p.numel() for p in GlaGenerator(k_patches=2, width=0.125).parameters())
    large = sum(p.numel() for p in GlaGenerator(k_patches=2, width=0.25).parameters())
    assert 3.5 < large / small < 4.1


@pytest.mark.parametrize(("build", "match"), [
    (lambda: GlaGenerator(k_patches=3), "k_patches must be one of"),
    (lambda: GlaGenerator(k_patches=2, width=0), "positive number, got 0"),
    (lambda: GlaGenerator(k_patches=2, path="middle"), "path must be one of"),
    (lambda: UNet3d(width=-1.0), "positive number, got -1.0"),
    (lambda: Discriminator(in_channels=0), "in_channels must be >= 1"),
    (lambda: Discriminator(in_channels=1, width=True), "positive number, got True"),
])
def test_bad_hyperparameters_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()


W = 0.125


@pytest.mark.parametrize(("spec", "grid", "match"), [
    ({"arch": "vae", "width": W, "losses": LOSSES}, 32, "arch"),
    ({"arch": "glagan", "width": W, "losses": LOSSES}, 32, "k_patches"),
    ({"arch": "glagan", "k_patches": 4, "width": W, "losses": LOSSES}, 40, "grid"),
    ({"arch": "gan", "width": W, "losses": LOSSES}, 32, "adversarial by definition"),
    ({"arch": "cyclegan", "width": W, "losses": {"l1": 1.0, "cycle": 10.0}}, 32,
     "adversarial by definition"),
    ({"arch": "unet3d", "width": W, "losses": {"l1": 1, "cycle": 1}}, 32, "cycle"),
    ({"arch": "unet3d", "width": W, "losses": {"l2": 1}}, 32,
     r"losses': unknown keys \['l2'\]"),
    ({"arch": "unet3d", "width": W, "losses": {"l1": -1}}, 32, ">= 0"),
    ({"arch": "unet3d", "width": W, "losses": LOSSES, "depth": 3}, 32,
     r"test': unknown keys \['depth'\]"),
    ({"arch": "unet3d", "width": 0, "losses": LOSSES}, 32, "width': 0.0 must be > 0"),
])
def test_bad_specs_raise_config_errors(spec, grid, match):
    with pytest.raises(ConfigError, match=match):
        build_model(spec=spec_of(spec), grid=grid)


def test_every_architecture_and_patch_count_has_a_network():
    assert tuple(GENERATOR_PATHS) == vocabulary.ARCHITECTURES
    assert tuple(PATCH_SPLITS) == vocabulary.PATCH_COUNTS


def test_every_variant_of_the_shipped_config_builds(shipped_settings):
    for name, variant in shipped_settings.models.variants.items():
        spec = dataclasses.replace(variant.model_spec(), width=0.0625)
        bundle = build_model(spec=spec, grid=32)
        assert bundle.generator is not None, name
        assert (bundle.discriminator is not None) == (spec.losses.adv > 0), name


def test_generators_predict_uptake_only_inside_the_input_brain():
    bundle = build_model(spec=spec_of({"arch": "glagan", "k_patches": 4, "width": 0.0625,
                                       "losses": LOSSES}), grid=32)
    mri = torch.zeros(1, 1, 32, 32, 32)
    mri[..., 8:24, 8:24, 8:24] = torch.rand(1, 1, 16, 16, 16) + 0.1
    with torch.no_grad():
        pet = bundle.generator(mri)
    assert float(pet[mri == 0].abs().max()) == 0.0
    assert float(pet[mri > 0].min()) > 0.0


# Float32 output layer --------------------------------------------------------------------

#: |output - float64 reference of the output layer| allowed: float32 rounding of the 3^3
#: convolution's sum and the sigmoid (~1e-7); bf16 rounding of a value in (0.25, 1) is up
#: to 2^-9 (2e-3), so no bf16 rounding passes.
FP32_HEAD_TOLERANCE = 1e-5
BF16_DISTINCT_VALUES = 257


def _brain_cube(grid: int = 32) -> torch.Tensor:
    """A 20^3 cube of 8,000 'brain' voxels in [0.05, 1.05), zero around it."""
    seeded = torch.Generator().manual_seed(3)
    mri = torch.zeros(1, 1, grid, grid, grid)
    mri[..., 6:26, 6:26, 6:26] = 0.05 + torch.rand(1, 1, 20, 20, 20, generator=seeded)
    return mri


def _output_conv(generator: torch.nn.Module) -> torch.nn.Conv3d:
    network = generator.network
    return network.head[1] if isinstance(network, GlaGenerator) else network.net.final_conv


@pytest.mark.parametrize(("arch", "losses"), [
    ("glagan", LOSSES), ("glagan_global", LOSSES), ("unet3d", LOSSES),
    ("cyclegan", {"l1": 1, "adv": 1, "cycle": 10, "identity": 5}),
])
def test_generators_compute_their_output_layer_in_float32_under_bf16(arch, losses):
    """Under CPU bf16 autocast the PET is float32, has far more than bf16's ~257 distinct
    values in (0, 1), and equals the output layer (conv + sigmoid) recomputed in float64
    from the trunk's bf16 features within FP32_HEAD_TOLERANCE."""
    torch.manual_seed(0)
    bundle = build_model(spec=spec_of({"arch": arch, "k_patches": 4, "width": 0.0625,
                                       "losses": losses}), grid=32).eval()
    layer = _output_conv(bundle.generator)
    assert isinstance(layer, Float32Conv3d)
    features = []
    layer.register_forward_pre_hook(lambda module, inputs: features.append(inputs[0]))
    mri = _brain_cube()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        pet = bundle.generator(mri)
    assert features[0].dtype is torch.bfloat16  # the trunk did run in bf16
    assert pet.dtype is torch.float32
    brain = pet[mri > 0]
    assert brain.unique().numel() > 10 * BF16_DISTINCT_VALUES
    reference = torch.sigmoid(torch.nn.functional.conv3d(
        features[0].double(), layer.weight.double(), layer.bias.double(),
        padding=layer.padding)) * (mri > 0)
    torch.testing.assert_close(pet.double(), reference, rtol=0, atol=FP32_HEAD_TOLERANCE)
    # The same layer left to autocast would have rounded to bf16: the test has teeth.
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        rounded = torch.sigmoid(torch.nn.functional.conv3d(
            features[0], layer.weight, layer.bias, padding=layer.padding))
    assert rounded.dtype is torch.bfloat16
    assert rounded[mri > 0].unique().numel() <= 4 * BF16_DISTINCT_VALUES


def test_float32_output_layer_trains_under_bf16():
    """Training gets the float32 output too, and gradients reach the bf16 trunk."""
    torch.manual_seed(0)
    bundle = build_model(spec=spec_of({"arch": "glagan", "k_patches": 2, "width": 0.0625,
                                       "losses": LOSSES}), grid=32).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fake = bundle.generator(_brain_cube())
    assert fake.dtype is torch.float32
    fake.mean().backward()
    first = bundle.generator.network.global_path.layers[0][0].weight
    assert first.grad is not None and torch.isfinite(first.grad).all()


def test_float32_layers_change_nothing_without_autocast():
    torch.manual_seed(0)
    layer = Float32Conv3d(3, 1, 3, padding=1)
    plain = torch.nn.Conv3d(3, 1, 3, padding=1)
    plain.load_state_dict(layer.state_dict())
    x = torch.rand(1, 3, 6, 6, 6)
    assert torch.equal(layer(x), plain(x))
    assert torch.equal(Float32Sigmoid()(x), torch.sigmoid(x))


# CycleGAN normalisation -------------------------------------------------------------------

CYCLE_LOSSES = {"l1": 1.0, "adv": 1.0, "cycle": 10.0, "identity": 5.0}


def _batch_norms(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def test_cyclegan_generators_use_instance_norm_without_running_statistics():
    cyc = build_model(spec=spec_of({"arch": "cyclegan", "width": 0.0625,
                                    "losses": CYCLE_LOSSES}), grid=32)
    for generator in cyc.generators():
        norms = [m for m in generator.modules() if isinstance(m, torch.nn.InstanceNorm3d)]
        assert norms and not any(m.track_running_stats or m.affine for m in norms)
        assert not _batch_norms(generator) and not list(generator.buffers())
    # The other U-Net generators keep batch norm (their results are unchanged).
    for arch, losses in (("unet3d", LOSSES), ("gan", {"l1": 1, "adv": 1})):
        generator = build_model(spec=spec_of({"arch": arch, "width": 0.0625,
                                              "losses": losses}), grid=32).generator
        assert _batch_norms(generator)


def _cycle_step(bundle, *, mri: torch.Tensor, pet: torch.Tensor) -> None:
    """One training step with learning rate 0: weights stay, only statistics may move."""
    runtime = Runtime(device=torch.device("cpu"), precision="fp32", channels_last=False)
    adam = lambda modules: torch.optim.Adam(  # noqa: E731
        [p for m in modules for p in m.parameters()], lr=0.0)
    optimisers = Optimisers(generator=adam(bundle.generators()),
                            discriminator=adam(bundle.discriminators()),
                            scaler=torch.amp.GradScaler("cpu", enabled=False))
    bundle.train()
    train_step(bundle=bundle, mri=mri, pet=pet, weights=LossWeights(**CYCLE_LOSSES), roi=None,
               optimisers=optimisers, runtime=runtime)
    bundle.eval()


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_cyclegan_identity_pass_leaves_test_time_normalisation_to_mri(norm):
    """After a step whose identity term runs real PET through the MRI -> PET generator, the
    test-time generator normalises an MRI by that MRI alone: its output is unchanged by the
    step (weights are frozen by lr 0). With batch norm (the old generators, ``batch``) the
    running statistics took in the PET and the cycle's synthetic MRI, and the output moves."""
    torch.manual_seed(0)
    bundle = build_model(spec=spec_of({"arch": "cyclegan", "width": 0.0625,
                                       "losses": CYCLE_LOSSES}), grid=32)
    if norm == "batch":
        bundle.generator = BrainMasked(UNet3d(width=0.0625, norm="batch"))
        bundle.inverse = BrainMasked(UNet3d(width=0.0625, norm="batch"))
    mri = _brain_cube()
    pet = (0.9 - 0.8 * mri) * (mri > 0)  # PET: another intensity distribution than MRI
    bundle.eval()
    with torch.no_grad():
        before = bundle.generator(mri)
    _cycle_step(bundle, mri=torch.cat([mri, mri.flip(2)]), pet=torch.cat([pet, pet.flip(2)]))
    with torch.no_grad():
        after = bundle.generator(mri)
    if norm == "instance":
        assert torch.equal(before, after)
    else:
        assert not torch.allclose(before, after, atol=1e-4)


def test_unet_rejects_an_unknown_norm():
    with pytest.raises(ValueError, match="norm must be one of"):
        UNet3d(width=0.0625, norm="group")


# Complexity --------------------------------------------------------------------------------


def test_conv_flops_count_a_multiply_add_as_two():
    conv = torch.nn.Conv3d(1, 2, 3, padding=1)
    assert forward_flops(module=conv, grid=4) == 2 * 27 * 1 * 2 * 4**3


@pytest.mark.parametrize("input_grad", [True, False])
def test_training_flops_of_a_grouped_conv_are_those_of_its_groups(input_grad):
    """Forward + backward of a conv with 4 groups costs 4 times one group's (torch's own
    formula counts the grouped backward as dense); without an input gradient, the backward
    computes the weight gradient only."""
    grouped = torch.nn.Conv3d(4 * 8, 4 * 8, 3, padding=1, bias=False, groups=4)
    single = torch.nn.Conv3d(8, 8, 3, padding=1, bias=False)
    x = torch.rand(1, 32, 6, 6, 6, requires_grad=input_grad)
    xs = torch.rand(1, 8, 6, 6, 6, requires_grad=input_grad)
    forward = 2 * 27 * 8 * 8 * 6**3
    assert count_flops(lambda: grouped(x).sum().backward()) == 4 * forward * (
        3 if input_grad else 2)
    assert count_flops(lambda: single(xs).sum().backward()) == forward * (3 if input_grad else 2)


@pytest.mark.parametrize(("arch", "k"), [("glagan", 4), ("glagan_global", 1), ("unet3d", 1),
                                         ("cyclegan", 1)])
def test_complexity_on_meta_matches_the_real_networks(arch, k):
    losses = CYCLE_LOSSES if arch == "cyclegan" else {"l1": 1.0, "adv": 1.0}
    spec = spec_of({"arch": arch, "k_patches": k, "width": 0.0625, "losses": losses})
    measured = model_complexity(spec=spec, grid=32)
    bundle = build_model(spec=spec, grid=32).eval()
    count = lambda modules: sum(p.numel() for m in modules for p in m.parameters())  # noqa: E731
    assert measured.generator_parameters == count(bundle.generators())
    assert measured.discriminator_parameters == count(bundle.discriminators()) > 0
    assert measured.total_parameters == count([bundle])
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        bundle.generator(_brain_cube())
    assert measured.generator_flops == counter.get_total_flops() > 0


def test_local_patches_tile_the_volume_so_their_flops_equal_the_global_path():
    flops = {arch: model_complexity(spec=spec_of({"arch": arch, "k_patches": k, "width": 0.0625,
                                                  "losses": LOSSES}), grid=32).generator_flops
             for arch, k in (("glagan_global", 1), ("glagan_local", 8))}
    assert flops["glagan_global"] == flops["glagan_local"]
    rows = complexity_rows(variants={"g": VariantSettings(
        arch="glagan_global", width=0.0625, losses=LossWeights(l1=1.0), group="main",
        label="Global | only")}, grid=32)
    assert rows[0]["generator_gflops"] == flops["glagan_global"] / 1e9
    markdown = complexity_markdown(rows=rows)
    assert "| Global \\| only | glagan_global |" in markdown
    assert "a multiply-add = 2 FLOPs" in markdown
