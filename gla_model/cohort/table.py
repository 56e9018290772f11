"""The cohort table (``results/cohort/cohort.tsv``, one typed row per subject) and its JSON
sidecar (``cohort.json``: who was excluded and why, which PET reconstruction was chosen)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gla_model import vocabulary
from gla_model.errors import CohortError
from gla_model.layout import cohort_sidecar_path
from gla_model.niftiio import write_text_atomic

COLUMNS = ("participant_id", "diagnosis", "group", "session", "t1w", "pet")
#: How a PET without a ``rec-`` entity is shown among reconstruction labels.
NO_REC = "(no rec-)"


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
class Exclusion:
    """A participant of participants.tsv left out of everything downstream.

    ``cause`` is what exclusions are counted by (``cohort.exclude``, ``diagnosis MCI``);
    ``reason`` is the sentence the console, the sidecar and the report show.
    """

    participant_id: str
    cause: str
    reason: str


@dataclass(frozen=True)
class Cohort:
    """The included subjects, the excluded participants, and the PET reconstructions
    chosen where a session had several (participant -> ``rec-`` labels, chosen first;
    ``""`` for a PET without ``rec-``)."""

    subjects: tuple[Subject, ...]
    exclusions: tuple[Exclusion, ...] = ()
    pet_choices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def paired(self) -> tuple[Subject, ...]:
        return tuple(s for s in self.subjects if s.group == vocabulary.PAIRED)

    def diagnosis_counts(self) -> dict[str, dict[str, int]]:
        """Subjects per diagnosis (those present, in :data:`vocabulary.DIAGNOSES` order) per
        subject group."""
        counts = Counter((s.group, s.diagnosis) for s in self.subjects)
        return {group: {d: counts[group, d] for d in vocabulary.DIAGNOSES if counts[group, d]}
                for group in vocabulary.SUBJECT_GROUPS}

    def exclusion_counts(self) -> dict[str, int]:
        """Excluded participants per cause, in sorted order of the cause."""
        return dict(sorted(Counter(e.cause for e in self.exclusions).items()))


def write_cohort_table(*, cohort: Cohort, path: Path | str) -> Path:
    """Write the cohort table (one row per subject, columns :data:`COLUMNS`) and its sidecar
    (:func:`gla_model.layout.cohort_sidecar_path`)."""
    frame = pd.DataFrame(
        [[s.participant_id, s.diagnosis, s.group, s.session or "", str(s.t1w),
          "" if s.pet is None else str(s.pet)] for s in cohort.subjects],
        columns=list(COLUMNS))
    paired = len(cohort.paired())
    sidecar = {
        "included": {"subjects": len(cohort.subjects), vocabulary.PAIRED: paired,
                     vocabulary.MRI_ONLY_SUBJECTS: len(cohort.subjects) - paired},
        "diagnoses": cohort.diagnosis_counts(),
        "excluded_counts": cohort.exclusion_counts(),
        "excluded": {e.participant_id: e.reason for e in cohort.exclusions},
        "pet_reconstructions": {pid: list(labels) for pid, labels in cohort.pet_choices.items()},
    }
    write_text_atomic(json.dumps(sidecar, indent=2) + "\n", cohort_sidecar_path(cohort_table=path))
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


def read_exclusions(*, cohort_table: Path | str) -> dict[str, str] | None:
    """Excluded participant -> reason, from the sidecar beside ``cohort_table``; None when
    the table has no sidecar (written by hand or by an older version)."""
    path = cohort_sidecar_path(cohort_table=cohort_table)
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text())["excluded"])
    except (ValueError, KeyError, TypeError) as error:
        raise CohortError(f"{path} is not a cohort sidecar ({error}); regenerate it with "
                          "`gla-model cohort`.") from error


def exclusion_lines(*, excluded: Mapping[str, str]) -> list[str]:
    """One line per distinct reason: the reason, how many, and the participants."""
    by_reason: dict[str, list[str]] = {}
    for participant, reason in excluded.items():
        by_reason.setdefault(reason, []).append(f"sub-{participant}")
    return [f"{reason} ({len(ids)}): {', '.join(sorted(ids))}"
            for reason, ids in sorted(by_reason.items())]


def describe_cohort(*, cohort: Cohort) -> str:
    """What discovery found, for the console: subjects per group and diagnosis, exclusions,
    PET reconstructions."""
    subjects, exclusions, choices = cohort.subjects, cohort.exclusions, cohort.pet_choices
    groups = []
    for group, counts in cohort.diagnosis_counts().items():
        name = "paired" if group == vocabulary.PAIRED else "MRI-only"
        groups.append(f"{sum(counts.values())} {name}" + (": " if counts else "")
                      + ", ".join(f"{n} {d}" for d, n in counts.items()))
    lines = [f"Cohort: {len(subjects)} subjects ({'; '.join(groups)})"]
    if exclusions:
        counts = ", ".join(f"{cause}: {n}" for cause, n in cohort.exclusion_counts().items())
        lines[0] += f"; {len(exclusions)} excluded ({counts}):"
        reasons = {e.participant_id: e.reason for e in exclusions}
        lines += [f"  - {line}" for line in exclusion_lines(excluded=reasons)]
    if choices:
        chosen = Counter(f"rec-{labels[0]}" if labels[0] else NO_REC
                         for labels in choices.values())
        lines.append(f"FDG PET: {len(choices)} sessions hold several reconstructions; chosen "
                     "by cohort.pet_reconstructions: "
                     + ", ".join(f"{label} for {n}" for label, n in sorted(chosen.items())))
    return "\n".join(lines)


def cohort_frame(subjects: tuple[Subject, ...]) -> pd.DataFrame:
    """participant_id, diagnosis and group of each subject, in table order."""
    return pd.DataFrame([(s.participant_id, s.diagnosis, s.group) for s in subjects],
                        columns=["participant_id", "diagnosis", "group"])


def group_members(subjects: tuple[Subject, ...], group: str) -> list[str]:
    """Sorted participant ids of one subject group."""
    return sorted(s.participant_id for s in subjects if s.group == group)
