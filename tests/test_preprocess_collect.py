"""Combining per-subject QC rows keeps every value under its own column."""

import pandas as pd

from gla_model.cli import main


def test_mri_only_rows_get_empty_pet_columns_and_keep_their_flags(tmp_path):
    paired = tmp_path / "sub-a_desc-qc.tsv"
    mri_only = tmp_path / "sub-b_desc-qc.tsv"
    paired.write_text("participant_id\tbrain_volume_ml\tpet_t1w_ncc\tflags\n"
                      "001\t1500.0\t0.8\t\n")
    mri_only.write_text("participant_id\tbrain_volume_ml\tflags\nb02\t1400.0\tlow_gm\n")
    out = tmp_path / "qc.tsv"

    assert main(["collect-qc", str(mri_only), str(paired), "--out", str(out)]) == 0

    table = pd.read_csv(out, sep="\t", dtype={"participant_id": str}, keep_default_na=False)
    assert list(table.columns) == ["participant_id", "brain_volume_ml", "pet_t1w_ncc", "flags"]
    rows = table.set_index("participant_id")
    assert rows.loc["b02", "flags"] == "low_gm"
    assert rows.loc["b02", "pet_t1w_ncc"] == ""
    assert rows.loc["001", "pet_t1w_ncc"] == "0.8"
