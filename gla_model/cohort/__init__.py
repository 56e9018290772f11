"""The cohort: which subjects, diagnoses and files the workflow runs on.

:mod:`.discover` finds them in a BIDS dataset, :mod:`.table` writes and reads the cohort
table and its sidecar, :mod:`.command` is ``gla-model cohort``. :func:`configured_cohort`
gives the Snakefile the cohort at DAG-build time, for a BIDS dataset or the demo cohort.
"""

from __future__ import annotations

from pathlib import Path

from gla_model.cohort.discover import discover_cohort, fold_problems, listed_exclusion
from gla_model.cohort.table import (
    Cohort,
    Subject,
    describe_cohort,
    read_cohort_table,
    write_cohort_table,
)
from gla_model.errors import CohortError
from gla_model.settings import CohortSettings, CvSettings

__all__ = ["Cohort", "Subject", "configured_cohort", "describe_cohort",
           "discover_cohort", "read_cohort_table", "write_cohort_table"]


def configured_cohort(*, settings: CohortSettings, cv: CvSettings, demo_root: Path) -> Cohort:
    """The cohort of the config: the demo plan (files under ``demo_root``, not yet
    written) less cohort.exclude, or a discovered BIDS dataset."""
    if settings.source == "demo":
        return _demo_cohort(settings=settings, cv=cv, demo_root=demo_root)
    return discover_cohort(
        bids_dir=Path(settings.bids_dir), diagnosis_column=settings.participants.diagnosis_column,
        diagnosis_labels=settings.participants.labels.value_lists(), n_folds=cv.n_folds,
        val_fraction=cv.val_fraction, session=settings.session,
        session_column=settings.participants.session_column,
        pet_reconstructions=settings.pet_reconstructions, exclude=settings.exclude)


def _demo_cohort(*, settings: CohortSettings, cv: CvSettings, demo_root: Path) -> Cohort:
    from gla_model.demo_cohort.plan import plan_demo_cohort

    demo = settings.demo
    plan = plan_demo_cohort(n_paired=demo.n_paired, n_mri_only=demo.n_mri_only, seed=demo.seed,
                            mci_fraction=demo.mci_fraction)
    subjects = tuple(
        Subject(participant_id=s.participant_id, diagnosis=s.diagnosis, group=s.group,
                session=None, t1w=demo_root / s.t1w, pet=s.pet and demo_root / s.pet)
        for s in plan if s.participant_id not in settings.exclude)
    problems = [f"cohort.exclude lists {label!r}, which is not a subject of the demo cohort; "
                "correct or remove it"
                for label in sorted(set(settings.exclude) - {s.participant_id for s in plan})]
    problems += fold_problems(subjects=subjects, n_folds=cv.n_folds,
                              val_fraction=cv.val_fraction)
    if problems:
        raise CohortError("the demo cohort (cohort.demo) has problems:\n  - "
                          + "\n  - ".join(problems))
    return Cohort(subjects=subjects, exclusions=tuple(
        listed_exclusion(participant_id=pid, reason=reason)
        for pid, reason in sorted(settings.exclude.items())))
