"""The cohort table (``results/cohort/cohort.tsv``): one row per subject, typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gla_model import vocabulary
from gla_model.errors import CohortError
from gla_model.niftiio import write_text_atomic

COLUMNS = ("participant_id", "diagnosis", "group", "session", "t1w", "pet")


@dataclass(frozen=True)
class Subject:
    """One subject of the cohort; ``pet`` is None for MRI-only subjects."""

    participant_id: str
    diagnosis: str
    group: str
    session: str | None
    t1w: Path
    pet: Path | None


@dataclass(frozen=True)
class Cohort:
    """The discovered subjects and how many were left out, per participants.tsv value."""

    subjects: tuple[Subject, ...]
    excluded: dict[str, int] = field(default_factory=dict)

    def paired(self) -> tuple[Subject, ...]:
        return tuple(s for s in self.subjects if s.group == vocabulary.PAIRED)


def write_cohort_table(*, cohort: Cohort, path: Path | str) -> Path:
    """Write the cohort table (one row per subject, columns :data:`COLUMNS`)."""
    frame = pd.DataFrame(
        [[s.participant_id, s.diagnosis, s.group, s.session or "", str(s.t1w),
          "" if s.pet is None else str(s.pet)] for s in cohort.subjects],
        columns=list(COLUMNS))
    return write_text_atomic(frame.to_csv(sep="\t", index=False), path)


def read_cohort_table(*, path: Path | str) -> tuple[Subject, ...]:
    """Read a table written by :func:`write_cohort_table`."""
    path = Path(path)
    if not path.is_file():
        raise CohortError(f"cohort table {path} does not exist; run `gla-model cohort`.")
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise CohortError(f"cohort table {path} lacks columns {missing}; regenerate it with "
                          "`gla-model cohort`.")
    bad = sorted(set(frame["group"]) - set(vocabulary.SUBJECT_GROUPS))
    if bad:
        raise CohortError(f"cohort table {path} has groups {bad}; expected "
                          f"{list(vocabulary.SUBJECT_GROUPS)}. Regenerate it with "
                          "`gla-model cohort`.")
    return tuple(
        Subject(participant_id=r.participant_id, diagnosis=r.diagnosis, group=r.group,
                session=r.session or None, t1w=Path(r.t1w), pet=Path(r.pet) if r.pet else None)
        for r in frame.itertuples(index=False))


def cohort_frame(subjects: tuple[Subject, ...]) -> pd.DataFrame:
    """participant_id, diagnosis and group of each subject, in table order."""
    return pd.DataFrame([(s.participant_id, s.diagnosis, s.group) for s in subjects],
                        columns=["participant_id", "diagnosis", "group"])


def group_members(subjects: tuple[Subject, ...], group: str) -> list[str]:
    """Sorted participant ids of one subject group."""
    return sorted(s.participant_id for s in subjects if s.group == group)
