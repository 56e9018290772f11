"""The MNI -> native T1w transform (``xfm``): reading, writing, resampling with it, and the
fsl backend's conversion of a FLIRT matrix, checked against independent computations."""

import nibabel as nib
import numpy as np
import pytest
from nibabel.processing import resample_from_to
from scipy.spatial.transform import Rotation

from gla_model import resources
from gla_model.preprocess.fsl_steps import flirt_to_xfm
from gla_model.preprocess.xfm import read_xfm, resample_to_native, write_xfm


def _xfm(seed=0):
    rng = np.random.default_rng(seed)
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_euler("xyz", rng.uniform(-12, 12, 3), degrees=True
                                         ).as_matrix() @ np.diag(rng.uniform(0.92, 1.08, 3))
    matrix[:3, 3] = rng.uniform(-15, 15, 3)
    return matrix


def _grid_blob(size=32):
    shape, affine = resources.model_grid(size=size)
    ijk = np.indices(shape).astype(np.float32)
    center = np.array([15, 19, 14])[:, None, None, None]
    data = np.exp(-((ijk - center) ** 2).sum(axis=0) / 40.0) + 0.5 * (ijk[0] > 16)
    return nib.Nifti1Image(data.astype(np.float32), affine)


def _native_reference():
    """A 2 mm native image in ASL voxel order (not RAS), as many scanners write them."""
    affine = np.array([[0, 0, -2.0, 90], [2.0, 0, 0, -110], [0, -2.0, 0, 100], [0, 0, 0, 1]])
    return nib.Nifti1Image(np.zeros((100, 80, 90), dtype=np.float32), affine)


def test_write_then_read_gives_the_matrix_back(tmp_path):
    matrix = _xfm()
    path = write_xfm(matrix, path=tmp_path / "sub-01_xfm.txt")
    assert np.array_equal(read_xfm(path=path), matrix)
    assert np.array_equal(np.loadtxt(path), matrix)  # plain text any tool reads


@pytest.mark.parametrize(("text", "match"), [
    ("1 0 0\n0 1 0\n0 0 1\n", "4x4"),
    ("1 0 0 0\n0 1 0 0\n0 0 1 0\n1 0 0 1\n", "last row"),
    ("1 0 0 0\n0 0 0 0\n0 0 1 0\n0 0 0 1\n", "invertible"),
    ("not a matrix\n", "not a readable transform"),
])
def test_a_bad_transform_file_is_an_error_naming_it(tmp_path, text, match):
    path = tmp_path / "sub-01_xfm.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as error:
        read_xfm(path=path)
    assert str(path) in str(error.value)


def test_resample_to_native_matches_nibabel_on_the_moved_image():
    """Mapping grid world through xfm is the same as giving the grid image the affine
    xfm @ grid affine, which nibabel resamples independently."""
    grid, native, xfm = _grid_blob(), _native_reference(), _xfm(1)
    ours = resample_to_native(image=grid, reference=native, xfm=xfm)
    moved = nib.Nifti1Image(np.asarray(grid.dataobj), xfm @ grid.affine)
    theirs = resample_from_to(moved, native, order=1, mode="constant", cval=0.0)
    assert ours.shape == native.shape and np.array_equal(ours.affine, native.affine)
    assert ours.get_data_dtype() == np.float32
    assert np.abs(ours.get_fdata() - theirs.get_fdata()).max() < 1e-4
    assert ours.get_fdata().max() > 0.9  # the blob is inside the native field of view


def test_resample_to_native_puts_a_grid_point_where_xfm_sends_it():
    grid, native, xfm = _grid_blob(), _native_reference(), _xfm(2)
    data = np.zeros(grid.shape, dtype=np.float32)
    data[14:18, 18:22, 12:16] = 1.0
    mask = resample_to_native(image=nib.Nifti1Image(data, grid.affine), reference=native,
                              xfm=xfm, order=0).get_fdata() > 0
    grid_center = grid.affine @ np.array([15.5, 19.5, 13.5, 1.0])
    native_center = np.linalg.inv(native.affine) @ xfm @ grid_center
    assert np.allclose(np.argwhere(mask).mean(axis=0), native_center[:3], atol=0.6)


