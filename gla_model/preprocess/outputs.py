"""The fields of the preprocessing workflows and how each output is stored (light: no
nipype, no ANTs, so both backends and the tests import it without a cycle).

The fields of the subject workflow's ``outputnode`` are the preprocessed files of
:mod:`gla_model.layout` (:data:`~gla_model.layout.PREPROCESSED_FIELDS`, named by
:func:`~gla_model.layout.preprocessed_names`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import nibabel as nib
import numpy as np

from gla_model import layout
from gla_model.niftiio import write_text_atomic
from gla_model.preprocess.xfm import read_xfm, write_xfm

#: ``outputnode`` of a backend's spatial workflow (``init_ants_wf``, ``init_fsl_wf``): the
#: images on the model grid, with the PET in its input units, the native brain mask, and
#: ``xfm``, the MNI -> native T1w RAS affine (see :mod:`gla_model.preprocess.xfm`).
SPATIAL_FIELDS = ("t1w", "gm", "wm", "csf", "mask", "native_mask", "xfm", "pet")


def export_output(*, source: Path | str, target: Path | str, field: str,
                  brain_mask: np.ndarray | None = None) -> None:
    """Copy one output to ``target``: masks as uint8 0/1, other images float32 in [0, 1]
    with MNI (code 4) qform/sform; the T1w and PET are set to 0 outside ``brain_mask``
    (the grid mask); the transform is checked and rewritten; figures and tables are copied
    as they are."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    if field == "xfm":
        write_xfm(read_xfm(path=source), path=target)
        return
    if field not in layout.PREPROCESSED_IMAGES:
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


def export_outputs(*, participant_id: str, sources: Mapping[str, Path | str],
                   out_dir: Path | str, sidecars: Mapping[str, Mapping]) -> dict[str, Path]:
    """Write every output of ``sources`` (field -> workflow file) into ``out_dir`` under
    its final name (see :func:`export_output`), and each image's JSON sidecar from
    ``sidecars`` (field -> metadata, :func:`gla_model.preprocess.sidecars.subject_sidecars`);
    a ``pet`` source makes a paired subject. Returns field -> written file."""
    names = layout.preprocessed_names(participant_id=participant_id,
                                      has_pet=bool(sources.get("pet")))
    missing = [field for field in names if not sources.get(field)]
    if missing:
        raise ValueError(f"sub-{participant_id}: no workflow file for outputs {missing}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    brain_mask = np.asarray(nib.load(sources["mask"]).dataobj)
    for field, name in names.items():
        export_output(source=sources[field], target=folder / name, field=field,
                      brain_mask=brain_mask)
    sidecar_names = layout.sidecar_names(participant_id=participant_id,
                                         has_pet=bool(sources.get("pet")))
    missing = sorted(set(sidecar_names) - set(sidecars))
    if missing:
        raise ValueError(f"sub-{participant_id}: no sidecar metadata for outputs {missing}")
    for field, name in sidecar_names.items():
        write_text_atomic(json.dumps(sidecars[field], indent=2) + "\n", folder / name)
    return {field: folder / name for field, name in names.items()}
