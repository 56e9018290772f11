"""Settings: the shipped configs are valid; bad values name the key as config.yaml writes
it and what it allows; the generated schema agrees with the settings; job settings
round-trip; every key named in an error message exists."""

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from gla_model import settings as settings_module
from gla_model.cli import main
from gla_model.errors import ConfigError
from gla_model.settings import (
    ModelSpec,
    build_settings,
    config_schema,
    job_settings,
    job_value,
    load_config,
    merge_config,
    read_job_settings,
    without_resources,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = load_config(paths=[ROOT / "config.yaml"])
SCHEMA_FILE = ROOT / "workflow" / "schemas" / "config.schema.yaml"

INVALID = [
    ({"preprocessing": {"backend": "spm"}},
     "'preprocessing.backend': 'spm' is not one of ['ants', 'fsl']"),
    ({"preprocessing": {"grid": 48}}, "'preprocessing.grid': 48 is not one of [32, 64]"),
    ({"cv": {"n_folds": 1}}, "'cv.n_folds': 1 must be >= 2"),
    ({"cv": {"val_fraction": 1.5}}, "'cv.val_fraction': 1.5 must be <= 0.5"),
    ({"cv": {"val_fraction": 0.6}}, "'cv.val_fraction': 0.6 must be <= 0.5"),
    ({"preprocessing": {"reference_region": "cerebellum"}},
     "['cerebellum_gm', 'pons', 'whole_brain']"),
    ({"training": {"epochs": "ten"}}, "'training.epochs': 'ten' is not an integer"),
    ({"training": {"preload": 1}}, "'training.preload': 1 is not true or false"),
    ({"training": {"bogus": 1}}, "'training': unknown keys ['bogus']"),
    ({"classification": {"svm": {"gamma": ["huge"]}}}, "'classification.svm.gamma.0'"),
    ({"classification": {"seeds": [0, 0]}}, "'classification.seeds': items must be unique"),
    ({"models": {"variants": {"glagan": {"arch": "transformer"}}}},
     "'models.variants.glagan.arch': 'transformer' is not one of"),
    ({"models": {"variants": {"glagan": {"k_patches": 3}}}},
     "'models.variants.glagan.k_patches': 3 is not one of [1, 2, 4, 8]"),
    ({"models": {"variants": {"glagan": {"losses": {"l1": 0, "ms_ssim": 0, "roi": 0}}}}},
     "'models.variants.glagan.losses': at least one of"),
    ({"models": {"variants": {"unet3d": {"losses": {"l1": 1.0, "cycle": 1.0}}}}},
     "cycle and identity apply to arch cyclegan only"),
    ({"models": {"variants": {"gan_l1_ssim": {"losses": {"l1": 1.0, "adv": 0}}}}},
     "'models.variants.gan_l1_ssim.losses.adv': arch gan is adversarial"),
    ({"preprocessing": {"atlas": "aal.nii.gz"}},
     "'preprocessing.atlas' and 'preprocessing.atlas_labels': set both"),
    ({"training": {"lr": -1}}, "'training.lr': -1.0 must be > 0"),
    ({"models": {"variants": {"glagan": {"width": 0}}}},
     "'models.variants.glagan.width': 0.0 must be > 0"),
    ({"models": {"variants": {"unet3d": {"losses": {"l1": -1}}}}},
     "'models.variants.unet3d.losses.l1': -1.0 must be >= 0"),
    ({"cohort": {"source": "bids"}}, "'cohort.bids_dir': required when cohort.source is bids"),
    ({"cohort": {"session": "../x"}}, "'cohort.session'"),
    ({"models": {"enabled": ["glagan", "resnet"]}}, "'models.enabled': 'resnet' is not defined"),
    ({"report": {"interpolation_variant": "cyclegan"}},
     "'report.interpolation_variant': 'cyclegan' is not enabled"),
    ({"evaluation": {"reference_variant": "glagan_k8"}},
     "'evaluation.reference_variant': 'glagan_k8' is not enabled"),
    ({"report": {"interpolation_fold": 5}},
     "'report.interpolation_fold': 5 is not a fold; choose 0 to 4"),
]


# What the schema says for each per-key case of INVALID (the offending value and the rule).
SCHEMA_MESSAGES = {
    "'training.lr': -1.0 must be > 0": "-1 is less than or equal to the minimum of 0",
    "'models.variants.glagan.width': 0.0 must be > 0":
        "0 is less than or equal to the minimum of 0",
    "'models.variants.unet3d.losses.l1': -1.0 must be >= 0": "-1 is less than the minimum of 0",
    "'preprocessing.backend': 'spm' is not one of ['ants', 'fsl']":
        "'spm' is not one of ['ants', 'fsl']",
    "'preprocessing.grid': 48 is not one of [32, 64]": "48 is not one of [32, 64]",
    "'cv.n_folds': 1 must be >= 2": "1 is less than the minimum of 2",
    "'cv.val_fraction': 1.5 must be <= 0.5": "1.5 is greater than the maximum of 0.5",
    "'cv.val_fraction': 0.6 must be <= 0.5": "0.6 is greater than the maximum of 0.5",
    "['cerebellum_gm', 'pons', 'whole_brain']":
        "'cerebellum' is not one of ['cerebellum_gm', 'pons', 'whole_brain']",
    "'training.epochs': 'ten' is not an integer": "'ten' is not of type 'integer'",
    "'training.preload': 1 is not true or false": "1 is not of type 'boolean'",
    "'training': unknown keys ['bogus']":
        "Additional properties are not allowed ('bogus' was unexpected)",
    "'classification.svm.gamma.0'": "'huge' is not valid under any of the given schemas",
    "'classification.seeds': items must be unique": "[0, 0] has non-unique elements",
    "'models.variants.glagan.arch': 'transformer' is not one of":
        "'transformer' is not one of ['glagan', 'glagan_global', 'glagan_local', 'unet3d', "
        "'gan', 'cyclegan']",
    "'models.variants.glagan.k_patches': 3 is not one of [1, 2, 4, 8]":
        "3 is not valid under any of the given schemas",
    "'cohort.session'": "'../x' does not match '^[A-Za-z0-9]+$'",
}


@pytest.mark.parametrize("preset", [None, "tiny", "paper"])
def test_shipped_configs_are_valid(preset):
    paths = [ROOT / "config.yaml"] + ([ROOT / f"workflow/presets/{preset}.yaml"] if preset else [])
    config = load_config(paths=paths)
    settings = build_settings(config=config)
    jsonschema.validate(config, config_schema())
    assert list(settings.variants) == config["models"]["enabled"]


@pytest.mark.parametrize(("override", "expected"), INVALID)
def test_invalid_config_names_key_and_allowed_values(override, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        build_settings(config=merge_config(base=DEFAULT, override=override))


@pytest.mark.parametrize(("override", "expected"), INVALID)
def test_the_schema_rejects_what_the_settings_reject_per_key(override, expected):
    """Single-key ranges and enums come from one place: the schema rejects them too
    (cross-key rules, marked by the settings' own wording, are the settings' alone)."""
    cross_key = ("is not defined", "is not enabled", "is not a fold", "required when", "set both",
                 "at least one of", "apply to arch", "adversarial")
    if any(part in expected for part in cross_key):
        pytest.skip("a cross-key rule")
    with pytest.raises(jsonschema.ValidationError, match=re.escape(SCHEMA_MESSAGES[expected])):
        jsonschema.validate(merge_config(base=DEFAULT, override=override), config_schema())


def test_the_committed_schema_is_the_generated_one(tmp_path):
    assert main(["config-schema", "--out", str(tmp_path / "schema.yaml")]) == 0
    assert (tmp_path / "schema.yaml").read_text() == SCHEMA_FILE.read_text(), (
        "regenerate: gla-model config-schema --out workflow/schemas/config.schema.yaml")
    assert yaml.safe_load(SCHEMA_FILE.read_text()) == config_schema()


def test_every_config_yaml_key_is_a_settings_field_and_back():
    schema = config_schema()

    def keys(mapping, prefix=""):
        for key, value in mapping.items():
            yield prefix + key
            if isinstance(value, dict) and key != "variants":
                yield from keys(value, prefix + key + ".")

    def schema_keys(node, prefix=""):
        for key, value in node.get("properties", {}).items():
            yield prefix + key
            if key != "variants":
                yield from schema_keys(value, prefix + key + ".")

    assert set(keys(DEFAULT)) == set(schema_keys(schema))


def test_patch_architectures_require_k_patches():
    config = merge_config(base=DEFAULT, override={})
    variants = dict(config["models"]["variants"])
    variants["glagan"] = {k: v for k, v in variants["glagan"].items() if k != "k_patches"}
    config["models"] = {**config["models"], "variants": variants}
    with pytest.raises(ConfigError, match=r"models\.variants\.glagan\.k_patches': required"):
        build_settings(config=config)


def test_merge_overrides_keys_without_touching_the_base():
    merged = merge_config(base=DEFAULT, override={"cv": {"n_folds": 3}})
    assert merged["cv"] == {**DEFAULT["cv"], "n_folds": 3}
    assert DEFAULT["cv"]["n_folds"] == 5


def test_enabled_variants_follow_the_enabled_order():
    config = merge_config(base=DEFAULT, override={"models": {"enabled": ["unet3d", "glagan"]}})
    assert list(build_settings(config=config).variants) == ["unet3d", "glagan"]


def test_a_variant_epochs_override_changes_only_that_variant():
    settings = build_settings(config=DEFAULT)
    assert settings.variant_training("unet3d").epochs == DEFAULT["models"]["variants"][
        "unet3d"]["epochs"]
    assert settings.variant_training("glagan") == settings.training


def test_job_settings_round_trip_with_the_same_checks():
    settings = build_settings(config=DEFAULT)
    spec = settings.variants["glagan"].model_spec()
    text = job_settings(models__variants__glagan=spec, cv=settings.cv,
                        training=without_resources(settings.training))
    payload = read_job_settings(text)
    assert job_value(payload, "models.variants.glagan", as_type=ModelSpec) == spec
    assert job_value(payload, "cv") == settings.cv
    assert job_value(payload, "training", threads=3).threads == 3
    assert "threads" not in payload["training"]
    bad = read_job_settings(job_settings(cv={**payload["cv"], "val_fraction": 0.9}))
    with pytest.raises(ConfigError, match=r"'cv\.val_fraction': 0\.9 must be <= 0\.5"):
        job_value(bad, "cv")
    with pytest.raises(ConfigError, match=r"--settings lacks 'training'"):
        job_value(bad, "training")


def test_read_job_settings_rejects_what_is_not_a_json_object(tmp_path):
    with pytest.raises(ConfigError, match="neither a JSON object nor a JSON file"):
        read_job_settings(str(tmp_path / "missing.json"))
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        read_job_settings(str(tmp_path / "list.json"))


def test_every_config_key_named_in_an_error_message_exists():
    """Error messages across the package name keys as config.yaml writes them."""
    package = ROOT / "gla_model"
    named = set()
    pattern = re.compile(r"(?<![\w./])((?:cohort|preprocessing|cv|models|training|evaluation|"
                         r"classification|report)(?:\.[a-z_0-9]+)+)")
    for path in package.rglob("*.py"):
        for string in re.findall(r"\"[^\"\n]*\"|'[^'\n]*'", path.read_text()):
            named.update(key for key in pattern.findall(string)
                         if key.rsplit(".", 1)[1] not in ("tsv", "py", "md", "json"))
    assert named, "no config keys found in messages: the pattern is wrong"
    valid = {key for key in named if _is_key(key)}
    assert named == valid, f"messages name keys that do not exist: {sorted(named - valid)}"


def _is_key(key: str) -> bool:
    parts = key.split(".")
    if parts[:2] == ["models", "variants"] and len(parts) > 2:
        parts = ["models", "variants", "glagan", *parts[3:]]
    try:
        settings_module.resolve_key(".".join(parts))
    except ConfigError:
        return False
    return True
