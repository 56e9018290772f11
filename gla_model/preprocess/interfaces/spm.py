"""SPM12's AC-PC step as a nipype SPMCommand (MATLAB, standalone SPM12 or GNU Octave; see
:mod:`gla_model.preprocess.spm`), and the node that maps the transform estimated after it
back to the native T1w."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec
from nipype.interfaces.spm.base import SPMCommand, SPMCommandInputSpec
from nipype.pipeline.engine import Node

from gla_model.preprocess import spm
from gla_model.preprocess.interfaces.files import same_voxels, save_matrix
from gla_model.preprocess.tools import spm_template
from gla_model.settings import SpmSettings

#: The M-code of SPM12's "Coregister: Estimate" (spm_run_coreg) with its default options,
#: called directly: SPM's batch system (spm_jobman) does not start in an SPM12 folder
#: without its M/EEG files, such as the trimmed copy built for Octave here.
ACPC_SCRIPT = """
source = '{source}';
flags = struct('cost_fun', 'nmi', 'sep', [4 2], 'fwhm', [7 7], 'graphics', 0);
x = spm_coreg(spm_vol('{target}'), spm_vol(source), flags);
spm_get_space(source, spm_matrix(x(:)') \\ spm_get_space(source));
fprintf('AC-PC: translation (mm) %s, rotation (rad) %s\\n', mat2str(x(1:3), 4), ...
        mat2str(x(4:6), 4));
"""


def spm_acpc_node(*, settings: SpmSettings, name: str = "spm_acpc") -> Node:
    """An :class:`SpmAcpc` node (source -> out_file) to SPM12's canonical T1
    (:func:`gla_model.preprocess.tools.spm_template`), run as ``preprocessing.spm`` says
    (:func:`gla_model.preprocess.spm.spm_command`)."""
    return Node(SpmAcpc(target=str(spm_template(settings=settings)),
                        **spm.spm_command(settings=settings)), name=name)


class _AcpcInputSpec(SPMCommandInputSpec):
    target = File(exists=True, mandatory=True, copyfile=False,
                  desc="SPM12's canonical T1 (uncompressed NIfTI)")
    source = File(exists=True, mandatory=True, copyfile=False,
                  desc="the T1w (NIfTI, gzipped or not); it is not modified")


class _AcpcOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="a copy of the T1w with the aligning header")


class SpmAcpc(SPMCommand):
    """Rigid alignment of the T1w to ``target`` by spm_coreg, written into the header of
    an uncompressed copy in the node folder (no resampling)."""

    input_spec = _AcpcInputSpec
    output_spec = _AcpcOutputSpec
    _jobtype = "spatial"
    _jobname = "coreg"
    _out_file = ""

    @property
    def version(self):
        # None skips nipype's version check, which would start MATLAB or Octave to ask and
        # write pyscript.m into the caller's current folder; check-tools reads Contents.m.
        return None

    def _run_interface(self, runtime):
        source = Path(self.inputs.source)
        self._out_file = str(Path(runtime.cwd, "t1w_acpc.nii").resolve())
        opener = gzip.open if source.name.endswith(".gz") else open
        with opener(source, "rb") as read, open(self._out_file, "wb") as write:
            shutil.copyfileobj(read, write)
        return super()._run_interface(runtime)

    def _make_matlab_command(self, _):
        return ACPC_SCRIPT.format(target=_matlab_string(self.inputs.target),
                                  source=_matlab_string(self._out_file))

    def _list_outputs(self):
        return {"out_file": self._out_file}


def _matlab_string(text: str) -> str:
    return text.replace("'", "''")


class _XfmInputSpec(BaseInterfaceInputSpec):
    pull = File(exists=True, mandatory=True, desc="MNI -> reoriented T1w (4x4 text)")
    native = File(exists=True, mandatory=True, desc="the T1w before the AC-PC step")
    reoriented = File(exists=True, mandatory=True, desc="the T1w after it")


class _XfmOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="MNI -> native T1w (4x4 text)")


class NativeXfm(SimpleInterface):
    """The MNI -> native T1w map of a transform estimated after the AC-PC step (see
    :func:`gla_model.preprocess.spm.native_xfm`)."""

    input_spec = _XfmInputSpec
    output_spec = _XfmOutputSpec

    def _run_interface(self, runtime):
        native, reoriented = same_voxels(reference=self.inputs.native,
                                         other=self.inputs.reoriented)
        matrix = spm.native_xfm(pull=np.loadtxt(self.inputs.pull), native_affine=native.affine,
                                reoriented_affine=reoriented.affine)
        self._results["out_file"] = save_matrix(matrix, folder=runtime.cwd, name="xfm.txt")
        return runtime
