"""BIDS cohort discovery: which subjects, diagnoses and files the workflow runs on.

Runs at every DAG build, so it only lists folders (``os.scandir``, no pybids).

Files: ``sub-<label>/[ses-<label>/]anat/sub-<label>[_ses-<label>]_*T1w.nii[.gz]`` and
``.../pet/sub-<label>[_ses-<label>]_*trc-<FDG tracer>_*pet.nii[.gz]`` (tracer labels
``FDG``, ``18FFDG``, ``18FDG``, any case). Other folders and files are ignored.

Rules:
- Session: with ``session`` given, that session for everyone. Otherwise the first
  session, in preference order, that has both a T1w and an FDG PET, else the first
  that has a T1w. Preference order: labels meaning baseline (``baseline``, ``bl``,
  ``m00``, ``m000``, ``01``, ``1``, in that order, any case), then the rest in natural
  order (``2`` before ``10``). The PET always comes from the chosen session.
- Several T1w (or PET) files in one session: the lowest ``run-`` number, then the
  first name in sorted order.
- Diagnoses: ``diagnosis_labels`` maps "CN" and "AD" to participants.tsv values;
  other values (MCI...) are excluded and counted; an empty diagnosis is an error.
- Errors (all listed in one :class:`CohortError`): labels outside ``[A-Za-z0-9]+``,
  duplicate participant_ids, included participants without a T1w, subject folders
  missing from participants.tsv, empty diagnoses, a missing column, and a class with
  fewer paired subjects than cross-validation folds.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd

from gla_model import vocabulary
from gla_model.cohort.table import Cohort, Subject
from gla_model.errors import CohortError, ConfigError

LOGGER = logging.getLogger(__name__)
LABEL = re.compile(r"^[A-Za-z0-9]+$")
BASELINE_SESSIONS = ("baseline", "bl", "m00", "m000", "01", "1")
FDG_TRACERS = ("fdg", "18ffdg", "18fdg")
CLASSES = vocabulary.DIAGNOSES
_NIFTI = (".nii", ".nii.gz")
_RUN = re.compile(r"_run-(\d+)")
_TRACER = re.compile(r"_trc-([A-Za-z0-9]+)")


def discover_cohort(*, bids_dir: Path | str, diagnosis_column: str,
                    diagnosis_labels: dict[str, list[str]], n_folds: int,
                    session: str | None = None, session_column: str | None = None) -> Cohort:
    """Find the subjects of a BIDS dataset and their T1w and FDG PET files.

    Args:
        bids_dir: the dataset root (holds participants.tsv and sub-* folders).
        diagnosis_column: the participants.tsv column with the diagnosis.
        diagnosis_labels: {"CN": [values...], "AD": [values...]}.
        n_folds: cross-validation folds; each class needs at least this many paired subjects.
        session: use this session label for every subject instead of choosing.
        session_column: the column of ``sub-<label>/sub-<label>_sessions.tsv`` with the
            diagnosis at each session; where it holds a value for the chosen session, that
            value wins over participants.tsv (a diagnosis belongs to a visit).
    """
    value_to_class = _value_map(diagnosis_labels)
    bids_dir = Path(bids_dir)
    table = _read_participants(bids_dir / "participants.tsv", diagnosis_column)
    problems: list[str] = []
    rows: dict[str, str] = {}
    for raw_id, value in zip(table["participant_id"], table[diagnosis_column], strict=True):
        label = raw_id.removeprefix("sub-")
        if not LABEL.match(label):
            problems.append(f"participant_id {raw_id!r} is not a BIDS label (letters and "
                            "digits only)")
        elif label in rows:
            problems.append(f"participant_id sub-{label} appears more than once")
        rows.setdefault(label, value.strip())

    folders = _subject_folders(bids_dir, problems)
    problems += [f"folder sub-{label} is not listed in participants.tsv"
                 for label in sorted(set(folders) - set(rows))]
    subjects, excluded = [], {}
    for label, value in rows.items():
        if not LABEL.match(label):
            continue
        if label not in folders:
            if not value:
                problems.append(f"sub-{label} has an empty {diagnosis_column!r}")
            elif value in value_to_class:
                problems.append(f"sub-{label} has no folder "
                                f"(expected {bids_dir / f'sub-{label}'})")
            else:
                excluded[value] = excluded.get(value, 0) + 1
            continue
        found = _find_files(folders[label], label, "", session)
        visit_value = (_session_diagnosis(folders[label], label, found.session, session_column)
                       if found is not None and session_column else "")
        value = visit_value or value
        if not value:
            problems.append(f"sub-{label} has an empty {diagnosis_column!r}"
                            + (f" and no {session_column!r} in its sessions.tsv"
                               if session_column else ""))
        elif value not in value_to_class:
            excluded[value] = excluded.get(value, 0) + 1
        elif found is None:
            where = f"session {session!r}" if session else "any session"
            problems.append(f"sub-{label} has no T1w image in {where} "
                            f"(expected anat/sub-{label}_*T1w.nii.gz)")
        else:
            subjects.append(replace(found, diagnosis=value_to_class[value]))
    problems += _fold_problems(subjects, n_folds)
    if problems:
        raise CohortError(f"BIDS dataset {bids_dir} has {len(problems)} problem(s); fix them "
                          "and run again:\n  - " + "\n  - ".join(problems))
    if excluded:
        LOGGER.info("excluded subjects by diagnosis: %s",
                    ", ".join(f"{v}: {n}" for v, n in sorted(excluded.items())))
    return Cohort(subjects=tuple(sorted(subjects, key=lambda s: s.participant_id)),
                  excluded=excluded)


def _session_diagnosis(folder: str, label: str, session: str | None, column: str) -> str:
    """The diagnosis of ``session`` in the subject's sessions.tsv, or "" when none."""
    path = Path(folder) / f"sub-{label}_sessions.tsv"
    if session is None or not path.is_file():
        return ""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "session_id" not in table.columns:
        raise CohortError(f"{path} has no session_id column; BIDS sessions files need one.")
    if column not in table.columns:
        return ""
    match = table.loc[table["session_id"].str.removeprefix("ses-") == session, column]
    return match.iloc[0].strip() if len(match) else ""


