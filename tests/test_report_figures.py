"""Report figures: panel counts, PNG files written, shared loss terms."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gla_model.report import figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _image_axes(figure) -> list:
    return [axis for axis in figure.axes if axis.images]


def _ablation_data() -> pd.DataFrame:
    data = {"variant": ["glagan", "glagan_k2", "glagan_k8"], "label": ["GLA-GAN", "K=2", "K=8"]}
    for column in ("ssim", "psnr", "mae", "paired_accuracy", "complete_accuracy",
                   "paired_auc", "complete_auc"):
        data[f"{column}_mean"] = [0.8, 0.82, 0.79]
        data[f"{column}_std"] = [0.01, 0.02, np.nan]
    return pd.DataFrame(data)


def test_ablation_figure_has_one_panel_per_metric_and_saves_png(tmp_path):
    figure = figures.ablation_figure(table=_ablation_data(), title="patches")
    assert [axis.get_title() for axis in figure.axes] == ["SSIM", "PSNR (dB)", "MAE",
                                                         "Accuracy", "AUC"]
    # 3 bars in the image panels; 3 variants x (paired, complete) in the classification ones.
    assert [len(axis.patches) for axis in figure.axes] == [3, 3, 3, 6, 6]
    path = figures.save_figure(figure=figure, path=tmp_path / "sub" / "ablation.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in path.parent.iterdir()] == ["ablation.png"]


def test_qualitative_figure_panels_and_error_map():
    rng = np.random.default_rng(0)
    truth = rng.random((12, 14, 12))
    synthetic = {"GLA-GAN": truth + 0.1, "U-Net": truth * 0.5}
    figure = figures.qualitative_figure(truth=truth, synthetic=synthetic,
                                        voxel_size=(2.0, 2.0, 2.0), title="AD")
    axes = _image_axes(figure)
    assert len(axes) == 3 * (1 + 2 * len(synthetic))
    titles = [axis.get_title() for axis in axes[:5]]
    assert titles == ["Ground truth", "GLA-GAN", "|error| GLA-GAN", "U-Net", "|error| U-Net"]
    # The error panel of GLA-GAN shows |0.1| everywhere in its slice.
    np.testing.assert_allclose(axes[2].images[0].get_array(), 0.1, atol=1e-12)


def test_training_curves_one_panel_per_model_with_shared_terms(tmp_path):
    rows = []
    for fold in range(2):
        for epoch in range(1, 4):
            rows.append({"epoch": epoch, "split": "train", "fold": fold, "total": 3.0 / epoch,
                         "l1": 1.0 / epoch, "adv": 0.7})
            rows.append({"epoch": epoch, "split": "val", "fold": fold, "l1": 1.2 / epoch,
                         "loss": 1.2 / epoch, "ssim_brain": 0.8})
    history = pd.DataFrame(rows)
    assert figures.shared_terms(history) == ["l1"]
    figure = figures.training_curves_figure(histories={"A": history, "B": history,
                                                       "C": history})
    visible = [axis for axis in figure.axes if axis.get_visible()]
    assert [axis.get_title() for axis in visible] == ["A", "B", "C"]
    assert len(visible[0].lines) == 2  # l1 train and val
    np.testing.assert_allclose(visible[0].lines[0].get_ydata(), [1.0, 0.5, 1 / 3])
    assert figures.save_figure(figure=figure, path=tmp_path / "c.png").stat().st_size > 1000


def test_interpolation_figure_columns_and_probabilities():
    rng = np.random.default_rng(1)
    real = {d: {"mri": rng.random((10, 10, 10)), "pet": rng.random((10, 10, 10))}
            for d in ("CN", "AD")}
    steps = [{"mri": rng.random((10, 10, 10)), "pet": rng.random((10, 10, 10))}
             for _ in range(4)]
    figure = figures.interpolation_figure(
        real=real, interpolated=steps, alphas=np.linspace(0, 1, 4),
        p_cn_real={"CN": 0.9, "AD": 0.1}, p_cn_steps=[0.8, 0.6, 0.3, 0.2],
        voxel_size=(2.0, 2.5, 2.0))
    axes = _image_axes(figure)
    assert len(axes) == 2 * (4 + 2)
    labels = [axis.get_xlabel() for axis in axes if axis.get_xlabel()]
    assert labels == ["P(CN) = 0.90", "P(CN) = 0.80", "P(CN) = 0.60", "P(CN) = 0.30",
                      "P(CN) = 0.20", "P(CN) = 0.10"]
