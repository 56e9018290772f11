"""Names and storage types of one subject's preprocessing outputs (light: no ANTs import)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np

IMAGE_FIELDS = ("t1w", "pet", "gm", "wm", "csf", "mask")


def output_names(*, participant_id: str, has_pet: bool) -> dict[str, str]:
    """Workflow output field -> file name in the subject's output folder."""
    prefix = f"sub-{participant_id}"
    names = {
        "t1w": f"{prefix}_space-MNI_desc-preproc_T1w.nii.gz",
        "gm": f"{prefix}_space-MNI_label-GM_probseg.nii.gz",
        "wm": f"{prefix}_space-MNI_label-WM_probseg.nii.gz",
        "csf": f"{prefix}_space-MNI_label-CSF_probseg.nii.gz",
        "mask": f"{prefix}_space-MNI_desc-brain_mask.nii.gz",
        "qc_figure": f"{prefix}_desc-qc.png",
        "qc_table": f"{prefix}_desc-qc.tsv",
    }
    if has_pet:
        names["pet"] = f"{prefix}_space-MNI_desc-preproc_pet.nii.gz"
    return names


def export_output(*, source: Path | str, target: Path | str, field: str,
                  brain_mask: np.ndarray | None = None) -> None:
    """Copy one output to ``target``: masks as uint8 0/1, other images float32 in [0, 1]
    with MNI (code 4) qform/sform; the T1w and PET are set to 0 outside ``brain_mask``
    (the grid mask); figures and tables are copied as they are."""
    if field not in IMAGE_FIELDS:
        shutil.copyfile(source, target)
        return
    image = nib.load(source)
    data = image.get_fdata(dtype=np.float32)
    if field == "mask":
        out = nib.Nifti1Image((data > 0.5).astype(np.uint8), image.affine)
    else:
        if field in ("t1w", "pet") and brain_mask is not None:
            data = data * (brain_mask > 0)
        out = nib.Nifti1Image(np.clip(data, 0.0, 1.0).astype(np.float32), image.affine)
    out.header.set_xyzt_units("mm")
    out.set_qform(image.affine, code=4)
    out.set_sform(image.affine, code=4)
    nib.save(out, target)
