"""The ``fsl`` backend: the paper's chain through nipype's own FSL, ROBEX and SPM12 interfaces.

AC-PC (SPM12 Coregister, estimate only, which rewrites the header; or a 6-dof FLIRT
whose matrix initializes the 12-dof one) -> ROBEX skull strip -> fslmaths intensity
normalization (divide by the 99.5th brain percentile, clip to [0, 1]) -> 12-dof FLIRT
to MNI152 -> FAST (3 classes) in native space -> each image to the model grid by one
``flirt -applyxfm``. PET: 6-dof FLIRT to the T1w, then PET -> T1w -> MNI -> grid as one
matrix composed with fslpy in world coordinates (FSL's scaled-voxel convention is
left to fslpy).
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
from fsl.data.image import Image
from fsl.transform.flirt import fromFlirt, toFlirt
from nipype.algorithms.misc import Gunzip
from nipype.interfaces import fsl, spm
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    traits,
)
from nipype.interfaces.robex.preprocess import RobexSegment
from nipype.interfaces.utility import IdentityInterface, Merge
from nipype.pipeline.engine import Node, Workflow

from gla_model import resources
from gla_model.errors import ToolMissingError

FSL_TEMPLATE = "data/standard/MNI152_T1_1mm_brain.nii.gz"
NORMALIZATION_PERCENTILE = 99.5
FAST_CLASSES = ("csf", "gm", "wm")  # FAST's pve_0, pve_1, pve_2 for a T1w


def flirt_to_grid(*, chain: list[tuple[str, str, str]], grid: str) -> np.ndarray:
    """The FLIRT matrix from ``chain[0]``'s source image to the ``grid`` image.

    Args:
        chain: (FLIRT matrix file, source image, reference image) per step, in order
            (e.g. PET -> T1w, then T1w -> MNI).
        grid: the output grid image (the ``-ref`` of ``flirt -applyxfm``).
    """
    world = np.eye(4)
    for matrix, source, reference in chain:
        step = fromFlirt(np.loadtxt(matrix), Image(source),
                         Image(reference), from_="world", to="world")
        world = step @ world
    return toFlirt(world, Image(chain[0][1]), Image(grid),
                   from_="world", to="world")


def fsl_template(*, template: str | None) -> str:
    """``template`` or FSL's MNI152_T1_1mm_brain (needs FSLDIR)."""
    if template:
        return template
    fsldir = os.environ.get("FSLDIR")
    if not fsldir or not Path(fsldir, FSL_TEMPLATE).is_file():
        raise ToolMissingError(
            f"FSLDIR is not set or lacks {FSL_TEMPLATE}; install FSL, give --template, or set "
            "`preprocessing.backend: ants` in config.yaml.")
    return str(Path(fsldir, FSL_TEMPLATE))


class _GridRefInputSpec(BaseInterfaceInputSpec):
    grid = traits.Int(mandatory=True)


class _FileOutputSpec(TraitedSpec):
    out_file = File(exists=True)


class GridReference(SimpleInterface):
    """An empty image on the model grid (the reference of ``flirt -applyxfm``)."""

    input_spec = _GridRefInputSpec
    output_spec = _FileOutputSpec

    def _run_interface(self, runtime):
        shape, affine = resources.model_grid(size=self.inputs.grid)
        path = str(Path(os.getcwd()) / "grid.nii.gz")
        nib.save(nib.Nifti1Image(np.zeros(shape, dtype=np.float32), affine), path)
        self._results["out_file"] = path
        return runtime


class _FlirtGridInputSpec(BaseInterfaceInputSpec):
    matrices = InputMultiObject(File(exists=True), mandatory=True, desc="FLIRT matrices")
    sources = InputMultiObject(File(exists=True), mandatory=True)
    references = InputMultiObject(File(exists=True), mandatory=True)
    grid = File(exists=True, mandatory=True)


