"""The nodes both backends share: loading the inputs, PET SUVR, QC and the export."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import pandas as pd
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from gla_model import layout, resources
from gla_model.preprocess import inputs, outputs, qc
from gla_model.preprocess import pet as pet_norm
from gla_model.preprocess.interfaces.files import load_image, save_image
from gla_model.preprocess.sidecars import subject_sidecars


class _LoadInputSpec(BaseInterfaceInputSpec):
    participant_id = traits.Str(mandatory=True)
    t1w = File(exists=True, mandatory=True)
    pet = File(exists=True)
    pet_window_min = traits.List(traits.Float, [], usedefault=True,
                                 desc="[start, end] minutes after injection; [] = all frames")


class _LoadOutputSpec(TraitedSpec):
    t1w = File(exists=True)
    pet = File()
    pet_frames = File(desc="JSON: the frames averaged and their weights")


class LoadInputs(SimpleInterface):
    """Validate the inputs, reorient to RAS, average PET frames (see :mod:`.inputs`)."""

    input_spec = _LoadInputSpec
    output_spec = _LoadOutputSpec

    def _run_interface(self, runtime):
        participant_id = self.inputs.participant_id
        t1w = inputs.load_t1w(path=self.inputs.t1w, participant_id=participant_id)
        self._results["t1w"] = save_image(t1w.dataobj, t1w.affine, folder=runtime.cwd,
                                          name="t1w.nii")
        if self.inputs.pet:
            image, frames = inputs.load_pet(path=self.inputs.pet, participant_id=participant_id,
                                            window_min=self.inputs.pet_window_min or None)
            self._results["pet"] = save_image(image.dataobj, image.affine, folder=runtime.cwd,
                                              name="pet.nii")
            self._results["pet_frames"] = str(Path(runtime.cwd) / "pet_frames.json")
            Path(self._results["pet_frames"]).write_text(json.dumps(frames.as_dict()))
        return runtime


class _SuvrInputSpec(BaseInterfaceInputSpec):
    pet = File(exists=True, mandatory=True, desc="PET on the grid, input units")
    gm = File(exists=True, mandatory=True)
    mask = File(exists=True, mandatory=True)
    reference_region = traits.Enum(*pet_norm.REFERENCE_REGIONS, mandatory=True)
    atlas = traits.Str("", usedefault=True, desc="AAL image ('' = bundled)")
    atlas_labels = traits.Str("", usedefault=True, desc="labels of atlas ('' = bundled)")


class _SuvrOutputSpec(TraitedSpec):
    out_file = File(exists=True)
    metrics = File(exists=True)


class PetSuvr(SimpleInterface):
    """The scaled SUVR and its metrics (JSON) (see :func:`.pet.normalize_pet`)."""

    input_spec = _SuvrInputSpec
    output_spec = _SuvrOutputSpec

    def _run_interface(self, runtime):
        image = load_image(self.inputs.pet)
        gm, mask = (load_image(path).get_fdata() for path in (self.inputs.gm, self.inputs.mask))
        atlas = resources.aal_atlas(path=self.inputs.atlas or None,
                                    labels_path=self.inputs.atlas_labels or None)
        scaled, metrics = pet_norm.normalize_pet(pet=image, gm=gm, brain_mask=mask,
                                                 region=self.inputs.reference_region, atlas=atlas)
        self._results["out_file"] = save_image(scaled, image.affine, folder=runtime.cwd,
                                               name="pet_suvr_scaled.nii")
        self._results["metrics"] = str(Path(runtime.cwd) / "pet_metrics.json")
        Path(self._results["metrics"]).write_text(json.dumps(metrics))
        return runtime


class _QcInputSpec(BaseInterfaceInputSpec):
    participant_id = traits.Str(mandatory=True)
    backend = traits.Str(mandatory=True)
    template = traits.Str("", usedefault=True, desc="T1 template ('' = bundled MNI152)")
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
    """The QC figure and one-row table (see :func:`.qc.quality_control`)."""

    input_spec = _QcInputSpec
    output_spec = _QcOutputSpec

    def _run_interface(self, runtime):
        gm, wm, mask = (load_image(path).get_fdata() for path in (self.inputs.gm, self.inputs.wm,
                                                                  self.inputs.mask))
        paired = bool(self.inputs.pet)
        figure = str(Path(runtime.cwd) / "qc.png")
        row = qc.quality_control(
            participant_id=self.inputs.participant_id, backend=self.inputs.backend,
            t1w=load_image(self.inputs.t1w), gm=gm, wm=wm, mask=mask,
            native_mask=nib.load(self.inputs.native_mask),
            template=resources.mni_template(path=self.inputs.template or None,
                                            resolution_mm=1),
            pet=load_image(self.inputs.pet).get_fdata() if paired else None,
            pet_metrics=(json.loads(Path(self.inputs.pet_metrics).read_text())
                         if paired else None),
            figure=figure)
        self._results["table"] = str(Path(runtime.cwd) / "qc.tsv")
        Path(self._results["table"]).write_text(pd.DataFrame([row]).to_csv(sep="\t",
                                                                            index=False))
        self._results["figure"] = figure
        return runtime


class _ExportInputSpec(BaseInterfaceInputSpec):
    participant_id = traits.Str(mandatory=True)
    out_dir = traits.Str(mandatory=True, desc="folder to write (the staging folder)")
    t1w_source = traits.Str(mandatory=True, desc="the input T1w (for the sidecars' Sources)")
    pet_source = traits.Str("", usedefault=True, desc="the input PET ('' = MRI-only)")
    backend = traits.Str(mandatory=True)
    grid = traits.Int(mandatory=True)
    reference_region = traits.Str(mandatory=True)
    t1w = File(exists=True, mandatory=True)
    gm = File(exists=True, mandatory=True)
    wm = File(exists=True, mandatory=True)
    csf = File(exists=True, mandatory=True)
    mask = File(exists=True, mandatory=True)
    xfm = File(exists=True, mandatory=True, desc="MNI -> native T1w RAS affine")
    qc_figure = File(exists=True, mandatory=True)
    qc_table = File(exists=True, mandatory=True)
    pet = File(exists=True)
    pet_frames = File(exists=True, desc="JSON of LoadInputs: the frames averaged")


class _ExportOutputSpec(TraitedSpec):
    out_dir = traits.Str()


class ExportOutputs(SimpleInterface):
    """Write the outputs under their final names and types, with their JSON sidecars (see
    :func:`.outputs.export_outputs`); it writes to ``out_dir``, not the node folder."""

    input_spec = _ExportInputSpec
    output_spec = _ExportOutputSpec

    def _run_interface(self, runtime):
        paired = bool(self.inputs.pet)
        sources = {field: getattr(self.inputs, field)
                   for field in layout.PREPROCESSED_FIELDS if field != "pet" or paired}
        frames = (json.loads(Path(self.inputs.pet_frames).read_text())
                  if self.inputs.pet_frames else None)
        sidecars = subject_sidecars(
            participant_id=self.inputs.participant_id, t1w_source=self.inputs.t1w_source,
            pet_source=self.inputs.pet_source or None, backend=self.inputs.backend,
            grid=self.inputs.grid, reference_region=self.inputs.reference_region,
            suvr_scale=pet_norm.SUVR_SCALE, pet_frames=frames)
        outputs.export_outputs(participant_id=self.inputs.participant_id, sources=sources,
                               out_dir=self.inputs.out_dir, sidecars=sidecars)
        self._results["out_dir"] = str(Path(self.inputs.out_dir))
        return runtime
