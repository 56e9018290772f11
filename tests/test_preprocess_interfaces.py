"""The nipype interfaces run on their own: each writes under its runtime.cwd and gives the
result of the pure function it wraps."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import gla_model.preprocess.interfaces
from gla_model import resources
from gla_model.layout import preprocessed_names, sidecar_names
from gla_model.preprocess import pet, qc, steps
from gla_model.preprocess.atlas import resample_atlas
from gla_model.preprocess.interfaces.ants import ResampleToGrid, RoughSkullStrip
from gla_model.preprocess.interfaces.common import (
    ExportOutputs,
    LoadInputs,
    PetSuvr,
    QualityControl,
)
from gla_model.preprocess.interfaces.fsl import GridReference
from gla_model.preprocess.spatial import resample


def _save(path, data, affine):
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), path)
    return str(path)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Files of a subject on the 32^3 grid: PET (4 in the brain, 2 in the cerebellum),
    GM = WM = mask = the AAL brain, the template as T1w, and a native mask."""
    folder = tmp_path_factory.mktemp("grid")
    atlas = resources.aal_atlas()
    labels = np.asarray(resample_atlas(size=32, atlas=atlas).dataobj)
    shape, affine = resources.model_grid(size=32)
    brain = labels > 0
    cerebellar = [i for i, name in atlas.labels.items()
                  if name.startswith(pet.CEREBELLUM_PREFIXES)]
    pet_data = np.where(brain, 4.0, 0.0)
    pet_data[np.isin(labels, cerebellar)] = 2.0
    template = resources.mni_template(resolution_mm=1)
    t1w = resample(image=template, shape=shape, affine=affine, pull=np.eye(4))
    return {"pet": _save(folder / "pet.nii", pet_data, affine),
            "gm": _save(folder / "gm.nii", brain, affine),
            "wm": _save(folder / "wm.nii", brain * 0.5, affine),
            "csf": _save(folder / "csf.nii", brain * 0.1, affine),
            "mask": _save(folder / "mask.nii", brain, affine),
            "t1w": _save(folder / "t1w.nii", t1w / t1w.max(), affine),
            "native_mask": _save(folder / "native_mask.nii", brain, np.diag([2.0, 2, 2, 1]))}


def _node_dir(tmp_path, monkeypatch):
    """A node folder, and a process working directory elsewhere."""
    node = tmp_path / "node"
    node.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return node


def _load(path):
    return nib.load(path).get_fdata(dtype=np.float32)


def test_pet_suvr_writes_the_scaled_pet_and_metrics_of_normalize_pet(grid, tmp_path,
                                                                      monkeypatch):
    node = _node_dir(tmp_path, monkeypatch)
    result = PetSuvr(pet=grid["pet"], gm=grid["gm"], mask=grid["mask"],
                     reference_region="cerebellum_gm").run(cwd=str(node))
    assert result.runtime.cwd == str(node)
    assert result.outputs.out_file == str(node / "pet_suvr_scaled.nii")
    assert result.outputs.metrics == str(node / "pet_metrics.json")
    scaled, metrics = pet.normalize_pet(pet=nib.load(grid["pet"]), gm=_load(grid["gm"]),
                                        brain_mask=_load(grid["mask"]), region="cerebellum_gm",
                                        atlas=resources.aal_atlas())
    np.testing.assert_array_equal(_load(result.outputs.out_file), scaled)
    assert json.loads(Path(result.outputs.metrics).read_text()) == metrics
    assert metrics["pet_reference_mean"] == 2.0
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_pet_suvr_needs_a_reference_region(grid):
    interface = PetSuvr(pet=grid["pet"], gm=grid["gm"], mask=grid["mask"])
    with pytest.raises(ValueError, match="reference_region"):
        interface.run()


def test_quality_control_writes_the_row_and_figure_of_quality_control(grid, tmp_path,
                                                                       monkeypatch):
    node = _node_dir(tmp_path, monkeypatch)
    metrics = tmp_path / "pet_metrics.json"
    metrics.write_text(json.dumps({"pet_reference_mean": 2.0, "pet_clipped_fraction": 0.0}))
    result = QualityControl(participant_id="01", backend="ants", t1w=grid["t1w"],
                            gm=grid["gm"], wm=grid["wm"], mask=grid["mask"],
                            native_mask=grid["native_mask"], pet=grid["pet"],
                            pet_metrics=str(metrics)).run(cwd=str(node))
    assert (result.outputs.table, result.outputs.figure) == (str(node / "qc.tsv"),
                                                             str(node / "qc.png"))
    row = qc.quality_control(
        participant_id="01", backend="ants", t1w=nib.load(grid["t1w"]),
        gm=_load(grid["gm"]), wm=_load(grid["wm"]), mask=_load(grid["mask"]),
        native_mask=nib.load(grid["native_mask"]),
        template=resources.mni_template(resolution_mm=1), pet=_load(grid["pet"]),
        pet_metrics={"pet_reference_mean": 2.0, "pet_clipped_fraction": 0.0},
        figure=tmp_path / "direct.png")
    table = pd.read_csv(result.outputs.table, sep="\t", dtype={"participant_id": str},
                        keep_default_na=False)
    assert table.to_dict("records") == [row]
    assert Path(result.outputs.figure).read_bytes()[:4] == b"\x89PNG"