class FlirtToGrid(SimpleInterface):
    """Compose FLIRT matrices into one matrix onto the grid (see :func:`flirt_to_grid`)."""

    input_spec = _FlirtGridInputSpec
    output_spec = _FileOutputSpec

    def _run_interface(self, runtime):
        chain = list(zip(self.inputs.matrices, self.inputs.sources, self.inputs.references,
                         strict=True))
        path = str(Path(os.getcwd()) / "to_grid.mat")
        np.savetxt(path, flirt_to_grid(chain=chain, grid=self.inputs.grid))
        self._results["out_file"] = path
        return runtime


def init_fsl_spatial_wf(*, has_pet: bool, grid: int, template: str | None = None,
                        acpc: str = "flirt", spm_mode: str = "matlab",
                        spm_path: str | None = None, matlab_cmd: str = "matlab",
                        name: str = "fsl_spatial_wf") -> Workflow:
    """The paper's FSL/ROBEX/SPM12 chain with the same outputnode as the ants backend.

    Args:
        acpc: ``"spm"`` (SPM12 Coregister to the template, estimate only) or ``"flirt"``
            (6-dof FLIRT, a documented substitute).
        spm_mode: ``"matlab"`` (``matlab_cmd`` with SPM12 at ``spm_path``) or
            ``"standalone"`` (``spm_path`` = run_spm12.sh, ``matlab_cmd`` = the MCR folder).
    """
    from gla_model.preprocess.workflow import SPATIAL_FIELDS

    reference = fsl_template(template=template)
    workflow = Workflow(name=name)
    inputnode = Node(IdentityInterface(fields=["t1w", "pet"]), name="inputnode")
    outputnode = Node(IdentityInterface(fields=list(SPATIAL_FIELDS)), name="outputnode")
    robex = Node(RobexSegment(), name="robex_skull_strip")
    flirt = Node(fsl.FLIRT(dof=12, reference=reference, out_matrix_file="t1w_to_mni.mat"),
                 name="flirt_to_mni")
    if acpc == "spm":
        _configure_spm(spm_mode=spm_mode, spm_path=spm_path, matlab_cmd=matlab_cmd)
        acpc_node = Node(spm.Coregister(jobtype="estimate"), name="spm_acpc")
        if reference.endswith(".gz"):  # SPM reads uncompressed NIfTI only
            gunzip = Node(Gunzip(in_file=reference), name="gunzip_template")
            workflow.connect(gunzip, "out_file", acpc_node, "target")
        else:
            acpc_node.inputs.target = reference
        workflow.connect([(inputnode, acpc_node, [("t1w", "source")]),
                          (acpc_node, robex, [("coregistered_source", "in_file")])])
    elif acpc == "flirt":
        acpc_node = Node(fsl.FLIRT(dof=6, reference=reference, out_matrix_file="acpc.mat"),
                         name="flirt_acpc")
        workflow.connect([(inputnode, acpc_node, [("t1w", "in_file")]),
                          (inputnode, robex, [("t1w", "in_file")]),
                          (acpc_node, flirt, [("out_matrix_file", "in_matrix_file")])])
    else:
        raise ValueError(f"acpc must be 'spm' or 'flirt', got {acpc!r}")
    stats = Node(fsl.ImageStats(op_string=f"-k %s -P {NORMALIZATION_PERCENTILE}"),
                 name="brain_percentile")
    divide = Node(fsl.BinaryMaths(operation="div"), name="normalize_divide")
    clip = Node(fsl.ImageMaths(op_string="-thr 0 -min 1"), name="normalize_clip")
    fast = Node(fsl.FAST(number_classes=3, img_type=1), name="fast_segmentation")
    grid_ref = Node(GridReference(grid=grid), name="grid_reference")
    t1_matrix = Node(FlirtToGrid(references=[reference]), name="t1w_grid_matrix")
    workflow.connect([
        (robex, stats, [("out_file", "in_file"), ("out_mask", "mask_file")]),
        (robex, divide, [("out_file", "in_file")]),
        (stats, divide, [("out_stat", "operand_value")]),
        (divide, clip, [("out_file", "in_file")]),
        (robex, flirt, [("out_file", "in_file")]),
        (robex, fast, [("out_file", "in_files")]),
        (flirt, t1_matrix, [("out_matrix_file", "matrices")]),
        (robex, t1_matrix, [("out_file", "sources")]),
        (grid_ref, t1_matrix, [("out_file", "grid")]),
        (robex, outputnode, [("out_mask", "native_mask")]),
    ])
    to_grid = {"t1w": (clip, "out_file"), "mask": (robex, "out_mask"),
               "csf": (fast, ("partial_volume_files", _pve_csf)),
               "gm": (fast, ("partial_volume_files", _pve_gm)),
               "wm": (fast, ("partial_volume_files", _pve_wm))}
    for field, (node, output) in to_grid.items():
        interp = "nearestneighbour" if field == "mask" else "trilinear"
        apply = Node(fsl.ApplyXFM(apply_xfm=True, interp=interp), name=f"{field}_to_grid")
        workflow.connect([(node, apply, [(output, "in_file")]),
                          (t1_matrix, apply, [("out_file", "in_matrix_file")]),
                          (grid_ref, apply, [("out_file", "reference")]),
                          (apply, outputnode, [("out_file", field)])])
    if has_pet:
        pet_flirt = Node(fsl.FLIRT(dof=6, cost="mutualinfo", out_matrix_file="pet_to_t1w.mat"),
                         name="pet_to_t1w")
        matrices = Node(Merge(2), name="pet_chain_matrices")
        sources = Node(Merge(2), name="pet_chain_sources")
        references = Node(Merge(2, in2=reference), name="pet_chain_references")
        pet_matrix = Node(FlirtToGrid(), name="pet_grid_matrix")
        pet_apply = Node(fsl.ApplyXFM(apply_xfm=True, interp="trilinear"), name="pet_to_grid")
        workflow.connect([
            (inputnode, pet_flirt, [("pet", "in_file")]),
            (robex, pet_flirt, [("out_file", "reference")]),
            (pet_flirt, matrices, [("out_matrix_file", "in1")]),
            (flirt, matrices, [("out_matrix_file", "in2")]),
            (inputnode, sources, [("pet", "in1")]),
            (robex, sources, [("out_file", "in2")]),
            (robex, references, [("out_file", "in1")]),
            (matrices, pet_matrix, [("out", "matrices")]),
            (sources, pet_matrix, [("out", "sources")]),
            (references, pet_matrix, [("out", "references")]),
            (grid_ref, pet_matrix, [("out_file", "grid")]),
            (inputnode, pet_apply, [("pet", "in_file")]),
            (pet_matrix, pet_apply, [("out_file", "in_matrix_file")]),
            (grid_ref, pet_apply, [("out_file", "reference")]),
            (pet_apply, outputnode, [("out_file", "pet")]),
        ])
    return workflow


def _configure_spm(*, spm_mode: str, spm_path: str | None, matlab_cmd: str) -> None:
    """Point nipype's SPM interfaces at MATLAB + SPM12 or at the standalone SPM12."""
    if spm_mode == "standalone":
        spm.SPMCommand.set_mlab_paths(matlab_cmd=f"{spm_path} {matlab_cmd} script",
                                      use_mcr=True)
    elif spm_mode == "matlab":
        spm.SPMCommand.set_mlab_paths(matlab_cmd=matlab_cmd,
                                      paths=spm_path, use_mcr=False)
    else:
        raise ValueError(f"spm_mode must be 'matlab' or 'standalone', got {spm_mode!r}")


def _pve_csf(files):
    return files[0]


def _pve_gm(files):
    return files[1]


def _pve_wm(files):
    return files[2]
