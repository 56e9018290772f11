"""The fsl backend: command lines nipype builds, and FLIRT matrix composition with fslpy.

FSL cannot be installed here; nothing is run (ROBEX and SPM12 on Octave run for real in
tests/test_preprocess_robex_spm.py).
"""

import dataclasses
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from fsl.data.image import Image
from fsl.transform.flirt import fromFlirt, toFlirt
from scipy.spatial.transform import Rotation

from gla_model import resources
from gla_model.errors import ToolMissingError
from gla_model.layout import PREPROCESSED_FIELDS
from gla_model.preprocess.fsl_steps import flirt_to_grid, fsl_template
from gla_model.preprocess.outputs import SPATIAL_FIELDS
from gla_model.preprocess.tools import robex_script
from gla_model.preprocess.workflow import init_preprocess_wf
from gla_model.settings import build_settings, load_config

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = build_settings(config=load_config(paths=[ROOT / "config.yaml"])).preprocessing


def _image(path, shape, affine):
    nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), affine), path)
    return str(path)


def _rigid(seed):
    rng = np.random.default_rng(seed)
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_euler("xyz", rng.uniform(-10, 10, 3), degrees=True
                                         ).as_matrix()
    matrix[:3, 3] = rng.uniform(-10, 10, 3)
    return matrix


@pytest.fixture
def images(tmp_path):
    flip = np.diag([-2.0, 2.0, 2.0, 1.0])  # radiological storage: FSL flips x
    flip[:3, 3] = [40, -50, -30]
    shape, grid_affine = resources.model_grid(size=32)
    return {"pet": _image(tmp_path / "pet.nii.gz", (40, 48, 36), flip),
            "t1w": _image(tmp_path / "t1w.nii.gz", (60, 70, 50), np.diag([1.5, 1.5, 1.5, 1])),
            "mni": _image(tmp_path / "mni.nii.gz", (91, 109, 91), np.diag([2.0, 2, 2, 1])),
            "grid": _image(tmp_path / "grid.nii.gz", shape, grid_affine)}


@pytest.fixture
def spm12(tmp_path):
    """A stand-in SPM12 folder: only its template must exist to build the workflow."""
    folder = tmp_path / "spm12"
    (folder / "canonical").mkdir(parents=True)
    _image(folder / "canonical" / "avg152T1.nii", (91, 109, 91), np.diag([2.0, 2, 2, 1]))
    return folder


def _flirt_file(tmp_path, name, world, source, reference):
    path = tmp_path / name
    np.savetxt(path, toFlirt(world, Image(source), Image(reference), "world", "world"))
    return str(path)


def test_flirt_to_grid_composes_world_transforms(tmp_path, images):
    pet_to_t1w, t1w_to_mni = _rigid(0), _rigid(1)
    chain = [(_flirt_file(tmp_path, "a.mat", pet_to_t1w, images["pet"], images["t1w"]),
              images["pet"], images["t1w"]),
             (_flirt_file(tmp_path, "b.mat", t1w_to_mni, images["t1w"], images["mni"]),
              images["t1w"], images["mni"])]
    matrix = flirt_to_grid(chain=chain, grid=images["grid"])
    world = fromFlirt(matrix, Image(images["pet"]), Image(images["grid"]), "world", "world")
    np.testing.assert_allclose(world, t1w_to_mni @ pet_to_t1w, atol=1e-6)


def test_fsl_template_without_fsldir_is_a_tool_error(monkeypatch):
    monkeypatch.delenv("FSLDIR", raising=False)
    with pytest.raises(ToolMissingError, match=r"preprocessing\.backend: ants"):
        fsl_template(template=None)


def _settings(template, *, acpc="flirt", spm_mode="matlab", spm_path=None, matlab=None):
    spm = dataclasses.replace(SETTINGS.spm, mode=spm_mode, path=spm_path, matlab=matlab)
    return dataclasses.replace(SETTINGS, backend="fsl", acpc=acpc, skull_strip="robex",
                               grid=32, template=template, spm=spm)


def _workflow(template, *, acpc="flirt", has_pet=True, **spm):
    return init_preprocess_wf(participant_id="01", has_pet=has_pet,
                              settings=_settings(template, acpc=acpc, **spm))


