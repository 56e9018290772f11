"""The report's uncertainty part: calibration table, MRI-only table with the
out-of-distribution warnings, reliability figure, summary lines, and `gla-model report
--what uncertainty` writing every file the layout names."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gla_model.cli import main
from gla_model.evaluate.stats import holm
from gla_model.layout import uncertainty_path
from gla_model.layout.report import report_outputs
from gla_model.report.uncertainty import (
    calibration_report,
    mri_only_report,
    ood_warnings,
    reliability_figure,
    summary_lines,
)
from gla_model.settings import ModelsSettings, job_settings
from gla_model.tsvio import write_table

VARIANTS = {"glagan": {"label": "GLA-GAN", "group": "main"},
            "unet3d": {"label": "3D U-Net", "group": "main"}}


def _results(*, seed: int, flagged: bool = True) -> dict[str, pd.DataFrame]:
    """One variant's subjects, calibration and reliability tables: 6 test subjects whose MAE
    grows with their SD, 2 MRI-only subjects (mo1 above every test subject, and flagged)."""
    rng = np.random.default_rng(seed)
    sd = np.linspace(0.01, 0.02, 6)
    paired = pd.DataFrame({
        "participant_id": [f"p{i}" for i in range(6)], "group": "paired",
        "model": [f"fold-{i % 2}" for i in range(6)], "n_members": 8, "sd_mean": sd,
        "sd_primary": sd, "sd_fold_models": sd, "input_typicality": 0.5,
        "typicality_threshold": 1.5, "out_of_distribution": False,
        "mae": 3 * sd + rng.normal(0, 1e-4, 6), "spearman": rng.uniform(0.1, 0.4, 6)})
    mri_only = pd.DataFrame({
        "participant_id": ["mo0", "mo1"], "group": "mri_only", "model": "full",
        "n_members": 48, "sd_mean": [0.03, 0.3], "sd_primary": [0.02, 0.25],
        "sd_fold_models": [0.012, 0.2],
        "input_typicality": [0.6, 4.0], "typicality_threshold": 1.5,
        "out_of_distribution": [False, flagged], "mae": np.nan, "spearman": np.nan})
    subjects = pd.concat([paired, mri_only], ignore_index=True)
    region_rho = rng.uniform(-0.2, 0.6, 5)
    calibration = pd.DataFrame([
        *({"level": "subject", "unit": p, "spearman": r, "p_value": np.nan, "n": 900}
          for p, r in zip(paired["participant_id"], paired["spearman"], strict=True)),
        *({"level": "region", "unit": f"R{i}", "spearman": r, "p_value": 0.5, "n": 6}
          for i, r in enumerate(region_rho)),
        {"level": "region", "unit": "R9", "spearman": np.nan, "p_value": np.nan, "n": 0},
        {"level": "cohort", "unit": "subjects", "spearman": 0.9, "p_value": 0.01 * (seed + 1),
         "n": 6}])
    sd_bins = np.linspace(0.005, 0.03, 10)
    reliability = pd.DataFrame({
        "bin": range(1, 11), "sd_low": sd_bins - 0.001, "sd_high": sd_bins + 0.001,
        "n_voxels": 100 + np.arange(10), "sd_mean": sd_bins, "abs_error_mean": 4 * sd_bins,
        "rms_error": 5 * sd_bins, "expected_abs_error": math.sqrt(2 / math.pi) * sd_bins})
    return {"subjects": subjects, "calibration": calibration, "reliability": reliability}


@pytest.fixture
def results():
    return {"glagan": _results(seed=0), "unet3d": _results(seed=1)}


def test_calibration_table(results):
    table = calibration_report(results=results, variants=VARIANTS)
    data = table.data.set_index("variant")
    for variant in VARIANTS:
        calibration = results[variant]["calibration"]
        voxel = calibration.loc[calibration["level"] == "subject", "spearman"]
        region = calibration.loc[calibration["level"] == "region", "spearman"].dropna()
        row = data.loc[variant]
        assert row["n_subjects"] == 6 and row["n_regions"] == 5
        assert row["voxel_spearman_median"] == pytest.approx(np.median(voxel))
        assert (row["region_spearman_q1"], row["region_spearman_q3"]) == pytest.approx(
            tuple(np.percentile(region, [25, 75])))
        assert row["error_ratio"] == pytest.approx(4 / math.sqrt(2 / math.pi))
        assert row["mae_mean"] == pytest.approx(
            results[variant]["subjects"].loc[lambda s: s["group"] == "paired", "mae"].mean())
    np.testing.assert_allclose(data["subject_p_holm"], holm([0.01, 0.02]))
    assert "| GLA-GAN | 6 |" in table.markdown
    assert "0.90 (6, p=0.020)" in table.markdown  # Holm: 2 x 0.01 and max(0.02, ...)
    assert "Observed / expected |error|" in table.markdown and "5.01" in table.markdown
    assert "Holm-corrected over the models" in table.markdown


def test_mri_only_table_and_warnings(results):
    table = mri_only_report(results=results, variants=VARIANTS)
    data = table.data
    assert len(data) == 4 and set(data["variant"]) == set(VARIANTS)
    percentile = data.set_index(["variant", "participant_id"])["sd_fold_models_percentile"]
    # mo0's 0.012 is above 2 of the 6 test subjects' SD (0.010, 0.012): 2/6; mo1 above all
    assert percentile[("glagan", "mo0")] == pytest.approx(100 * 2 / 6)
    assert percentile[("glagan", "mo1")] == 100
    assert "| sub-mo1 | 4.00 (1.50) | **yes** |" in table.markdown
    assert "0.2000 (100) / 0.2500 / 0.3000" in table.markdown
    (warning,) = [line for line in table.markdown.splitlines() if "**Warning**" in line]
    assert warning.startswith("- **Warning**: sub-mo1 (mri_only, model full): its T1w is "
                              "unlike the model's training T1w (typicality 4.00 > 1.50)")
    calm = {v: _results(seed=2, flagged=False) for v in VARIANTS}
    assert ood_warnings(results=calm) == ["No subject's T1w is out of distribution."]


def test_reliability_figure_has_a_line_per_model_and_the_gaussian_line(results):
    figure = reliability_figure(results=results, variants=VARIANTS)
    (axis,) = figure.axes
    assert len(axis.lines) == len(VARIANTS) + 1
    assert axis.get_xscale() == axis.get_yscale() == "log"
    x, y = axis.lines[-1].get_data()
    np.testing.assert_allclose(y, math.sqrt(2 / math.pi) * x)
    assert [t.get_text() for t in axis.get_legend().get_texts()][:2] == ["GLA-GAN", "3D U-Net"]


def test_summary_lines_in_plain_words(results):
    calibration = calibration_report(results=results, variants=VARIANTS).data
    mri_only = mri_only_report(results=results, variants=VARIANTS).data
    lines = summary_lines(calibration=calibration, mri_only=mri_only)
    assert lines[0].startswith(
        "GLA-GAN: on the 6 test-fold subjects (each scored only by members that never saw "
        "it), subjects with a higher mean uncertainty have a larger MAE (Spearman ρ = 0.90, "
        "p=0.020 Holm; ranked within each fold, i.e. among subjects scored by one model: ρ = ")
    assert "Within a subject the voxelwise ρ between SD and |error| has median " in lines[0]
    assert "The SD is overconfident: the observed |error| is 5.01 times" in lines[0]
    worse = calibration.assign(voxel_spearman_median=-0.1, subject_p_holm=0.2)
    line = summary_lines(calibration=worse, mri_only=mri_only)[0]
    assert "do not significantly have a larger MAE" in line and "does not show" in line
    assert ("MRI-only subjects: 1 of 2 have a T1w out of distribution (sub-mo1; do not trust "
            "their synthetic PET).") in lines
    assert ("GLA-GAN: 1 of 2 MRI-only subjects have a higher uncertainty (the fold models' "
            "SD under augmentation, as for the test-fold subjects) than every test-fold "
            "subject (sub-mo1).") in lines


def test_report_command_writes_the_part(results, tmp_path, default_settings):
    for variant, tables in results.items():
        for kind, table in tables.items():
            write_table(table, uncertainty_path(uncertainty_dir=tmp_path / "unc",
                                                variant=variant, kind=kind))
    models = ModelsSettings(enabled=tuple(VARIANTS),
                            variants={v: default_settings.models.variants[v] for v in VARIANTS})
    assert main(["report", "--what", "uncertainty", "--settings", job_settings(models=models),
                 "--out-dir", str(tmp_path / "report"),
                 "--uncertainty-dir", str(tmp_path / "unc")]) == 0
    expected = report_outputs(report_dir=tmp_path / "report", part="uncertainty",
                              variants=VARIANTS)
    assert sorted(p.relative_to(tmp_path / "report").as_posix() for p in expected) == [
        "figures/uncertainty_reliability.png", "tables/uncertainty_calibration.html",
        "tables/uncertainty_calibration.md", "tables/uncertainty_calibration.tsv",
        "tables/uncertainty_mri_only.html", "tables/uncertainty_mri_only.md",
        "tables/uncertainty_mri_only.tsv"]
    assert all(path.is_file() and path.stat().st_size for path in expected)
    assert "<table>" in (tmp_path / "report" / "tables" / "uncertainty_calibration.html"
                         ).read_text()
