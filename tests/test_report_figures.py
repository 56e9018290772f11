"""Report figures: panel counts, PNG files written, shared loss terms, titles, confusion
matrices; the model-complexity part."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gla_model.cli import main
from gla_model.layout.report import report_outputs
from gla_model.report import figures
from gla_model.report.inputs import CLASSIFICATION_METRICS
from gla_model.report.tasks import confusion_counts
from gla_model.settings import job_settings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _image_axes(figure) -> list:
    return [axis for axis in figure.axes if axis.images]


def _ablation_data(metrics: tuple[str, ...] = ("accuracy", "auc")) -> pd.DataFrame:
    """An ablation table's columns, with the classification ``metrics`` of both experiments
    named as ``tables.ablation_table`` names them (``<experiment>_<metric>_mean``)."""
    data = {"variant": ["glagan", "glagan_k2", "glagan_k8"], "label": ["GLA-GAN", "K=2", "K=8"]}
    columns = ["ssim", "psnr", "mae", *(f"{e}_{m}" for m in metrics
                                        for e in ("paired", "complete"))]
    for column in columns:
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


def test_ablation_figure_shows_all_six_classification_metrics():
    table = _ablation_data(metrics=CLASSIFICATION_METRICS)
    table["paired_mcc_mean"] = [-0.2, 0.1, 0.3]  # MCC may be negative
    table["complete_auc_std"] = np.nan
    figure = figures.ablation_figure(table=table, title="patches")
    assert [axis.get_title() for axis in figure.axes] == [
        "SSIM", "PSNR (dB)", "MAE", "Accuracy", "Sensitivity", "Specificity", "F1", "MCC",
        "AUC"]
    assert [len(axis.patches) for axis in figure.axes] == [3] * 3 + [6] * 6
    mcc = figure.axes[7]
    assert mcc.get_ylim()[0] < -0.2
    assert figure.get_suptitle() == "patches"


def test_ablation_figure_plots_only_the_experiments_present():
    table = _ablation_data(metrics=()).assign(paired_f1_mean=[0.7, 0.6, 0.5],
                                              paired_f1_std=[0.1, 0.1, 0.1])
    figure = figures.ablation_figure(table=table, title="t")
    assert [axis.get_title() for axis in figure.axes] == ["SSIM", "PSNR (dB)", "MAE", "F1"]
    assert len(figure.axes[-1].patches) == 3


def test_qualitative_figure_title_is_the_given_title():
    """The suptitle is the figure's title, not the last column's label."""
    truth = np.random.default_rng(2).random((10, 10, 10))
    title = "AD test subject sub-01 (fold 0)"
    figure = figures.qualitative_figure(truth=truth, synthetic={"3D U-Net": truth * 0.9},
                                        voxel_size=(2.0, 2.0, 2.0), title=title)
    assert figure.get_suptitle() == title
    assert _image_axes(figure)[2].get_title() == "|error| 3D U-Net"  # last column, top row


def test_report_complexity_part_writes_its_table(tmp_path, default_settings):
    """`gla-model report --what complexity` needs only the settings: models and grid."""
    settings = job_settings(models=default_settings.enabled_models(), preprocessing__grid=32)
    assert main(["report", "--what", "complexity", "--settings", settings,
                 "--out-dir", str(tmp_path)]) == 0
    tsv, markdown, page = report_outputs(report_dir=tmp_path, part="complexity", variants={})
    assert {p for p in tmp_path.rglob("*") if p.is_file()} == {tsv, markdown, page}
    assert "<table>" in page.read_text()
    table = pd.read_csv(tsv, sep="\t")
    assert table["variant"].tolist() == list(default_settings.variants)
    assert (table["total_parameters"] == table["generator_parameters"]
            + table["discriminator_parameters"]).all()
    assert (table["grid"] == 32).all() and (table["generator_gflops"] > 0).all()
    assert "a multiply-add = 2 FLOPs" in markdown.read_text()


def test_confusion_counts_and_figure_are_row_normalized_with_counts(tmp_path):
    predictions = pd.DataFrame({"y_true": [0, 0, 0, 0, 1, 1, 2, 2, 2],
                                "y_pred": [0, 0, 0, 1, 0, 2, 2, 2, 2]})
    counts = confusion_counts(predictions=predictions, n_classes=3)
    np.testing.assert_array_equal(counts, [[3, 1, 0], [1, 0, 1], [0, 0, 3]])
    empty = np.zeros((3, 3), dtype=int)  # a panel without predictions stays all zero
    figure = figures.confusion_figure(counts={"MRI only": counts, "Real PET": empty},
                                      classes=("CN", "MCI", "AD"), title="CN / MCI / AD")
    panels = _image_axes(figure)
    assert [axis.get_title() for axis in panels] == ["MRI only", "Real PET"]
    np.testing.assert_allclose(panels[0].images[0].get_array(),
                               [[0.75, 0.25, 0], [0.5, 0, 0.5], [0, 0, 1]])
    assert [text.get_text() for text in panels[0].texts][:3] == ["0.75\n(3)", "0.25\n(1)",
                                                                "0.00\n(0)"]
    assert [label.get_text() for label in panels[0].get_xticklabels()] == ["CN", "MCI", "AD"]
    assert np.all(np.asarray(panels[1].images[0].get_array()) == 0)
    assert figures.save_figure(figure=figure, path=tmp_path / "c.png").read_bytes()[:8] == (
        PNG_MAGIC)