def _value_map(diagnosis_labels: dict[str, list[str]]) -> dict[str, str]:
    if not isinstance(diagnosis_labels, dict) or set(diagnosis_labels) != set(CLASSES):
        raise ConfigError(f"diagnosis labels must map exactly {list(CLASSES)} to lists of "
                          f"participants.tsv values, got {diagnosis_labels!r}")
    mapping: dict[str, str] = {}
    for name in CLASSES:
        values = diagnosis_labels[name]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"diagnosis labels for {name} must be a non-empty list")
        for value in values:
            if mapping.get(str(value), name) != name:
                raise ConfigError(f"diagnosis value {value!r} is listed for both CN and AD")
            mapping[str(value)] = name
    return mapping


def _read_participants(path: Path, column: str) -> pd.DataFrame:
    if not path.is_file():
        raise CohortError(f"{path} does not exist; a BIDS dataset needs participants.tsv "
                          f"with columns participant_id and {column}.")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [name for name in ("participant_id", column) if name not in table.columns]
    if missing:
        raise CohortError(f"{path} has no column {' or '.join(map(repr, missing))}; its "
                          f"columns are {list(table.columns)}. Set the diagnosis column in "
                          "the config or add the column.")
    return table


def _subject_folders(bids_dir: Path, problems: list[str]) -> dict[str, str]:
    folders = {}
    with os.scandir(bids_dir) as entries:
        for entry in entries:
            if entry.name.startswith("sub-") and entry.is_dir():
                label = entry.name[4:]
                if LABEL.match(label):
                    folders[label] = entry.path
                else:
                    problems.append(f"folder {entry.name!r} is not a BIDS subject label "
                                    "(letters and digits only)")
    return folders


def _find_files(folder: str, label: str, diagnosis: str, session: str | None
                ) -> Subject | None:
    sessions = _listdir(folder)
    session_labels = [name[4:] for name, is_dir in sessions.items()
                      if is_dir and name.startswith("ses-")]
    if session is not None:
        candidates = [session] if session in session_labels else []
    elif session_labels:
        candidates = sorted(session_labels, key=_session_order)
    else:
        candidates = [None]
    prefix = f"sub-{label}_"
    found = []
    for candidate in candidates:
        base = folder if candidate is None else os.path.join(folder, f"ses-{candidate}")
        t1w = _pick(os.path.join(base, "anat"), prefix, _is_t1w)
        if t1w is not None:
            found.append((candidate, t1w, _pick(os.path.join(base, "pet"), prefix, _is_fdg_pet)))
    if not found:
        return None
    chosen_session, t1w, pet = next((f for f in found if f[2] is not None), found[0])
    return Subject(participant_id=label, diagnosis=diagnosis,
                   group=vocabulary.MRI_ONLY_SUBJECTS if pet is None else vocabulary.PAIRED,
                   session=chosen_session,
                   t1w=Path(t1w), pet=None if pet is None else Path(pet))


def _session_order(label: str) -> tuple:
    lowered = label.lower()
    if lowered in BASELINE_SESSIONS:
        return (0, BASELINE_SESSIONS.index(lowered))
    return (1, *_natural(label))


def _natural(text: str) -> tuple:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", text) if part)


def _listdir(folder: str) -> dict[str, bool]:
    try:
        with os.scandir(folder) as entries:
            return {entry.name: entry.is_dir() for entry in entries}
    except (FileNotFoundError, NotADirectoryError):
        return {}


def _pick(folder: str, prefix: str, accept) -> str | None:
    """The file of ``folder`` named ``prefix*`` that ``accept`` takes, lowest run first."""
    names = [name for name, is_dir in _listdir(folder).items()
             if not is_dir and name.startswith(prefix) and accept(name)]
    if not names:
        return None
    return os.path.join(folder, min(names, key=_run_order))


def _run_order(name: str) -> tuple:
    run = _RUN.search(name)
    return (int(run.group(1)) if run else 0, name)


def _stem(name: str) -> str | None:
    for extension in sorted(_NIFTI, key=len, reverse=True):
        if name.endswith(extension):
            return name[: -len(extension)]
    return None


def _is_t1w(name: str) -> bool:
    stem = _stem(name)
    return stem is not None and stem.endswith("_T1w")


def _is_fdg_pet(name: str) -> bool:
    stem = _stem(name)
    tracer = _TRACER.search(name)
    return (stem is not None and stem.endswith("_pet")
            and tracer is not None and tracer.group(1).lower() in FDG_TRACERS)


def _fold_problems(subjects: list[Subject], n_folds: int) -> list[str]:
    if n_folds < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {n_folds}")
    problems = []
    for name in CLASSES:
        count = sum(s.group == vocabulary.PAIRED and s.diagnosis == name for s in subjects)
        if count < n_folds:
            problems.append(f"class {name} has {count} paired subjects (T1w and FDG PET), "
                            f"fewer than the {n_folds} cross-validation folds; add subjects "
                            "or lower the number of folds")
    return problems
