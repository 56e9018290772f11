"""BIDS cohort discovery: which subjects, diagnoses and files the workflow runs on.

Runs at every DAG build, so it only lists folders (``os.scandir``, no pybids) and reads
participants.tsv and the subjects' sessions.tsv files.

Layouts: plain BIDS and ADNI as every Clinica version's ``adni-to-bids`` writes it.

- T1w: ``sub-<label>/[ses-<label>/]anat/sub-<label>[_ses-<label>]_*T1w.nii[.gz]``.
- FDG PET: ``.../pet/sub-<label>[_ses-<label>]_*pet.nii[.gz]`` whose ``trc-`` label is an
  FDG tracer (``FDG``, ``18FFDG``, ``18FDG``, any case; Clinica 0.6 and later write
  ``_trc-18FFDG_rec-<step>_pet``), or that has no ``trc-`` entity and ``acq-fdg`` (any
  case; Clinica 0.5 and earlier wrote ``sub-X_ses-M00_task-rest_acq-fdg_pet.nii.gz``).
  Other tracers, modalities, sidecars and folders are ignored.

Rules:

- Session: with ``session`` given, that session for everyone. Otherwise the first
  session, in preference order, that has both a T1w and an FDG PET, else the first
  that has a T1w. Preference order: labels meaning baseline (``baseline``, ``bl``,
  ``m00``, ``m000``, ``01``, ``1``, in that order, any case; ADNI's ``M00``/``M000``),
  then the rest in natural order (``M006`` before ``M012``, ``2`` before ``10``). The PET
  always comes from the chosen session.
- Several FDG PETs in the chosen session (Clinica 0.12 writes each of ADNI's processing
  steps as a ``rec-`` label: ``coregdyn``, ``coregavg``, ``coregstd``, ``coregiso8``...):
  the label that comes first in ``pet_reconstructions`` (cohort.pet_reconstructions; any
  case) wins; a PET without ``rec-`` ranks after the listed labels, then unlisted labels
  in sorted order; then the lowest ``run-``, then the name. Every such choice is logged
  and kept in :attr:`Cohort.pet_choices` (the cohort sidecar).
- Several T1w files in one session: the lowest ``run-`` number, then the name.
- Diagnoses: ``diagnosis_labels`` (cohort.participants.labels) maps participants.tsv
  values to CN, MCI and AD (by default ADNI's EMCI and LMCI count as MCI). A cohort need
  not hold all three.
- Exclusions, each with its reason (:class:`Exclusion`): participants listed in
  ``exclude`` (cohort.exclude, label -> reason), and participants whose diagnosis is not
  mapped by ``diagnosis_labels`` (ADNI's SMC by default). An excluded participant needs no
  files.
- Diagnosis: where ``sub-<label>/sub-<label>_sessions.tsv`` has a value in
  ``session_column`` for the chosen session, it wins over participants.tsv (ADNI's
  diagnoses belong to visits); an empty diagnosis is an error.
- Errors (all listed in one :class:`CohortError`): labels outside ``[A-Za-z0-9]+``,
  duplicate participant_ids, cohort.exclude labels that are not in participants.tsv,
  included participants without a folder or a T1w, subject folders missing from
  participants.tsv, empty diagnoses, a missing column, and classes (those present among
  the paired subjects) too small for the cross-validation folds
  (:func:`gla_model.folds.class_size_problems`).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from gla_model import folds, vocabulary
from gla_model.cohort.table import Cohort, Exclusion, Subject
from gla_model.errors import CohortError, ConfigError

LOGGER = logging.getLogger(__name__)
LABEL = re.compile(r"^[A-Za-z0-9]+$")
BASELINE_SESSIONS = ("baseline", "bl", "m00", "m000", "01", "1")
FDG_TRACERS = ("fdg", "18ffdg", "18fdg")
CLASSES = vocabulary.DIAGNOSES
_NIFTI = (".nii", ".nii.gz")
_RUN = re.compile(r"_run-(\d+)")
_TRACER = re.compile(r"_trc-([A-Za-z0-9]+)")
_ACQ = re.compile(r"_acq-([A-Za-z0-9]+)")
_REC = re.compile(r"_rec-([A-Za-z0-9]+)")


class _Found(NamedTuple):
    """A participant's chosen session and files, and the ``rec-`` labels of its FDG PETs
    in order of preference (the chosen one first)."""

    subject: Subject
    pet_labels: tuple[str, ...]


def discover_cohort(*, bids_dir: Path | str, diagnosis_column: str,
                    diagnosis_labels: dict[str, list[str]], n_folds: int, val_fraction: float,
                    session: str | None = None, session_column: str | None = None,
                    pet_reconstructions: Sequence[str] = (),
                    exclude: Mapping[str, str] | None = None) -> Cohort:
    """Find the subjects of a BIDS dataset and their T1w and FDG PET files.

    Args:
        bids_dir: the dataset root (holds participants.tsv and sub-* folders).
        diagnosis_column: the participants.tsv column with the diagnosis.
        diagnosis_labels: {"CN": [values...], "MCI": [values...], "AD": [values...]}.
        n_folds: cross-validation folds (cv.n_folds).
        val_fraction: the validation carve-out of each fold (cv.val_fraction); with
            ``n_folds`` it sets how many paired subjects each class needs.
        session: use this session label for every subject instead of choosing.
        session_column: the column of ``sub-<label>/sub-<label>_sessions.tsv`` with the
            diagnosis at each session; where it holds a value for the chosen session, that
            value wins over participants.tsv (a diagnosis belongs to a visit).
        pet_reconstructions: ``rec-`` labels, most preferred first (see the module doc).
        exclude: participant label (without ``sub-``) -> why it is left out.
    """
    value_to_class = _value_map(diagnosis_labels)
    bids_dir = Path(bids_dir)
    participants = bids_dir / "participants.tsv"
    exclude = {str(label): str(reason) for label, reason in (exclude or {}).items()}
    preference = [label.lower() for label in pet_reconstructions]
    problems: list[str] = []
    rows = _participant_rows(participants, diagnosis_column, problems)
    problems += [f"cohort.exclude lists {label!r}, which is not a participant_id of "
                 f"{participants}; correct the label (without sub-) or remove it"
                 for label in sorted(set(exclude) - set(rows))]
    folders = _subject_folders(bids_dir, problems)
    problems += [f"folder sub-{label} is not listed in participants.tsv"
                 for label in sorted(set(folders) - set(rows))]
    subjects, exclusions, pet_choices = [], [], {}
    for label, value in rows.items():
        if not LABEL.match(label):
            continue
        if label in exclude:
            exclusions.append(listed_exclusion(participant_id=label, reason=exclude[label]))
            continue
        found = (_find_files(folders[label], label, session, preference)
                 if label in folders else None)
        source = f"{diagnosis_column} {value!r} in participants.tsv"
        if found is not None and session_column:
            visit = _session_diagnosis(folders[label], label, found.subject.session,
                                       session_column)
            if visit:
                value = visit
                source = (f"{session_column} {visit!r} at ses-{found.subject.session} "
                          "in its sessions.tsv")
        if not value:
            problems.append(f"sub-{label} has an empty {diagnosis_column!r}"
                            + (f" and no {session_column!r} in its sessions.tsv"
                               if session_column and label in folders else ""))
        elif value not in value_to_class:
            exclusions.append(Exclusion(
                participant_id=label, cause=f"diagnosis {value}",
                reason=f"{source} is not listed under {', '.join(CLASSES[:-1])} or "
                       f"{CLASSES[-1]} in cohort.participants.labels"))
        elif label not in folders:
            problems.append(f"sub-{label} has no folder (expected {bids_dir / f'sub-{label}'})")
        elif found is None:
            where = f"session {session!r}" if session else "any session"
            problems.append(f"sub-{label} has no T1w image in {where} "
                            f"(expected anat/sub-{label}_*T1w.nii.gz)")
        else:
            subjects.append(replace(found.subject, diagnosis=value_to_class[value]))
            if len(found.pet_labels) > 1:
                pet_choices[label] = found.pet_labels
    problems += fold_problems(subjects=subjects, n_folds=n_folds, val_fraction=val_fraction)
    if problems:
        raise CohortError(f"BIDS dataset {bids_dir} has {len(problems)} problem(s); fix them "
                          "and run again:\n  - " + "\n  - ".join(problems))
    return Cohort(subjects=tuple(sorted(subjects, key=lambda s: s.participant_id)),
                  exclusions=tuple(sorted(exclusions, key=lambda e: e.participant_id)),
                  pet_choices=dict(sorted(pet_choices.items())))


def listed_exclusion(*, participant_id: str, reason: str) -> Exclusion:
    """The exclusion of a participant listed in cohort.exclude with ``reason``."""
    return Exclusion(participant_id=participant_id, cause="cohort.exclude",
                     reason=f"cohort.exclude: {reason}")


def fold_problems(*, subjects: Sequence[Subject], n_folds: int,
                  val_fraction: float) -> list[str]:
    """Why the paired subjects cannot be split into the cross-validation folds (the
    diagnoses they hold; one that none of them has is no problem)."""
    paired = [s.diagnosis for s in subjects if s.group == vocabulary.PAIRED]
    return folds.class_size_problems(
        counts={name: paired.count(name) for name in CLASSES if name in paired},
        n_folds=n_folds, val_fraction=val_fraction)


def _participant_rows(path: Path, column: str, problems: list[str]) -> dict[str, str]:
    """participants.tsv as label -> diagnosis value (stripped), in file order."""
    table = _read_participants(path, column)
    rows: dict[str, str] = {}
    for raw_id, value in zip(table["participant_id"], table[column], strict=True):
        label = raw_id.removeprefix("sub-")
        if not LABEL.match(label):
            problems.append(f"participant_id {raw_id!r} is not a BIDS label (letters and "
                            "digits only)")
        elif label in rows:
            problems.append(f"participant_id sub-{label} appears more than once")
        rows.setdefault(label, value.strip())
    return rows


def _session_diagnosis(folder: str, label: str, session: str | None, column: str) -> str:
    """The diagnosis of ``session`` in the subject's sessions.tsv, or "" when none."""
    path = Path(folder) / f"sub-{label}_sessions.tsv"
    if session is None or not path.is_file():
        return ""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        if "session_id" not in (reader.fieldnames or ()):
            raise CohortError(f"{path} has no session_id column; BIDS sessions files need "
                              "one.")
        for row in reader:
            if (row["session_id"] or "").strip().removeprefix("ses-") == session:
                return (row.get(column) or "").strip()
    return ""


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
                raise ConfigError(f"diagnosis value {value!r} is listed for both "
                                  f"{mapping[str(value)]} and {name}")
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


