"""nipype interfaces: thin wrappers that read files, call a pure function, write files.

Images pass between nodes as uncompressed NIfTI in the node folders; transforms as
4x4 text matrices (RAS pull maps, see :mod:`gla_model.preprocess.spatial`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    traits,
)
from scipy import ndimage

from gla_model import resources
from gla_model.preprocess import inputs, outputs, qc, steps
from gla_model.preprocess import pet as pet_norm
from gla_model.preprocess.spatial import resample, voxel_size_mm


def _save(data: np.ndarray, affine: np.ndarray, name: str) -> str:
    path = str(Path(os.getcwd()) / name)
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), path)
    return path


def _save_matrix(matrix: np.ndarray, name: str) -> str:
    path = str(Path(os.getcwd()) / name)
    np.savetxt(path, matrix)
    return path


def _load(path: str) -> nib.Nifti1Image:
    image = nib.load(path)
    return nib.Nifti1Image(image.get_fdata(dtype=np.float32), image.affine)


def _template(path: str | None) -> nib.Nifti1Image:
    return resources.mni_template(path=path or None, resolution_mm=1)


class _LoadInputSpec(BaseInterfaceInputSpec):
    participant_id = traits.Str(mandatory=True)
    t1w = File(exists=True, mandatory=True)
    pet = File(exists=True)


class _LoadOutputSpec(TraitedSpec):
    t1w = File(exists=True)
    pet = File()


class LoadInputs(SimpleInterface):
    """Validate the inputs, reorient to RAS, average PET frames (see :mod:`.inputs`)."""

    input_spec = _LoadInputSpec
    output_spec = _LoadOutputSpec

    def _run_interface(self, runtime):
        t1w = inputs.load_t1w(path=self.inputs.t1w, participant_id=self.inputs.participant_id)
        self._results["t1w"] = _save(t1w.dataobj, t1w.affine, "t1w.nii")
        if self.inputs.pet:
            image = inputs.load_pet(path=self.inputs.pet, participant_id=self.inputs.participant_id)
            self._results["pet"] = _save(image.dataobj, image.affine, "pet.nii")
        return runtime


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
    """Rigid or affine registration (see :func:`.steps.register_affine`)."""

    input_spec = _RegisterInputSpec
    output_spec = _RegisterOutputSpec

    def _run_interface(self, runtime):
        moving = _load(self.inputs.moving)
        if self.inputs.moving_mask:
            mask = np.asarray(nib.load(self.inputs.moving_mask).dataobj) > 0
            moving = nib.Nifti1Image(moving.get_fdata(dtype=np.float32) * mask, moving.affine)
        if self.inputs.fixed:
            fixed = _load(self.inputs.fixed)
            fixed_mask = _load(self.inputs.fixed_mask) if self.inputs.fixed_mask else None
        else:
            fixed = _template(self.inputs.template)
            fixed_mask = resources.mni_brain_mask(resolution_mm=1)
        initial = np.loadtxt(self.inputs.initial) if self.inputs.initial else None
        matrix = steps.register_affine(
            fixed=fixed, moving=moving, kind=self.inputs.kind, spacing_mm=self.inputs.spacing_mm,
            initial=initial, fixed_mask=fixed_mask,
            fixed_mask_dilation_mm=self.inputs.fixed_mask_dilation_mm,
            sampling_rate=self.inputs.sampling_rate)
        self._results["matrix"] = _save_matrix(matrix, "pull.txt")
        return runtime


class _RoughInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, mandatory=True)
    margin_mm = traits.Float(3.0, usedefault=True, desc="dilation of the rough mask")


class _RoughOutputSpec(TraitedSpec):
    brain = File(exists=True, desc="T1w times the dilated rough mask")


class RoughSkullStrip(SimpleInterface):
    """Template-free rough skull strip for registration (see :func:`.steps.rough_brain`)."""

    input_spec = _RoughInputSpec
    output_spec = _RoughOutputSpec

    def _run_interface(self, runtime):
        t1w = _load(self.inputs.t1w)
        data = t1w.get_fdata(dtype=np.float32)
        voxel_mm = voxel_size_mm(t1w.affine)
        mask = steps.rough_brain(t1=data, voxel_mm=voxel_mm)
        mask = ndimage.binary_dilation(mask, iterations=max(1, round(self.inputs.margin_mm
                                                                     / voxel_mm)))
        self._results["brain"] = _save(data * mask, t1w.affine, "t1w_rough_brain.nii")
        return runtime


class _BrainInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, mandatory=True)
    mni_to_native = File(exists=True, mandatory=True)


class _BrainOutputSpec(TraitedSpec):
    mask = File(exists=True)


class BrainExtraction(SimpleInterface):
    """Template brain mask brought to native space, refined (see :func:`.steps.extract_brain`)."""

    input_spec = _BrainInputSpec
    output_spec = _BrainOutputSpec

    def _run_interface(self, runtime):
        t1w = _load(self.inputs.t1w)
        template_mask = steps.pull_to_native(
            image=resources.mni_brain_mask(resolution_mm=1), native=t1w,
            mni_to_native=np.loadtxt(self.inputs.mni_to_native))
        mask = steps.extract_brain(t1=t1w.get_fdata(dtype=np.float32),
                                   template_mask=template_mask,
                                   voxel_mm=voxel_size_mm(t1w.affine))
        self._results["mask"] = _save(mask, t1w.affine, "brain_mask.nii")
        return runtime


class _BiasInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, mandatory=True)
    mask = File(exists=True, mandatory=True)


class _BiasOutputSpec(TraitedSpec):
    corrected = File(exists=True)
    normalized = File(exists=True, desc="skull-stripped, in [0, 1]")


class BiasCorrection(SimpleInterface):
    """N4 inside the brain mask, then intensity normalization (see :mod:`.steps`)."""

    input_spec = _BiasInputSpec
    output_spec = _BiasOutputSpec

    def _run_interface(self, runtime):
        t1w = _load(self.inputs.t1w)
        mask = np.asarray(nib.load(self.inputs.mask).dataobj) > 0
        corrected = steps.correct_bias(t1=t1w, mask=mask)
        data = corrected.get_fdata(dtype=np.float32)
        self._results["corrected"] = _save(data, t1w.affine, "t1w_n4.nii")
        self._results["normalized"] = _save(steps.normalize_t1(t1=data, mask=mask), t1w.affine,
                                            "t1w_norm.nii")
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
    """GM/WM/CSF by a Gaussian mixture with MNI priors (see :func:`.steps.segment_tissues`)."""

    input_spec = _SegmentInputSpec
    output_spec = _SegmentOutputSpec

    def _run_interface(self, runtime):
        t1w = _load(self.inputs.t1w)
        mask = np.asarray(nib.load(self.inputs.mask).dataobj) > 0
        matrix = np.loadtxt(self.inputs.mni_to_native)
        priors = steps.priors_in_native(priors=resources.tissue_priors(resolution_mm=1),
                                        native=t1w, mask=mask, mni_to_native=matrix)
        tissues = steps.segment_tissues(t1=t1w.get_fdata(dtype=np.float32), mask=mask,
                                        priors=priors)
        for name, data in tissues.items():
            self._results[name.lower()] = _save(data, t1w.affine, f"{name}_probseg.nii")
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
    """Image onto the model grid in one resampling of the composed maps (anti-aliased)."""

    input_spec = _GridInputSpec
    output_spec = _GridOutputSpec

    def _run_interface(self, runtime):
        image = _load(self.inputs.in_file)
        pull = np.loadtxt(self.inputs.mni_to_source)
        if self.inputs.source_to_image:
            pull = np.loadtxt(self.inputs.source_to_image) @ pull
        shape, affine = resources.model_grid(size=self.inputs.grid)
        data = resample(image=image, shape=shape, affine=affine, pull=pull, order=1,
                        smooth_to_mm=voxel_size_mm(affine))
        if self.inputs.binarize:
            data = (data >= 0.5).astype(np.float32)
        self._results["out_file"] = _save(data, affine, self.inputs.out_name)
        return runtime


class _SuvrInputSpec(BaseInterfaceInputSpec):
    pet = File(exists=True, mandatory=True, desc="PET on the grid, input units")
    gm = File(exists=True, mandatory=True)
    mask = File(exists=True, mandatory=True)
    reference_region = traits.Enum(*pet_norm.REFERENCE_REGIONS, usedefault=True)
    atlas = traits.Str("", usedefault=True)
    atlas_labels = traits.Str("", usedefault=True)


class _SuvrOutputSpec(TraitedSpec):
    out_file = File(exists=True)
    metrics = File(exists=True)


class PetSuvr(SimpleInterface):
    """SUVR in the reference region, then SUVR / 2.5 clipped to [0, 1] (see :mod:`.pet`)."""

    input_spec = _SuvrInputSpec
    output_spec = _SuvrOutputSpec

    def _run_interface(self, runtime):
        from gla_model.preprocess.atlas import resample_atlas

        image = _load(self.inputs.pet)
        gm, mask = (_load(path).get_fdata() for path in (self.inputs.gm, self.inputs.mask))
        atlas = resources.aal_atlas(path=self.inputs.atlas or None,
                                    labels_path=self.inputs.atlas_labels or None)
        labels = resample_atlas(size=image.shape[0], atlas=atlas)
        reference = pet_norm.reference_mask(
            region=self.inputs.reference_region, affine=image.affine,
            atlas=np.asarray(labels.dataobj), labels=atlas.labels, gm=gm, brain_mask=mask)
        ratio, mean = pet_norm.suvr(pet=image.get_fdata(dtype=np.float32), reference=reference)
        scaled, clipped = pet_norm.scale_suvr(suvr_image=ratio, brain_mask=mask)
        self._results["out_file"] = _save(scaled, image.affine, "pet_suvr_scaled.nii")
        metrics = {"pet_reference_mean": mean, "pet_reference_voxels": int(reference.sum()),
                   "pet_clipped_fraction": clipped}
        self._results["metrics"] = str(Path(os.getcwd()) / "pet_metrics.json")
        Path(self._results["metrics"]).write_text(json.dumps(metrics))
        return runtime


class _QcInputSpec(BaseInterfaceInputSpec):
    participant_id = traits.Str(mandatory=True)
    backend = traits.Str(mandatory=True)
    template = traits.Str("", usedefault=True)
    t1w = File(exists=True, mandatory=True, desc="T1w on the grid")
    gm = File(exists=True, mandatory=True)
    wm = File(exists=True, mandatory=True)
    mask = File(exists=True, mandatory=True)
    native_mask = File(exists=True, mandatory=True)
    pet = File(exists=True)
    pet_metrics = File(exists=True)


class _QcOutputSpec(TraitedSpec):
    figure = File(exists=True)
    table = File(exists=True)


class QualityControl(SimpleInterface):
    """The QC figure and one-row table (see :mod:`.qc`)."""

    input_spec = _QcInputSpec
    output_spec = _QcOutputSpec

    def _run_interface(self, runtime):
        t1w = _load(self.inputs.t1w)
        gm, wm, mask = (_load(p).get_fdata() for p in (self.inputs.gm, self.inputs.wm,
                                                        self.inputs.mask))
        template = resample(image=_template(self.inputs.template), shape=t1w.shape,
                            affine=t1w.affine, pull=np.eye(4), order=1)
        template /= max(float(template.max()), 1e-6)
        native_mask = nib.load(self.inputs.native_mask)
        voxel_ml = abs(np.linalg.det(native_mask.affine[:3, :3])) / 1000.0
        brain = mask > 0
        metrics = {
            "t1w_template_ncc": qc.ncc(a=t1w.get_fdata(), b=template, mask=template > 0.05),
            "brain_volume_ml": float((np.asarray(native_mask.dataobj) > 0).sum() * voxel_ml),
            "gm_fraction": float(gm[brain].sum() / max(brain.sum(), 1)),
            "wm_fraction": float(wm[brain].sum() / max(brain.sum(), 1)),
        }
        pet_data = None
        if self.inputs.pet:
            pet_data = _load(self.inputs.pet).get_fdata()
            metrics["pet_t1w_ncc"] = qc.ncc(a=pet_data, b=gm, mask=brain)
            metrics.update(json.loads(Path(self.inputs.pet_metrics).read_text()))
        row = qc.qc_row(participant_id=self.inputs.participant_id, backend=self.inputs.backend,
                        metrics=metrics)
        self._results["table"] = str(Path(os.getcwd()) / "qc.tsv")
        Path(self._results["table"]).write_text(pd.DataFrame([row]).to_csv(sep="\t",
                                                                            index=False))
        self._results["figure"] = str(Path(os.getcwd()) / "qc.png")
        qc.qc_figure(path=self._results["figure"], participant_id=self.inputs.participant_id,
                     t1w=t1w.get_fdata(), gm=gm, template=template, pet=pet_data)
        return runtime


class _ExportInputSpec(BaseInterfaceInputSpec):
    participant_id = traits.Str(mandatory=True)
    out_dir = traits.Str(mandatory=True, desc="folder to write (the staging folder)")
    t1w = File(exists=True, mandatory=True)
    gm = File(exists=True, mandatory=True)
    wm = File(exists=True, mandatory=True)
    csf = File(exists=True, mandatory=True)
    mask = File(exists=True, mandatory=True)
    qc_figure = File(exists=True, mandatory=True)
    qc_table = File(exists=True, mandatory=True)
    pet = File(exists=True)


class _ExportOutputSpec(TraitedSpec):
    out_dir = traits.Str()


class ExportOutputs(SimpleInterface):
    """Write the outputs under their final names and types (see :mod:`.outputs`)."""

    input_spec = _ExportInputSpec
    output_spec = _ExportOutputSpec

    def _run_interface(self, runtime):
        names = outputs.output_names(participant_id=self.inputs.participant_id,
                                     has_pet=bool(self.inputs.pet))
        folder = Path(self.inputs.out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        brain_mask = np.asarray(nib.load(self.inputs.mask).dataobj)
        for field, name in names.items():
            outputs.export_output(source=getattr(self.inputs, field), target=folder / name,
                                  field=field, brain_mask=brain_mask)
        self._results["out_dir"] = str(folder)
        return runtime
