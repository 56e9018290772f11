"""The cohort: which subjects, diagnoses and files the workflow runs on.

:mod:`.discover` finds them in a BIDS dataset, :mod:`.table` writes and reads the cohort
table, :mod:`.command` is ``gla-model cohort``. :func:`cohort_subjects` gives the
Snakefile the subjects at DAG-build time, for a BIDS dataset or the demo cohort.
"""

from __future__ import annotations

from pathlib import Path

from gla_model.cohort.discover import discover_cohort
from gla_model.cohort.table import Cohort, Subject, read_cohort_table, write_cohort_table
from gla_model.settings import CohortSettings

__all__ = ["Cohort", "Subject", "cohort_subjects", "discover_cohort", "read_cohort_table",
           "write_cohort_table"]


def cohort_subjects(*, settings: CohortSettings, n_folds: int, demo_root: Path
                    ) -> tuple[Subject, ...]:
    """The subjects of the configured cohort: the demo plan (files under ``demo_root``,
    not yet written) or a discovered BIDS dataset."""
    if settings.source == "demo":
        from gla_model.demo_cohort.plan import plan_demo_cohort

        demo = settings.demo
        return tuple(
            Subject(participant_id=s.participant_id, diagnosis=s.diagnosis, group=s.group,
                    session=None, t1w=demo_root / s.t1w, pet=s.pet and demo_root / s.pet)
            for s in plan_demo_cohort(n_paired=demo.n_paired, n_mri_only=demo.n_mri_only,
                                      seed=demo.seed))
    return discover_cohort(
        bids_dir=Path(settings.bids_dir), diagnosis_column=settings.participants.diagnosis_column,
        diagnosis_labels=settings.participants.labels.value_lists(), n_folds=n_folds,
        session=settings.session,
        session_column=settings.participants.session_column).subjects
