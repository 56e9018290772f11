"""`check-tools`: versions of the backend's tools, or one error naming every missing tool."""

import pytest

from gla_model.cli import main
from gla_model.errors import ConfigError, ToolMissingError
from gla_model.preprocess.tools import check_tools


def _fake_binaries(folder, names):
    for name in names:
        path = folder / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)


def test_ants_backend_needs_only_python_packages():
    versions = check_tools(backend="ants")
    assert versions["antspyx"] == "0.6.3"


def test_fsl_backend_names_every_missing_tool_and_the_switch(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError) as error:
        check_tools(backend="fsl", acpc="spm", spm_path=str(tmp_path / "spm12"))
    message = str(error.value)
    for tool in ("flirt", "fast", "fslmaths", "fslstats", "runROBEX.sh", "matlab", "SPM12"):
        assert tool in message
    assert "preprocessing.backend: ants" in message


def test_fsl_backend_passes_when_tools_are_on_path(monkeypatch, tmp_path):
    _fake_binaries(tmp_path, ["flirt", "fast", "fslmaths", "fslstats", "runROBEX.sh", "matlab"])
    spm = tmp_path / "spm12"
    spm.mkdir()
    (spm / "spm.m").write_text("% spm\n")
    fsldir = tmp_path / "fsl"
    (fsldir / "etc").mkdir(parents=True)
    (fsldir / "etc" / "fslversion").write_text("6.0.7.4:abc\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("FSLDIR", str(fsldir))
    versions = check_tools(backend="fsl", acpc="spm", spm_path=str(spm))
    assert versions["flirt"] == "6.0.7.4"
    assert {"ROBEX", "matlab", "spm12"} <= set(versions)


def test_flirt_acpc_does_not_need_spm(monkeypatch, tmp_path):
    _fake_binaries(tmp_path, ["flirt", "fast", "fslmaths", "fslstats", "runROBEX.sh"])
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "matlab" not in check_tools(backend="fsl", acpc="flirt")


def test_standalone_spm_needs_script_and_runtime(monkeypatch, tmp_path):
    _fake_binaries(tmp_path, ["flirt", "fast", "fslmaths", "fslstats", "runROBEX.sh"])
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match=r"run_spm12\.sh.*\n.*MATLAB Runtime"):
        check_tools(backend="fsl", acpc="spm", spm_mode="standalone",
                    spm_path=str(tmp_path / "run_spm12.sh"), matlab_cmd=str(tmp_path / "mcr"))


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match=r"preprocessing\.backend"):
        check_tools(backend="spm")


def test_cli_exit_code_two_with_message(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["check-tools", "--backend", "fsl"]) == 2
    assert "runROBEX.sh" in capsys.readouterr().err
