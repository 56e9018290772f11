"""Markdown rendering of the report's tables: cells, p-values and the metric spec."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd


def metric_spec_lines(spec: Mapping, *, prefix: str = "") -> list[str]:
    """``key: value`` lines of a (nested) metric spec, nested keys joined with dots."""
    lines = []
    for key, value in spec.items():
        if isinstance(value, Mapping):
            lines.extend(metric_spec_lines(value, prefix=f"{prefix}{key}."))
        else:
            lines.append(f"{prefix}{key}: {value}")
    return lines


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame``'s cells as text."""
    return markdown_rows(frame.astype(str))


def format_p(value: float) -> str:
    """A p-value as text: ``p<0.001``, ``p=`` three decimals, or ``–`` when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def mean_std(mean: float, std: float, decimals: int) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.{decimals}f}" + ("" if pd.isna(std) else f" ± {std:.{decimals}f}")


def markdown_rows(cells: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, cells.columns)) + " |"
    rule = "|" + "|".join("---" for _ in cells.columns) + "|"
    body = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
            for row in cells.itertuples(index=False)]
    return "\n".join([header, rule, *body])