def test_resample_to_native_rejects_4d_and_bad_order():
    grid, native = _grid_blob(), _native_reference()
    with pytest.raises(ValueError, match="3D"):
        resample_to_native(image=nib.Nifti1Image(np.zeros((4, 4, 4, 2)), np.eye(4)),
                           reference=native, xfm=np.eye(4))
    with pytest.raises(ValueError, match="order"):
        resample_to_native(image=grid, reference=native, xfm=np.eye(4), order=3)


def _fsl_coordinates(image):
    """FSL's scaled-voxel coordinates (voxel x pixdim, x flipped for a positive determinant,
    i.e. a neurological voxel order): the voxel -> fsl matrix, computed here by hand."""
    zooms = np.array(image.header.get_zooms()[:3])
    scale = np.diag([*zooms, 1.0])
    if np.linalg.det(image.affine[:3, :3]) > 0:
        flip = np.eye(4)
        flip[0, 0], flip[0, 3] = -1.0, image.shape[0] - 1
        scale = scale @ flip
    return scale


@pytest.mark.parametrize("acpc_header", [False, True])
def test_flirt_matrix_becomes_the_mni_to_native_map(tmp_path, acpc_header):
    """A synthetic FLIRT matrix (built by hand from a known native -> MNI map) converts back
    to that map's inverse; with ``acpc_header`` the FLIRT input carries another header (as
    SPM's AC-PC step writes) over the native T1w's voxels."""
    native_affine = np.array([[1.2, 0, 0, -90], [0, 1.2, 0, -120], [0, 0, 1.3, -70],
                              [0, 0, 0, 1]])
    native = nib.Nifti1Image(np.zeros((150, 180, 120), dtype=np.float32), native_affine)
    source = native
    if acpc_header:
        source = nib.Nifti1Image(np.zeros(native.shape, dtype=np.float32),
                                 _xfm(5) @ native_affine)
    reference = nib.Nifti1Image(np.zeros((182, 218, 182), dtype=np.float32),
                                np.array([[-1.0, 0, 0, 90], [0, 1, 0, -126], [0, 0, 1, -72],
                                          [0, 0, 0, 1]]))
    source_to_mni = _xfm(3)  # world of the FLIRT input -> MNI world
    voxel_map = np.linalg.inv(reference.affine) @ source_to_mni @ source.affine
    flirt = (_fsl_coordinates(reference) @ voxel_map
             @ np.linalg.inv(_fsl_coordinates(source)))
    paths = {}
    for name, image in (("native", native), ("source", source), ("reference", reference)):
        paths[name] = str(tmp_path / f"{name}.nii.gz")
        nib.save(image, paths[name])
    np.savetxt(tmp_path / "t1w_to_mni.mat", flirt)
    xfm = flirt_to_xfm(matrix=str(tmp_path / "t1w_to_mni.mat"), **paths)
    native_from_source = native_affine @ np.linalg.inv(source.affine)
    assert np.allclose(xfm, native_from_source @ np.linalg.inv(source_to_mni), atol=1e-6)


def test_flirt_source_with_other_voxels_is_an_error(tmp_path):
    for name, shape in (("native", (10, 10, 10)), ("source", (10, 10, 12)),
                        ("reference", (10, 10, 10))):
        nib.save(nib.Nifti1Image(np.zeros(shape, dtype=np.float32), np.eye(4)),
                 tmp_path / f"{name}.nii.gz")
    np.savetxt(tmp_path / "m.mat", np.eye(4))
    with pytest.raises(ValueError, match="does not have the voxels"):
        flirt_to_xfm(matrix=str(tmp_path / "m.mat"), native=str(tmp_path / "native.nii.gz"),
                     source=str(tmp_path / "source.nii.gz"),
                     reference=str(tmp_path / "reference.nii.gz"))