def test_fsl_command_lines(images):
    workflow = _workflow(images["mni"])
    node = workflow.get_node("fsl_spatial_wf.flirt_to_mni")
    node.inputs.in_file = images["t1w"]
    node.inputs.in_matrix_file = images["t1w"]  # any existing file stands in for acpc.mat
    assert "-dof 12" in node.interface.cmdline and f"-ref {images['mni']}" in (
        node.interface.cmdline) and "-init" in node.interface.cmdline
    acpc = workflow.get_node("fsl_spatial_wf.flirt_acpc")
    acpc.inputs.in_file = images["t1w"]
    assert "-dof 6" in acpc.interface.cmdline
    fast = workflow.get_node("fsl_spatial_wf.fast_segmentation")
    fast.inputs.in_files = images["t1w"]
    assert fast.interface.cmdline.startswith("fast -n 3 -t 1") or (
        " -n 3" in fast.interface.cmdline and " -t 1" in fast.interface.cmdline)
    robex = workflow.get_node("fsl_spatial_wf.robex_skull_strip")
    robex.inputs.in_file = images["t1w"]
    assert robex.interface.cmdline.startswith(f"{robex_script()} {images['t1w']} ")
    assert robex.interface.cmdline.endswith(" 0")  # the seed: reproducible masks
    stats = workflow.get_node("fsl_spatial_wf.brain_percentile")
    stats.inputs.in_file, stats.inputs.mask_file = images["t1w"], images["t1w"]
    assert stats.interface.cmdline.strip().endswith(f"-k {images['t1w']} -P 99.5")
    clip = workflow.get_node("fsl_spatial_wf.normalize_clip")
    clip.inputs.in_file = images["t1w"]
    assert "-thr 0 -min 1" in clip.interface.cmdline
    mask = workflow.get_node("fsl_spatial_wf.mask_to_grid")
    mask.inputs.in_file = mask.inputs.reference = images["grid"]
    mask.inputs.in_matrix_file = images["t1w"]
    assert "-applyxfm" in mask.interface.cmdline and "nearestneighbour" in mask.interface.cmdline
    pet = workflow.get_node("fsl_spatial_wf.pet_to_t1w")
    pet.inputs.in_file, pet.inputs.reference = images["pet"], images["t1w"]
    assert "-dof 6" in pet.interface.cmdline and "-cost mutualinfo" in pet.interface.cmdline


def test_spm_acpc_uses_matlab_with_spm_on_its_path(images, spm12):
    workflow = _workflow(images["mni"], acpc="spm", spm_path=str(spm12))
    node = workflow.get_node("fsl_spatial_wf.spm_acpc")
    assert node.interface.mlab.cmd == "matlab"
    assert str(spm12) in node.interface.mlab.inputs.paths
    assert node.inputs.target == str(spm12 / "canonical" / "avg152T1.nii")
    assert workflow.get_node("fsl_spatial_wf.flirt_acpc") is None
    graph = workflow.get_node("fsl_spatial_wf")._graph
    robex = next(node for node in graph.nodes() if node.name == "robex_skull_strip")
    assert {u.name for u, _ in graph.in_edges(robex)} == {"spm_acpc"}


def test_octave_runs_the_script_file_with_spm_on_its_path(images, spm12):
    workflow = _workflow(images["mni"], acpc="spm", spm_mode="octave", spm_path=str(spm12),
                         matlab="/usr/bin/octave-cli")
    mlab = workflow.get_node("fsl_spatial_wf.spm_acpc").interface.mlab
    assert mlab.cmd == ("/usr/bin/octave-cli --no-gui --no-window-system --norc --quiet "
                        f"--path {spm12}")
    assert mlab.inputs.uses_mcr and not mlab.inputs.paths  # no addpath: Octave lacks ismcc


def test_fsl_without_acpc_strips_the_input(images):
    workflow = _workflow(images["mni"], acpc="none")
    graph = workflow.get_node("fsl_spatial_wf")._graph
    robex = next(node for node in graph.nodes() if node.name == "robex_skull_strip")
    assert {u.name for u, _ in graph.in_edges(robex)} == {"inputnode"}
    assert workflow.get_node("fsl_spatial_wf.flirt_acpc") is None


def test_pet_chain_uses_one_composed_matrix(images):
    workflow = _workflow(images["mni"])
    graph = workflow.get_node("fsl_spatial_wf")._graph
    names = {node.name: node for node in graph.nodes()}
    sources = {u.name for u, _ in graph.in_edges(names["pet_grid_matrix"])}
    assert sources == {"pet_chain_matrices", "pet_chain_sources", "pet_chain_references",
                       "grid_reference"}
    assert {u.name for u, _ in graph.in_edges(names["pet_to_grid"])} == {
        "inputnode", "pet_grid_matrix", "grid_reference"}


def test_standalone_spm_runs_the_script_with_the_runtime(images, tmp_path):
    script = tmp_path / "opt" / "run_spm12.sh"
    canonical = script.parent / "spm12_mcr" / "spm12" / "spm12" / "canonical"
    canonical.mkdir(parents=True)
    _image(canonical / "avg152T1.nii", (91, 109, 91), np.diag([2.0, 2, 2, 1]))
    settings = _settings(images["mni"], acpc="spm", spm_mode="standalone",
                         spm_path=str(script), matlab="/opt/mcr")
    workflow = init_preprocess_wf(participant_id="01", has_pet=False, settings=settings)
    node = workflow.get_node("fsl_spatial_wf.spm_acpc")
    assert node.interface.mlab.cmd == f"{script} /opt/mcr script"
    assert node.inputs.target == str(canonical / "avg152T1.nii")
    assert workflow.get_node("fsl_spatial_wf.pet_to_t1w") is None


def test_fsl_workflow_has_the_shared_tail_and_outputs(images):
    workflow = _workflow(images["mni"])
    spatial = workflow.get_node("fsl_spatial_wf").get_node("outputnode")
    assert sorted(spatial.outputs.copyable_trait_names()) == sorted(SPATIAL_FIELDS)
    outputnode = workflow.get_node("outputnode")
    assert sorted(outputnode.outputs.copyable_trait_names()) == sorted(PREPROCESSED_FIELDS)
    assert workflow.get_node("quality_control").inputs.backend == "fsl"
    assert workflow.get_node("pet_suvr") is not None
