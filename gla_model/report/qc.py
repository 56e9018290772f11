"""The preprocessing QC summary table of the report."""

from __future__ import annotations

import pandas as pd

from gla_model.layout.report import REPORT_TABLES
from gla_model.report.markdown import markdown_rows, mean_std
from gla_model.report.tables import Table


def qc_table(*, qc: pd.DataFrame) -> Table:
    """QC summary: one row per QC measure (n, mean, std, min, median, max) and per flag
    column (boolean, or named ``*flag*``: how many subjects and which are flagged)."""
    records = []
    for column in qc.columns.drop("participant_id"):
        values = qc[column]
        if _is_flag(values, name=column):
            flagged = qc.loc[values.astype(bool), "participant_id"].tolist()
            records.append({"measure": column, "kind": "flag", "n": int(values.notna().sum()),
                            "n_flagged": len(flagged), "flagged": ", ".join(flagged)})
        elif pd.api.types.is_numeric_dtype(values):
            numbers = values.dropna().astype(float)
            records.append({"measure": column, "kind": "value", "n": len(numbers),
                            "mean": numbers.mean(), "std": numbers.std(ddof=1),
                            "min": numbers.min(), "median": numbers.median(),
                            "max": numbers.max()})
    data = pd.DataFrame(records, columns=["measure", "kind", "n", "mean", "std", "min",
                                          "median", "max", "n_flagged", "flagged"])
    cells = pd.DataFrame({
        "Measure": data["measure"], "n": data["n"].astype(int),
        "Mean ± SD": [mean_std(m, s, 4) if k == "value" else "–"
                      for m, s, k in zip(data["mean"], data["std"], data["kind"], strict=True)],
        "Min / median / max": [
            f"{lo:.4g} / {mid:.4g} / {hi:.4g}" if k == "value" else "–"
            for lo, mid, hi, k in zip(data["min"], data["median"], data["max"], data["kind"],
                                      strict=True)],
        "Flagged": [f"{int(n)}: {ids}" if k == "flag" and n else ("0" if k == "flag" else "–")
                    for n, ids, k in zip(data["n_flagged"], data["flagged"], data["kind"],
                                         strict=True)]})
    markdown = "\n".join([f"# Preprocessing QC ({len(qc)} subjects)", "",
                          markdown_rows(cells), ""])
    return Table(name=REPORT_TABLES["qc"], data=data, markdown=markdown)


def _is_flag(values: pd.Series, *, name: str) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return True
    return "flag" in name.lower() and set(values.dropna().unique()) <= {0, 1}
