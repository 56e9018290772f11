"""`gla-model check-tools`: are the external tools of a preprocessing backend installed?

Cheap on purpose (the Snakefile calls :func:`check_tools` at workflow start): it
looks binaries up on ``PATH`` and reads version files; it starts no program.
"""

from __future__ import annotations

import argparse
import os
import shutil
from importlib import metadata
from pathlib import Path

from gla_model.errors import ConfigError, ToolMissingError

BACKENDS = ("ants", "fsl")
ACPC_METHODS = ("spm", "flirt")
SPM_MODES = ("matlab", "standalone")
FSL_BINARIES = ("flirt", "fast", "fslmaths", "fslstats")
ROBEX_BINARY = "runROBEX.sh"
SWITCH_HINT = ("or set `preprocessing.backend: ants` in config.yaml to use the embedded "
               "ANTs backend")


def check_tools(*, backend: str, acpc: str = "flirt", spm_mode: str = "matlab",
                spm_path: str | None = None, matlab_cmd: str = "matlab") -> dict[str, str]:
    """Versions of every tool ``backend`` needs, or ToolMissingError naming each missing one.

    Args:
        backend: ``"ants"`` or ``"fsl"``.
        acpc: fsl backend only: AC-PC step by ``"spm"`` (SPM12) or ``"flirt"`` (6-dof FLIRT).
        spm_mode: ``"matlab"`` (SPM12 in MATLAB) or ``"standalone"`` (compiled SPM12 + MCR).
        spm_path: the SPM12 folder (matlab mode) or the standalone ``run_spm12.sh`` (standalone).
        matlab_cmd: the MATLAB executable (matlab mode) or the MCR folder (standalone).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"preprocessing.backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "ants":
        return {"antspyx": metadata.version("antspyx"), "nipype": metadata.version("nipype")}
    if acpc not in ACPC_METHODS:
        raise ConfigError(f"preprocessing.acpc must be one of {ACPC_METHODS}, got {acpc!r}")
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
    if acpc == "spm":
        found.update(_check_spm(spm_mode=spm_mode, spm_path=spm_path, matlab_cmd=matlab_cmd,
                                missing=missing))
    if missing:
        raise ToolMissingError(
            "the fsl preprocessing backend needs tools that are not installed:\n  "
            + "\n  ".join(missing) + f"\nInstall them, {SWITCH_HINT}.")
    return found


def _check_spm(*, spm_mode: str, spm_path: str | None, matlab_cmd: str,
               missing: list[str]) -> dict[str, str]:
    if spm_mode not in SPM_MODES:
        raise ConfigError(f"preprocessing.spm_mode must be one of {SPM_MODES}, got {spm_mode!r}")
    hint = ("set preprocessing.spm_path, or `preprocessing.acpc: flirt` to replace the SPM12 "
            "AC-PC step by a 6-dof FLIRT")
    found = {}
    if spm_mode == "matlab":
        if shutil.which(matlab_cmd):
            found["matlab"] = "found"
        else:
            missing.append(f"{matlab_cmd} (MATLAB for SPM12: put it on PATH or set "
                           "preprocessing.matlab_cmd)")
        if spm_path and (Path(spm_path) / "spm.m").is_file():
            found["spm12"] = _spm_version(Path(spm_path))
        else:
            missing.append(f"SPM12 folder with spm.m at {spm_path!r} ({hint})")
    else:
        if spm_path and Path(spm_path).is_file() and os.access(spm_path, os.X_OK):
            found["spm12-standalone"] = "found"
        else:
            missing.append(f"SPM12 standalone script (run_spm12.sh) at {spm_path!r} ({hint})")
        if Path(matlab_cmd).is_dir():
            found["mcr"] = matlab_cmd
        else:
            missing.append(f"MATLAB Runtime folder {matlab_cmd!r} (set preprocessing.matlab_cmd)")
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
    parser.add_argument("--backend", choices=BACKENDS, default="ants")
    add_fsl_arguments(parser)


def add_fsl_arguments(parser: argparse.ArgumentParser) -> None:
    """The fsl backend's options (shared with ``gla-model preprocess``)."""
    parser.add_argument("--acpc", choices=ACPC_METHODS, default="flirt",
                        help="fsl backend: AC-PC by SPM12 or by 6-dof FLIRT (default)")
    parser.add_argument("--spm-mode", choices=SPM_MODES, default="matlab")
    parser.add_argument("--spm-path", help="SPM12 folder (matlab) or run_spm12.sh (standalone)")
    parser.add_argument("--matlab-cmd", default="matlab",
                        help="MATLAB executable (matlab mode) or MCR folder (standalone mode)")


def run_command(args: argparse.Namespace) -> None:
    """Run ``gla-model check-tools``: print one ``tool<TAB>version`` line per tool."""
    versions = check_tools(backend=args.backend, acpc=args.acpc, spm_mode=args.spm_mode,
                           spm_path=args.spm_path, matlab_cmd=args.matlab_cmd)
    for tool, version in versions.items():
        print(f"{tool}\t{version}")
