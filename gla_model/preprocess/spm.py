"""How nipype runs SPM12 (``preprocessing.spm.mode``) for the AC-PC step, the first step of
either backend when ``preprocessing.acpc`` is ``spm``
(:func:`gla_model.preprocess.interfaces.spm.spm_acpc_node`), and the transform it leaves
behind.

The T1w is aligned rigidly (6 dof, normalized mutual information) to SPM12's canonical
T1 template, estimate only: SPM rewrites the header of a copy of the T1w and leaves its
voxels as they are, so nothing is resampled. Every later step works in the rewritten
world space; the PET follows, since it is registered to the T1w later. The ``xfm`` output
maps to the original T1w world (:func:`native_xfm`).
"""

from __future__ import annotations

import shlex

import numpy as np

from gla_model.preprocess.tools import matlab_command
from gla_model.settings import SpmSettings

#: Octave without GUI, X11 or startup files; SPM12 goes on its path with ``--path``, so
#: nipype adds no ``addpath`` (whose ``ismcc`` guard Octave lacks).
OCTAVE_OPTIONS = "--no-gui --no-window-system --norc --quiet"


def spm_command(*, settings: SpmSettings) -> dict[str, object]:
    """Inputs of a nipype SPMCommand (``matlab_cmd``, ``paths``, ``use_mcr``) for
    ``preprocessing.spm``: ``mode`` matlab (MATLAB with SPM12 at ``path``), standalone
    (``path`` is run_spm12.sh, ``matlab`` the MATLAB Runtime folder) or octave (GNU
    Octave with SPM12 built for it at ``path``).

    Octave and the standalone both run nipype's script file as their last argument
    (``use_mcr``).
    """
    program, folder = matlab_command(settings=settings), settings.path or ""
    if settings.mode == "matlab":
        return {"matlab_cmd": shlex.quote(program), "paths": [folder], "use_mcr": False}
    if settings.mode == "standalone":
        return {"matlab_cmd": f"{shlex.quote(folder)} {shlex.quote(program)} script",
                "use_mcr": True}
    if settings.mode == "octave":
        return {"matlab_cmd": f"{shlex.quote(program)} {OCTAVE_OPTIONS} --path "
                              f"{shlex.quote(folder)}", "use_mcr": True}
    raise ValueError(f"preprocessing.spm.mode must be 'matlab', 'standalone' or 'octave', "
                     f"got {settings.mode!r}")


def native_xfm(*, pull: np.ndarray, native_affine: np.ndarray,
               reoriented_affine: np.ndarray) -> np.ndarray:
    """The MNI -> native T1w map from a ``pull`` map (MNI -> reoriented T1w world) estimated
    on the reoriented T1w, whose voxels are the native T1w's: native world =
    native affine @ inv(reoriented affine) @ reoriented world."""
    return np.asarray(native_affine) @ np.linalg.inv(reoriented_affine) @ np.asarray(pull)