def _find_files(folder: str, label: str, session: str | None,
                preference: Sequence[str]) -> _Found | None:
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
        t1w = _files(os.path.join(base, "anat"), prefix, _is_t1w, _run_order)
        if t1w:
            pets = _files(os.path.join(base, "pet"), prefix, _is_fdg_pet,
                          lambda name: _pet_order(name, preference))
            found.append((candidate, t1w[0], pets))
    if not found:
        return None
    chosen_session, t1w, pets = next((f for f in found if f[2]), found[0])
    labels = tuple(dict.fromkeys(_rec_label(os.path.basename(p)) for p in pets))
    if len(labels) > 1:
        LOGGER.info("sub-%s: FDG PET %s chosen over %s (cohort.pet_reconstructions)", label,
                    os.path.basename(pets[0]), ", ".join(os.path.basename(p) for p in pets[1:]))
    subject = Subject(participant_id=label, diagnosis="",
                      group=vocabulary.PAIRED if pets else vocabulary.MRI_ONLY_SUBJECTS,
                      session=chosen_session, t1w=Path(t1w),
                      pet=Path(pets[0]) if pets else None)
    return _Found(subject=subject, pet_labels=labels)


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


def _files(folder: str, prefix: str, accept, order) -> list[str]:
    """The files of ``folder`` named ``prefix*`` that ``accept`` takes, best first."""
    names = [name for name, is_dir in _listdir(folder).items()
             if not is_dir and name.startswith(prefix) and accept(name)]
    return [os.path.join(folder, name) for name in sorted(names, key=order)]


def _run_order(name: str) -> tuple:
    run = _RUN.search(name)
    return (int(run.group(1)) if run else 0, name)


def _rec_label(name: str) -> str:
    rec = _REC.search(name)
    return rec.group(1) if rec else ""


def _pet_order(name: str, preference: Sequence[str]) -> tuple:
    """Listed ``rec-`` labels in their order, then no ``rec-``, then the rest sorted."""
    label = _rec_label(name)
    if label.lower() in preference:
        rank = (0, preference.index(label.lower()), "")
    elif not label:
        rank = (1, 0, "")
    else:
        rank = (2, 0, label)
    return (*rank, *_run_order(name))


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
    if stem is None or not stem.endswith("_pet"):
        return False
    tracer = _TRACER.search(stem)
    if tracer is not None:
        return tracer.group(1).lower() in FDG_TRACERS
    acquisition = _ACQ.search(stem)
    return acquisition is not None and acquisition.group(1).lower() == "fdg"
