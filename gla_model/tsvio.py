"""Reading and writing the TSV tables passed between stages, with errors naming the file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from gla_model.errors import GlaModelError
from gla_model.niftiio import write_text_atomic


def read_table(path: Path | str, *, columns: Iterable[str], role: str) -> pd.DataFrame:
    """Read a TSV with ``participant_id`` as text, or raise naming the file and what is missing."""
    path = Path(path)
    if not path.is_file():
        raise GlaModelError(f"{role} table {path} does not exist; run the stage that writes it.")
    try:
        table = pd.read_csv(path, sep="\t", dtype={"participant_id": str}, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise GlaModelError(f"{role} table {path} is not a readable TSV ({error}).") from error
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise GlaModelError(
            f"{role} table {path} lacks the columns {missing}; regenerate it with this version."
        )
    return table


def write_table(table: pd.DataFrame, path: Path | str) -> Path:
    """Write ``table`` as a TSV atomically."""
    return write_text_atomic(table.to_csv(sep="\t", index=False), path)
