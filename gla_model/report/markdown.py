"""Markdown rendering of the report's tables: cells, p-values and the metric spec."""

from __future__ import annotations

import html
import math
import re
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


def markdown_to_html(text: str, *, title: str) -> str:
    """A standalone HTML page of the Markdown this report writes (headings, pipe tables,
    bullets, paragraphs, **bold**), so that `snakemake --report` shows it inline.

    Written by hand for that small subset: no chosen dependency renders Markdown.
    """
    body, table, bullets = [], [], []

    def flush() -> None:
        if table:
            rows = [row for row in table if not set(row.replace("|", "").strip()) <= {"-"}]
            cells = [_cells(row) for row in rows]
            head = "".join(f"<th>{_inline(c)}</th>" for c in cells[0])
            rest = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                           for row in cells[1:])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rest}</tbody></table>")
            table.clear()
        if bullets:
            body.append("<ul>" + "".join(f"<li>{_inline(b)}</li>" for b in bullets) + "</ul>")
            bullets.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        if line.startswith("- "):
            bullets.append(line[2:])
            continue
        flush()
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            body.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
    flush()
    style = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
             "td,th{border:1px solid #bbb;padding:2px 6px;text-align:left}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def _cells(row: str) -> list[str]:
    inner = row.strip()[1:-1] if row.strip().endswith("|") else row.strip()[1:]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)
