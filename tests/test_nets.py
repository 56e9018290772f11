"""Networks: shape tables at 32^3 and 64^3, patch layouts, bad hyperparameters."""

from __future__ import annotations

import pytest
import torch

from gla_model.errors import ConfigError
from gla_model.nets import Discriminator, GlaGenerator, UNet3d, build_model, patch_layout

LOSSES = {"l1": 1.0}


@pytest.mark.parametrize(("arch", "k", "grid", "width"), [
    *[("glagan", k, 32, 0.125) for k in (1, 2, 4, 8)],
    ("glagan_global", 1, 32, 0.125), ("glagan_local", 4, 32, 0.125),
    ("glagan", 4, 64, 0.03), ("glagan", 8, 64, 0.03),
    ("unet3d", 1, 32, 0.125), ("unet3d", 1, 64, 0.125),
])
def test_generator_shapes(arch, k, grid, width):
    bundle = build_model(spec={"arch": arch, "k_patches": k, "width": width,
                               "losses": LOSSES}, grid=grid)
    with torch.no_grad():
        out = bundle.generator(torch.rand(2, 1, grid, grid, grid))
    assert out.shape == (2, 1, grid, grid, grid)
    assert float(out.min()) > 0 and float(out.max()) < 1


@pytest.mark.parametrize(("grid", "logits"), [(32, 1), (64, 5)])
def test_discriminator_shapes(grid, logits):
    net = Discriminator(in_channels=2, width=0.0625)
    assert net(torch.rand(2, 2, grid, grid, grid)).shape == (2, 1, logits, logits, logits)


def test_gan_and_cyclegan_bundles():
    gan = build_model(spec={"arch": "gan", "width": 0.0625,
                            "losses": {"l1": 1, "ssim": 1, "adv": 1}}, grid=32)
    assert gan.discriminator is not None and gan.inverse is None
    cyc = build_model(spec={"arch": "cyclegan", "width": 0.0625,
                            "losses": {"l1": 1, "adv": 1, "cycle": 10, "identity": 5}}, grid=32)
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


@pytest.mark.parametrize("build", [
    lambda: GlaGenerator(k_patches=3), lambda: GlaGenerator(k_patches=2, width=0),
    lambda: GlaGenerator(k_patches=2, path="middle"), lambda: UNet3d(width=-1.0),
    lambda: Discriminator(in_channels=0), lambda: Discriminator(in_channels=1, width=True),
])
def test_bad_hyperparameters_raise(build):
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize(("spec", "grid", "match"), [
    ({"arch": "vae", "losses": LOSSES}, 32, "arch"),
    ({"arch": "glagan", "losses": LOSSES}, 32, "k_patches"),
    ({"arch": "glagan", "k_patches": 4, "losses": LOSSES}, 40, "grid"),
    ({"arch": "gan", "losses": LOSSES}, 32, "adversarial by definition"),
    ({"arch": "cyclegan", "losses": {"l1": 1.0, "cycle": 10.0}}, 32, "adversarial by definition"),
    ({"arch": "unet3d", "losses": {"l1": 1, "cycle": 1}}, 32, "cycle"),
    ({"arch": "unet3d", "losses": {"l2": 1}}, 32, "unknown loss"),
    ({"arch": "unet3d", "losses": {"l1": -1}}, 32, ">= 0"),
    ({"arch": "unet3d", "losses": LOSSES, "depth": 3}, 32, "unknown variant"),
])
def test_bad_specs_raise_config_errors(spec, grid, match):
    with pytest.raises(ConfigError, match=match):
        build_model(spec=spec, grid=grid)


def test_every_variant_of_the_shipped_config_builds():
    from pathlib import Path

    from gla_model.settings import load_config, model_spec

    config = load_config(paths=[Path(__file__).resolve().parent.parent / "config.yaml"])
    for name, variant in config["models"]["variants"].items():
        spec = model_spec(variant=variant)
        bundle = build_model(spec={**spec, "width": 0.0625}, grid=32)
        assert bundle.generator is not None, name
        assert (bundle.discriminator is not None) == (spec["losses"].get("adv", 0) > 0), name


def test_generators_predict_uptake_only_inside_the_input_brain():
    bundle = build_model(spec={"arch": "glagan", "k_patches": 4, "width": 0.0625,
                               "losses": LOSSES}, grid=32)
    mri = torch.zeros(1, 1, 32, 32, 32)
    mri[..., 8:24, 8:24, 8:24] = torch.rand(1, 1, 16, 16, 16) + 0.1
    with torch.no_grad():
        pet = bundle.generator(mri)
    assert float(pet[mri == 0].abs().max()) == 0.0
    assert float(pet[mri > 0].min()) > 0.0
