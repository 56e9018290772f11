"""Networks: shape tables at 32^3 and 64^3, patch layouts, bad hyperparameters."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gla_model import vocabulary
from gla_model.errors import ConfigError
from gla_model.nets import (
    GENERATOR_PATHS,
    Discriminator,
    GlaGenerator,
    UNet3d,
    build_model,
    patch_layout,
)
from gla_model.nets.glagan import PATCH_SPLITS
from gla_model.settings import ModelSpec, job_value

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
    assert len({id(br) for br in gen.local_path.branches}) == 4
    assert patch_layout(k_patches=4) == (2, 2, 1)


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
