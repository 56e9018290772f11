"""The fsl backend's own nodes, wrappers of :mod:`gla_model.preprocess.fsl_steps`."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from gla_model.preprocess import fsl_steps
from gla_model.preprocess.interfaces.files import save_matrix


class _GridRefInputSpec(BaseInterfaceInputSpec):
    grid = traits.Int(mandatory=True)


class _FileOutputSpec(TraitedSpec):
    out_file = File(exists=True)


class GridReference(SimpleInterface):
    """An empty image on the model grid (see :func:`.fsl_steps.grid_reference`)."""

    input_spec = _GridRefInputSpec
    output_spec = _FileOutputSpec

    def _run_interface(self, runtime):
        path = str(Path(runtime.cwd) / "grid.nii.gz")
        nib.save(fsl_steps.grid_reference(size=self.inputs.grid), path)
        self._results["out_file"] = path
        return runtime


class _FlirtGridInputSpec(BaseInterfaceInputSpec):
    matrices = InputMultiObject(File(exists=True), mandatory=True, desc="FLIRT matrices")
    sources = InputMultiObject(File(exists=True), mandatory=True)
    references = InputMultiObject(File(exists=True), mandatory=True)
    grid = File(exists=True, mandatory=True)


class FlirtToGrid(SimpleInterface):
    """Compose FLIRT matrices into one matrix onto the grid (see
    :func:`.fsl_steps.flirt_to_grid`)."""

    input_spec = _FlirtGridInputSpec
    output_spec = _FileOutputSpec

    def _run_interface(self, runtime):
        chain = list(zip(self.inputs.matrices, self.inputs.sources, self.inputs.references,
                         strict=True))
        matrix = fsl_steps.flirt_to_grid(chain=chain, grid=self.inputs.grid)
        self._results["out_file"] = save_matrix(matrix, folder=runtime.cwd, name="to_grid.mat")
        return runtime


class _FlirtXfmInputSpec(BaseInterfaceInputSpec):
    matrix = File(exists=True, mandatory=True, desc="T1w -> MNI FLIRT matrix")
    source = File(exists=True, mandatory=True, desc="the FLIRT input (skull-stripped T1w)")
    reference = File(exists=True, mandatory=True, desc="the FLIRT reference (MNI template)")
    native = File(exists=True, mandatory=True, desc="the T1w whose world space is the target")


class FlirtToXfm(SimpleInterface):
    """The MNI -> native T1w RAS map of a FLIRT matrix (see :func:`.fsl_steps.flirt_to_xfm`)."""

    input_spec = _FlirtXfmInputSpec
    output_spec = _FileOutputSpec

    def _run_interface(self, runtime):
        matrix = fsl_steps.flirt_to_xfm(matrix=self.inputs.matrix, source=self.inputs.source,
                                        reference=self.inputs.reference,
                                        native=self.inputs.native)
        self._results["out_file"] = save_matrix(matrix, folder=runtime.cwd, name="xfm.txt")
        return runtime
