"""`resample-atlas`: the AAL atlas on the model grid."""

import nibabel as nib
import numpy as np
import pandas as pd

from gla_model import resources
from gla_model.cli import main
from gla_model.preprocess.atlas import resample_atlas
from gla_model.settings import job_settings


def _settings(*, grid=32, atlas=None, atlas_labels=None):
    return job_settings(preprocessing__grid=grid, preprocessing__atlas=atlas,
                        preprocessing__atlas_labels=atlas_labels)


def test_atlas_on_grid_keeps_integer_labels_and_grid_geometry():
    atlas = resources.aal_atlas()
    image = resample_atlas(size=32, atlas=atlas)
    shape, affine = resources.model_grid(size=32)
    data = np.asarray(image.dataobj)
    assert data.shape == shape and data.dtype == np.int16
    np.testing.assert_allclose(image.affine, affine)
    assert set(np.unique(data)) - {0} <= set(atlas.labels)
    assert len(np.unique(data)) > 100  # nearest neighbour keeps nearly every region


def test_label_at_a_known_point_matches_the_1mm_atlas():
    atlas = resources.aal_atlas()
    image = resample_atlas(size=64, atlas=atlas)
    voxel = np.array([32, 40, 30])
    world = image.affine @ [*voxel, 1]
    source_voxel = np.rint(np.linalg.inv(atlas.image.affine) @ world).astype(int)[:3]
    assert np.asarray(image.dataobj)[tuple(voxel)] == np.asarray(atlas.image.dataobj)[
        tuple(source_voxel)]


def test_cli_writes_dseg_and_labels(tmp_path):
    dseg, labels = tmp_path / "a_dseg.nii.gz", tmp_path / "a_dseg.tsv"
    assert main(["resample-atlas", "--settings", _settings(grid=32), "--out-dseg", str(dseg),
                 "--out-labels", str(labels)]) == 0
    assert nib.load(dseg).shape == (32, 32, 32)
    table = pd.read_csv(labels, sep="\t")
    assert list(table.columns) == ["index", "name"] and len(table) == 116


def test_cli_needs_atlas_and_labels_together(tmp_path, capsys):
    assert main(["resample-atlas", "--settings", _settings(atlas="x.nii.gz"),
                 "--out-dseg", str(tmp_path / "a.nii.gz"),
                 "--out-labels", str(tmp_path / "a.tsv")]) == 2
    assert "preprocessing.atlas_labels" in capsys.readouterr().err


def test_cli_reads_the_settings_from_a_file_and_checks_the_grid(tmp_path, capsys):
    settings = tmp_path / "settings.json"
    settings.write_text(_settings(grid=48))
    assert main(["resample-atlas", "--settings", str(settings),
                 "--out-dseg", str(tmp_path / "a.nii.gz"),
                 "--out-labels", str(tmp_path / "a.tsv")]) == 2
    assert "'preprocessing.grid': 48 is not one of [32, 64]" in capsys.readouterr().err
