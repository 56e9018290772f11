"""`gla-model check-tools`: are the external tools of a preprocessing backend installed?

Cheap on purpose (the Snakefile calls :func:`check_tools` at workflow start): it
looks binaries up on ``PATH`` and reads version files; it starts no program. Light on
purpose too: no nipype, no ANTs import.

Every message names the config keys as they are written in ``config.yaml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
from importlib import metadata
from pathlib import Path

from gla_model.errors import ConfigError, ToolMissingError
from gla_model.settings import PreprocessingSettings, SpmSettings, build_settings, load_config

FSL_BINARIES = ("flirt", "fast", "fslmaths", "fslstats")
ROBEX_BINARY = "runROBEX.sh"
#: The MATLAB command when ``preprocessing.spm.matlab`` is null (looked up on PATH).
MATLAB = "matlab"
SWITCH_HINT = ("or set `preprocessing.backend: ants` in config.yaml to use the embedded "
               "ANTs backend")


def matlab_command(*, settings: SpmSettings) -> str:
    """``preprocessing.spm.matlab``: the MATLAB executable (matlab mode) or the MCR folder
    (standalone mode); ``matlab`` when it is null."""
    return settings.matlab or MATLAB


def check_tools(*, settings: PreprocessingSettings) -> dict[str, str]:
    """Versions of every tool the backend of ``settings`` needs, or ToolMissingError
    naming each missing one and how to install it or choose the ants backend.

    The fsl backend reads ``acpc`` (SPM12 is needed when it is ``spm``) and ``spm``:
    ``mode``, ``path`` (the SPM12 folder in matlab mode, ``run_spm12.sh`` in
    standalone mode) and ``matlab`` (see :func:`matlab_command`).
    """
    _check_choice(settings, "backend", key="preprocessing.backend")
    if settings.backend == "ants":
        return {"antspyx": metadata.version("antspyx"), "nipype": metadata.version("nipype")}
    _check_choice(settings, "acpc", key="preprocessing.acpc")
    found, missing = {"nipype": metadata.version("nipype"), "fslpy": metadata.version("fslpy")}, []
    fsl_version = _fsl_version()
    for binary in FSL_BINARIES:
        if shutil.which(binary):
            found[binary] = fsl_version
        else:
            missing.append(f"{binary} (FSL: install FSL and set FSLDIR, with $FSLDIR/bin on PATH)")
    if shutil.which(ROBEX_BINARY):
        found["ROBEX"] = "found"
    else:
        missing.append(f"{ROBEX_BINARY} (ROBEX: install it and put its folder on PATH)")
    if settings.acpc == "spm":
        found.update(_check_spm(settings=settings.spm, missing=missing))
    if missing:
        raise ToolMissingError(
            "the fsl preprocessing backend needs tools that are not installed:\n  "
            + "\n  ".join(missing) + f"\nInstall them, {SWITCH_HINT}.")
    return found


def _check_choice(settings: object, name: str, *, key: str) -> None:
    """ConfigError unless ``settings.<name>`` is one of its field's choices (for settings
    made without :func:`gla_model.settings.build_settings`)."""
    field = next(f for f in dataclasses.fields(settings) if f.name == name)
    choices, value = field.metadata["choices"], getattr(settings, name)
    if value not in choices:
        raise ConfigError(f"{key} must be one of {list(choices)}, got {value!r}")


def _check_spm(*, settings: SpmSettings, missing: list[str]) -> dict[str, str]:
    _check_choice(settings, "mode", key="preprocessing.spm.mode")
    spm_path, matlab_cmd = settings.path, matlab_command(settings=settings)
    hint = ("set preprocessing.spm.path, or `preprocessing.acpc: flirt` to replace "
            "the SPM12 AC-PC step by a 6-dof FLIRT")
    found = {}
    if settings.mode == "matlab":
        if shutil.which(matlab_cmd):
            found["matlab"] = "found"
        else:
            missing.append(f"{matlab_cmd} (MATLAB for SPM12: put it on PATH or set "
                           "preprocessing.spm.matlab)")
        if spm_path and (Path(spm_path) / "spm.m").is_file():
            found["spm12"] = _spm_version(Path(spm_path))
        else:
            missing.append(f"SPM12 folder with spm.m at {spm_path!r} ({hint})")
    else:
        if spm_path and Path(spm_path).is_file() and os.access(spm_path, os.X_OK):
            found["spm12-standalone"] = "found"
        else:
            missing.append(f"SPM12 standalone script (run_spm12.sh) at {spm_path!r} ({hint})")
        if settings.matlab and Path(matlab_cmd).is_dir():
            found["mcr"] = matlab_cmd
        else:
            missing.append(f"MATLAB Runtime folder {settings.matlab!r} (set "
                           "preprocessing.spm.matlab to the MCR folder)")
    return found


def _fsl_version() -> str:
    fsldir = os.environ.get("FSLDIR")
    version_file = Path(fsldir, "etc", "fslversion") if fsldir else None
    if version_file and version_file.is_file():
        return version_file.read_text().split(":")[0].strip()
    return "unknown (FSLDIR not set)"


def _spm_version(folder: Path) -> str:
    contents = folder / "Contents.m"
    if contents.is_file():
        for line in contents.read_text(errors="replace").splitlines()[:3]:
            if "Version" in line:
                return line.strip("% ").strip()
    return "SPM12"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model check-tools``."""
    parser.add_argument("--config", nargs="+", required=True, type=Path, metavar="FILE",
                        help="config YAML files, later ones overriding earlier ones "
                             "(e.g. config.yaml)")


def run_command(args: argparse.Namespace) -> None:
    """Run ``gla-model check-tools``: print one ``tool<TAB>version`` line per tool."""
    missing = [str(path) for path in args.config if not path.is_file()]
    if missing:
        raise ConfigError(f"--config: no such file {missing}")
    settings = build_settings(config=load_config(paths=args.config))
    for tool, version in check_tools(settings=settings.preprocessing).items():
        print(f"{tool}\t{version}")
