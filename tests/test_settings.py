"""The config schema: the shipped configs are valid; bad values name the key and the choices."""

from pathlib import Path

import pytest

from gla_model.settings import enabled_variants, load_config, merge_config, validate_config
from gla_model.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = load_config(paths=[ROOT / "config.yaml"])


@pytest.mark.parametrize("preset", [None, "tiny", "paper"])
def test_shipped_configs_are_valid(preset):
    paths = [ROOT / "config.yaml"] + ([ROOT / f"workflow/presets/{preset}.yaml"] if preset else [])
    validate_config(config=load_config(paths=paths))


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"preprocessing": {"backend": "spm"}},
         "'preprocessing.backend': 'spm' is not one of ['ants', 'fsl']"),
        ({"preprocessing": {"grid": 48}}, "'preprocessing.grid': 48 is not one of [32, 64]"),
        ({"cv": {"n_folds": 1}}, "'cv.n_folds': 1 is less than the minimum of 2"),
        ({"cv": {"val_fraction": 1.5}}, "'cv.val_fraction'"),
        ({"preprocessing": {"reference_region": "cerebellum"}},
         "['cerebellum_gm', 'pons', 'whole_brain']"),
        ({"training": {"epochs": "ten"}}, "'training.epochs': 'ten' is not of type 'integer'"),
        ({"training": {"bogus": 1}}, "'training': Additional properties are not allowed"),
        ({"classification": {"svm": {"gamma": ["huge"]}}}, "'classification.svm.gamma.0'"),
        ({"models": {"variants": {"glagan": {"arch": "transformer"}}}},
         "'models.variants.glagan.arch': 'transformer' is not one of"),
        ({"models": {"variants": {"glagan": {"k_patches": 3}}}},
         "'models.variants.glagan.k_patches': 3 is not one of [1, 2, 4, 8]"),
        ({"cohort": {"source": "bids"}}, "'cohort.bids_dir': None is not of type 'string'"),
        ({"cohort": {"session": "../x"}}, "'cohort.session'"),
        ({"models": {"enabled": ["glagan", "resnet"]}},
         "'models.enabled': 'resnet' is not defined"),
        ({"report": {"interpolation_variant": "cyclegan"}},
         "'report.interpolation_variant': 'cyclegan' is not enabled"),
        ({"evaluation": {"reference_variant": "glagan_k8"}},
         "'evaluation.reference_variant': 'glagan_k8' is not enabled"),
        ({"report": {"interpolation_fold": 5}},
         "'report.interpolation_fold': 5 is not a fold; choose 0 to 4"),
    ],
)
def test_invalid_config_names_key_and_allowed_values(override, expected):
    config = merge_config(base=DEFAULT, override=override)
    with pytest.raises(ConfigError) as error:
        validate_config(config=config)
    assert expected in str(error.value)


def test_patch_architectures_require_k_patches():
    variants = dict(DEFAULT["models"]["variants"])
    variants["glagan"] = {k: v for k, v in variants["glagan"].items() if k != "k_patches"}
    config = merge_config(base=DEFAULT, override={"models": {"variants": {}}})
    config["models"] = {**config["models"], "variants": variants}
    with pytest.raises(ConfigError, match=r"models\.variants\.glagan\.k_patches': required"):
        validate_config(config=config)


def test_merge_overrides_keys_without_touching_the_base():
    merged = merge_config(base=DEFAULT, override={"cv": {"n_folds": 3}})
    assert merged["cv"] == {**DEFAULT["cv"], "n_folds": 3}
    assert DEFAULT["cv"]["n_folds"] == 5


def test_enabled_variants_follow_the_enabled_order():
    config = merge_config(base=DEFAULT, override={"models": {"enabled": ["unet3d", "glagan"]}})
    assert list(enabled_variants(config=config)) == ["unet3d", "glagan"]