def test_rough_skull_strip_writes_the_stripped_t1w(grid, tmp_path, monkeypatch):
    node = _node_dir(tmp_path, monkeypatch)
    result = RoughSkullStrip(t1w=grid["t1w"]).run(cwd=str(node))
    assert result.outputs.brain == str(node / "t1w_rough_brain.nii")
    expected = steps.rough_skull_strip(t1w=nib.load(grid["t1w"]), margin_mm=3.0)
    np.testing.assert_array_equal(_load(result.outputs.brain), expected)


def test_resample_to_grid_composes_the_two_maps(grid, tmp_path, monkeypatch):
    node = _node_dir(tmp_path, monkeypatch)
    shift = np.eye(4)
    shift[:3, 3] = [4.0, 0, 0]
    np.savetxt(tmp_path / "a.txt", shift)
    np.savetxt(tmp_path / "b.txt", np.linalg.inv(shift))
    result = ResampleToGrid(in_file=grid["mask"], mni_to_source=str(tmp_path / "a.txt"),
                            source_to_image=str(tmp_path / "b.txt"), grid=32, binarize=True,
                            out_name="mask_grid.nii").run(cwd=str(node))
    assert result.outputs.out_file == str(node / "mask_grid.nii")
    expected = steps.to_model_grid(image=nib.load(grid["mask"]), pull=np.eye(4), size=32,
                                   binarize=True)
    np.testing.assert_allclose(_load(result.outputs.out_file), expected.get_fdata(), atol=0)


def test_load_inputs_writes_ras_float32_images(grid, tmp_path, monkeypatch):
    node = _node_dir(tmp_path, monkeypatch)
    result = LoadInputs(participant_id="01", t1w=grid["t1w"]).run(cwd=str(node))
    assert result.outputs.t1w == str(node / "t1w.nii")
    assert nib.load(result.outputs.t1w).get_data_dtype() == np.float32


@pytest.mark.parametrize("paired", [True, False])
def test_export_outputs_writes_the_layout_names(grid, tmp_path, paired):
    figure, table = tmp_path / "qc.png", tmp_path / "qc.tsv"
    figure.write_bytes(b"png")
    table.write_text("participant_id\n01\n")
    sources = {field: grid[field] for field in ("t1w", "gm", "wm", "csf", "mask")}
    xfm = tmp_path / "xfm.txt"
    np.savetxt(xfm, np.diag([1.0, 1.1, 0.9, 1.0]))
    raw = {"t1w_source": "/bids/sub-01/anat/sub-01_T1w.nii.gz"}
    if paired:
        raw["pet_source"] = "/bids/sub-01/pet/sub-01_trc-FDG_pet.nii.gz"
    sources.update(qc_figure=str(figure), qc_table=str(table), xfm=str(xfm), **(
        {"pet": grid["pet"]} if paired else {}))
    out = tmp_path / "staging"
    ExportOutputs(participant_id="01", out_dir=str(out), backend="ants", grid=32,
                  reference_region="pons", **raw, **sources).run(cwd=str(tmp_path))
    names = preprocessed_names(participant_id="01", has_pet=paired)
    sidecars = sidecar_names(participant_id="01", has_pet=paired)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted([*names.values(), *sidecars.values()])
    assert nib.load(out / names["mask"]).get_data_dtype() == np.uint8
    assert np.allclose(np.loadtxt(out / names["xfm"]), np.loadtxt(xfm))
    t1w_sidecar = json.loads((out / sidecars["t1w"]).read_text())
    assert t1w_sidecar["Sources"] == ["bids:raw:sub-01/anat/sub-01_T1w.nii.gz"]
    if paired:
        assert _load(out / names["pet"]).max() == 1.0  # clipped to [0, 1]
        assert json.loads((out / sidecars["pet"]).read_text())["ReferenceRegion"] == "pons"


def test_grid_reference_is_an_empty_image_on_the_model_grid(tmp_path, monkeypatch):
    node = _node_dir(tmp_path, monkeypatch)
    result = GridReference(grid=32).run(cwd=str(node))
    image = nib.load(result.outputs.out_file)
    shape, affine = resources.model_grid(size=32)
    assert result.outputs.out_file == str(node / "grid.nii.gz")
    assert image.shape == shape and np.allclose(image.affine, affine)


def test_no_interface_writes_to_the_process_working_directory():
    folder = Path(gla_model.preprocess.interfaces.__file__).parent
    for path in folder.glob("*.py"):
        assert "getcwd" not in path.read_text(), path.name
