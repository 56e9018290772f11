"""The plan of the built-in synthetic cohort: who is in it and which files it has.

Pure and instant (no image work), so the Snakefile can know the subjects at
DAG-build time; :func:`gla_model.demo_cohort.write.write_demo_cohort` follows the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Some paired subjects get a multi-frame (4D) PET, as ADNI delivers them.
MULTI_FRAME_EVERY = 3
MULTI_FRAME_RANGE = (3, 6)


@dataclass(frozen=True)
class DemoSubject:
    """One planned subject; paths are relative to the dataset root."""

    participant_id: str
    index: int
    diagnosis: str
    group: str
    pet_frames: int
    t1w: str
    pet: str | None
    truth_dir: str


def plan_demo_cohort(*, n_paired: int, n_mri_only: int, seed: int,
                     mci_fraction: float = 0.0) -> list[DemoSubject]:
    """Subjects of the demo cohort: paired ones first, then MRI-only.

    In each group, :func:`mci_count` of them are MCI and the rest CN and AD, balanced (CN
    gets the odd one); the order within a group is a seeded shuffle.

    Args:
        n_paired: subjects with a T1w and an FDG PET.
        n_mri_only: subjects with a T1w only.
        seed: the seed; diagnoses and frame counts depend on it.
        mci_fraction: share of each group that is MCI, in [0, 1) (``cohort.demo.mci_fraction``;
            0: CN and AD only, the plan of earlier versions for the same seed).
    """
    if n_paired < 0 or n_mri_only < 0 or n_paired + n_mri_only == 0:
        raise ValueError(f"need a non-empty cohort, got n_paired={n_paired}, "
                         f"n_mri_only={n_mri_only}")
    if not 0.0 <= mci_fraction < 1.0:
        raise ValueError(f"mci_fraction must be in [0, 1), got {mci_fraction!r}")
    rng = np.random.default_rng([seed, 0])
    subjects = []
    for group, count in (("paired", n_paired), ("mri_only", n_mri_only)):
        n_mci = mci_count(count=count, mci_fraction=mci_fraction)
        balanced = np.resize(np.array(["CN", "AD"]), count - n_mci)
        diagnoses = rng.permutation(np.concatenate([balanced, np.full(n_mci, "MCI")]))
        for position, diagnosis in enumerate(diagnoses):
            index = len(subjects) + 1
            frames = 0
            if group == "paired":
                multi = position % MULTI_FRAME_EVERY == MULTI_FRAME_EVERY - 1
                low, high = MULTI_FRAME_RANGE
                frames = int(rng.integers(low, high + 1)) if multi else 1
            subjects.append(_subject(index=index, diagnosis=str(diagnosis), group=group,
                                     pet_frames=frames))
    return subjects


def mci_count(*, count: int, mci_fraction: float) -> int:
    """MCI subjects among ``count``: ``count * mci_fraction`` rounded half up."""
    return int(np.floor(count * mci_fraction + 0.5))


def _subject(*, index: int, diagnosis: str, group: str, pet_frames: int) -> DemoSubject:
    label = f"demo{index:03d}"
    sub = f"sub-{label}"
    return DemoSubject(
        participant_id=label,
        index=index,
        diagnosis=diagnosis,
        group=group,
        pet_frames=pet_frames,
        t1w=f"{sub}/anat/{sub}_T1w.nii.gz",
        pet=f"{sub}/pet/{sub}_trc-FDG_pet.nii.gz" if group == "paired" else None,
        truth_dir=f"derivatives/truth/{sub}",
    )
