"""Combining per-subject QC rows keeps every value under its own column; the same job
writes the dataset-level files of the preprocessing derivatives."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from gla_model import layout
from gla_model.cli import main
from gla_model.settings import job_settings


def _collect(tmp_path, *rows, bids_dir="results/demo_cohort"):
    dataset = tmp_path / "results" / "preprocess"
    out = dataset / "qc.tsv"
    code = main(["collect-qc", *map(str, rows), "--out", str(out), "--dataset-dir",
                 str(dataset), "--bids-dir", str(bids_dir),
                 "--settings", job_settings(preprocessing__grid=32)])
    return code, out, dataset


def test_mri_only_rows_get_empty_pet_columns_and_keep_their_flags(tmp_path):
    paired = tmp_path / "sub-a_desc-qc.tsv"
    mri_only = tmp_path / "sub-b_desc-qc.tsv"
    paired.write_text("participant_id\tbrain_volume_ml\tpet_t1w_ncc\tflags\n"
                      "001\t1500.0\t0.8\t\n")
    mri_only.write_text("participant_id\tbrain_volume_ml\tflags\nb02\t1400.0\tlow_gm\n")

    code, out, _ = _collect(tmp_path, mri_only, paired)
    assert code == 0

    table = pd.read_csv(out, sep="\t", dtype={"participant_id": str}, keep_default_na=False)
    assert list(table.columns) == ["participant_id", "brain_volume_ml", "pet_t1w_ncc", "flags"]
    rows = table.set_index("participant_id")
    assert rows.loc["b02", "flags"] == "low_gm"
    assert rows.loc["b02", "pet_t1w_ncc"] == ""
    assert rows.loc["001", "pet_t1w_ncc"] == "0.8"


@pytest.mark.parametrize(("bids_dir", "link"), [
    ("results/demo_cohort", "../demo_cohort"),  # relative: stays valid when results/ moves
    ("/data/my_bids", "file:///data/my_bids"),
])
def test_the_collect_job_writes_the_derivatives_dataset_files(
        tmp_path, monkeypatch, bids_dir, link):
    monkeypatch.chdir(tmp_path)
    row = tmp_path / "sub-a_desc-qc.tsv"
    row.write_text("participant_id\tflags\n001\t\n")
    code, _, dataset = _collect(tmp_path, row, bids_dir=bids_dir)
    assert code == 0
    files = layout.preprocess_dataset_files(preproc_dir=dataset)
    assert sorted(p.name for p in dataset.iterdir()) == sorted(
        ["qc.tsv", *(p.name for p in files.values())])
    description = json.loads(files["description"].read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0] == {"Name": "gla-model", "Version": "0.1.0"}
    assert description["SourceDatasets"] == [{"URL": link}]
    assert description["DatasetLinks"] == {"raw": link}
    ignored = files["bidsignore"].read_text().splitlines()
    assert {"*_xfm.txt", "sub-*/qc", "qc.tsv", "failures/"} <= set(ignored)
    assert "32^3 voxels" in json.loads(files["atlas_json"].read_text())["Description"]
    assert f"space-{layout.GRID_SPACE}" in files["readme"].read_text()


@pytest.mark.parametrize("module", ["gla_model.preprocess.collect", "gla_model.preprocess.xfm"])
def test_light_modules_import_without_the_preprocess_extra(module):
    """collect-qc runs in the analysis environment and the xfm reader wherever a stage needs
    it: neither may pull in ANTs, nipype or fslpy."""
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('ants', 'nipype', 'fsl') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
