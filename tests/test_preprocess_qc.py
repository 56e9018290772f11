"""QC metrics, flags and figure (gla_model.preprocess.qc)."""

import numpy as np
import pytest

from gla_model.preprocess import qc


def test_ncc_is_one_for_affine_related_images_and_minus_one_for_inverted():
    rng = np.random.default_rng(0)
    a = rng.random((10, 10, 10))
    mask = np.ones(a.shape, dtype=bool)
    assert qc.ncc(a=a, b=3 * a + 1, mask=mask) == pytest.approx(1.0)
    assert qc.ncc(a=a, b=-a, mask=mask) == pytest.approx(-1.0)
    assert qc.ncc(a=a, b=np.ones(a.shape), mask=mask) == 0.0


def test_qc_row_flags_only_failed_checks():
    good = {"t1w_template_ncc": 0.8, "brain_volume_ml": 1400.0, "gm_fraction": 0.45}
    assert qc.qc_row(participant_id="01", backend="ants", metrics=good)["flags"] == ""
    bad = {**good, "t1w_template_ncc": 0.2, "pet_clipped_fraction": 0.2}
    row = qc.qc_row(participant_id="01", backend="ants", metrics=bad)
    assert row["flags"] == "low_template_similarity;pet_clipped"
    assert row["participant_id"] == "01" and row["t1w_template_ncc"] == 0.2


def test_qc_figure_writes_a_png(tmp_path):
    volume = np.zeros((16, 16, 16))
    volume[4:12, 4:12, 4:12] = 1.0
    path = tmp_path / "qc.png"
    qc.qc_figure(path=path, participant_id="01", t1w=volume, gm=volume, template=volume,
                 pet=volume * 0.5)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
