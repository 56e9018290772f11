"""The ants backend's nodes, each a wrapper of one step of :mod:`gla_model.preprocess.steps`."""

from __future__ import annotations

import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from gla_model.preprocess import steps
from gla_model.preprocess.interfaces.files import load_image, load_mask, save_image, save_matrix


class _RegisterInputSpec(BaseInterfaceInputSpec):
    moving = File(exists=True, mandatory=True)
    moving_mask = File(exists=True, desc="multiply the moving image by this mask first")
    fixed = File(exists=True, desc="fixed image (default: the MNI template)")
    fixed_mask = File(exists=True, desc="metric mask on fixed (default: MNI brain mask if the "
                      "fixed image is the template)")
    template = traits.Str("", usedefault=True, desc="template path ('' = bundled MNI152)")
    initial = File(exists=True, desc="initial pull map (4x4 text)")
    kind = traits.Enum("Rigid", "Affine", mandatory=True)
    spacing_mm = traits.Float(3.0, usedefault=True)
    fixed_mask_dilation_mm = traits.Float(6.0, usedefault=True)
    sampling_rate = traits.Float(0.2, usedefault=True, desc="metric's random sampling rate")


class _RegisterOutputSpec(TraitedSpec):
    matrix = File(exists=True, desc="pull map fixed -> moving (4x4 text)")


class Register(SimpleInterface):
    """Rigid or affine registration (see :func:`.steps.register`)."""

    input_spec = _RegisterInputSpec
    output_spec = _RegisterOutputSpec

    def _run_interface(self, runtime):
        inputs = self.inputs
        matrix = steps.register(
            moving=load_image(inputs.moving), kind=inputs.kind, spacing_mm=inputs.spacing_mm,
            fixed=load_image(inputs.fixed) if inputs.fixed else None,
            fixed_mask=load_image(inputs.fixed_mask) if inputs.fixed_mask else None,
            template=inputs.template,
            moving_mask=load_mask(inputs.moving_mask) if inputs.moving_mask else None,
            initial=np.loadtxt(inputs.initial) if inputs.initial else None,
            fixed_mask_dilation_mm=inputs.fixed_mask_dilation_mm,
            sampling_rate=inputs.sampling_rate)
        self._results["matrix"] = save_matrix(matrix, folder=runtime.cwd, name="pull.txt")
        return runtime


class _RoughInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, mandatory=True)
    margin_mm = traits.Float(3.0, usedefault=True, desc="dilation of the rough mask")


class _RoughOutputSpec(TraitedSpec):
    brain = File(exists=True, desc="T1w times the dilated rough mask")


class RoughSkullStrip(SimpleInterface):
    """Template-free rough skull strip for registration (see :func:`.steps.rough_skull_strip`)."""

    input_spec = _RoughInputSpec
    output_spec = _RoughOutputSpec

    def _run_interface(self, runtime):
        t1w = load_image(self.inputs.t1w)
        brain = steps.rough_skull_strip(t1w=t1w, margin_mm=self.inputs.margin_mm)
        self._results["brain"] = save_image(brain, t1w.affine, folder=runtime.cwd,
                                            name="t1w_rough_brain.nii")
        return runtime


class _BrainInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, mandatory=True)
    mni_to_native = File(exists=True, mandatory=True)


class _BrainOutputSpec(TraitedSpec):
    mask = File(exists=True)


class BrainExtraction(SimpleInterface):
    """Template brain mask brought to native space, refined (see :func:`.steps.brain_mask`)."""

    input_spec = _BrainInputSpec
    output_spec = _BrainOutputSpec

    def _run_interface(self, runtime):
        t1w = load_image(self.inputs.t1w)
        mask = steps.brain_mask(t1w=t1w, mni_to_native=np.loadtxt(self.inputs.mni_to_native))
        self._results["mask"] = save_image(mask, t1w.affine, folder=runtime.cwd,
                                           name="brain_mask.nii")
        return runtime


class _BiasInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, mandatory=True)
    mask = File(exists=True, mandatory=True)


class _BiasOutputSpec(TraitedSpec):
    corrected = File(exists=True)
    normalized = File(exists=True, desc="skull-stripped, in [0, 1]")


class BiasCorrection(SimpleInterface):
    """N4 inside the brain mask, then intensity normalization (see
    :func:`.steps.bias_correct`)."""

    input_spec = _BiasInputSpec
    output_spec = _BiasOutputSpec

    def _run_interface(self, runtime):
        t1w = load_image(self.inputs.t1w)
        corrected, normalized = steps.bias_correct(t1w=t1w, mask=load_mask(self.inputs.mask))
        self._results["corrected"] = save_image(corrected, t1w.affine, folder=runtime.cwd,
                                                name="t1w_n4.nii")
        self._results["normalized"] = save_image(normalized, t1w.affine, folder=runtime.cwd,
                                                 name="t1w_norm.nii")
        return runtime


class _SegmentInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, mandatory=True)
    mask = File(exists=True, mandatory=True)
    mni_to_native = File(exists=True, mandatory=True)


class _SegmentOutputSpec(TraitedSpec):
    gm = File(exists=True)
    wm = File(exists=True)
    csf = File(exists=True)


class SegmentTissues(SimpleInterface):
    """GM/WM/CSF by a Gaussian mixture with MNI priors (see :func:`.steps.segment`)."""

    input_spec = _SegmentInputSpec
    output_spec = _SegmentOutputSpec

    def _run_interface(self, runtime):
        t1w = load_image(self.inputs.t1w)
        tissues = steps.segment(t1w=t1w, mask=load_mask(self.inputs.mask),
                                mni_to_native=np.loadtxt(self.inputs.mni_to_native))
        for name, data in tissues.items():
            self._results[name.lower()] = save_image(data, t1w.affine, folder=runtime.cwd,
                                                     name=f"{name}_probseg.nii")
        return runtime


class _GridInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True)
    mni_to_source = File(exists=True, mandatory=True, desc="pull map MNI -> the image")
    source_to_image = File(exists=True, desc="a pull map applied after mni_to_source")
    grid = traits.Int(mandatory=True)
    binarize = traits.Bool(False, usedefault=True, desc="threshold at 0.5 (masks)")
    out_name = traits.Str(mandatory=True)


class _GridOutputSpec(TraitedSpec):
    out_file = File(exists=True)


class ResampleToGrid(SimpleInterface):
    """Image onto the model grid in one resampling of the composed maps (see
    :func:`.steps.to_model_grid`)."""

    input_spec = _GridInputSpec
    output_spec = _GridOutputSpec

    def _run_interface(self, runtime):
        pull = np.loadtxt(self.inputs.mni_to_source)
        if self.inputs.source_to_image:
            pull = np.loadtxt(self.inputs.source_to_image) @ pull
        image = steps.to_model_grid(image=load_image(self.inputs.in_file), pull=pull,
                                    size=self.inputs.grid, binarize=self.inputs.binarize)
        self._results["out_file"] = save_image(image.dataobj, image.affine, folder=runtime.cwd,
                                               name=self.inputs.out_name)
        return runtime
