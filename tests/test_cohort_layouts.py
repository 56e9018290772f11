"""Discovery of ADNI as each Clinica generation writes it (empty files; discovery reads names),
the choice among several PET reconstructions, and exclusions with their reasons."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pytest

from gla_model.cohort import configured_cohort, describe_cohort, discover_cohort
from gla_model.errors import CohortError

LABELS = {"CN": ["CN"], "MCI": ["MCI", "EMCI", "LMCI"], "AD": ["AD", "Dementia"]}
DEFAULT_RECS = ("coregiso8", "coregiso", "coregiso6", "coregstd", "coregavg", "coregdyn")


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def clinica_subject(root: Path, label: str, *, session: str = "M000", pets: tuple[str, ...] = (
        "trc-18FFDG_rec-coregiso8",)) -> None:
    """One session as Clinica 0.12 writes it; ``pets`` are the entities before ``_pet``."""
    base = root / f"sub-{label}" / f"ses-{session}"
    touch(base / "anat" / f"sub-{label}_ses-{session}_T1w.nii.gz")
    touch(base / "anat" / f"sub-{label}_ses-{session}_T1w.json")
    for entities in pets:
        touch(base / "pet" / f"sub-{label}_ses-{session}_{entities}_pet.nii.gz")
        touch(base / "pet" / f"sub-{label}_ses-{session}_{entities}_pet.json")


def participants(root: Path, rows: dict[str, str], column: str = "diagnosis_sc") -> None:
    lines = [f"participant_id\talternative_id_1\t{column}"]
    lines += [f"sub-{label}\t{label[4:7]}_S_{label[8:]}\t{dx}" for label, dx in rows.items()]
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")


def sessions(root: Path, label: str, rows: dict[str, str]) -> None:
    text = "session_id\tage\tdiagnosis\n" + "".join(
        f"ses-{session}\t74.3\t{dx}\n" for session, dx in rows.items())
    (root / f"sub-{label}" / f"sub-{label}_sessions.tsv").write_text(text)


def adni(index: int) -> str:
    return f"ADNI{2 + index:03d}S{295 + index:04d}"


def balanced(root: Path, n_per_class: int = 2, **subject) -> dict[str, str]:
    """``2 * n_per_class`` Clinica subjects, AD and CN alternating; their diagnoses."""
    rows = {}
    for index in range(2 * n_per_class):
        clinica_subject(root, adni(index), **subject)
        rows[adni(index)] = "AD" if index % 2 else "CN"
    return rows


def discover(root: Path, **overrides):
    arguments = dict(bids_dir=root, diagnosis_column="diagnosis_sc", diagnosis_labels=LABELS,
                     n_folds=2, val_fraction=0.0, session_column="diagnosis",
                     pet_reconstructions=DEFAULT_RECS)
    return discover_cohort(**{**arguments, **overrides})


def by_id(cohort):
    return {s.participant_id: s for s in cohort.subjects}


def test_clinica_0_12_adni_baseline_session_and_t1w_only_follow_ups(tmp_path):
    rows = balanced(tmp_path)
    for label in rows:
        touch(tmp_path / f"sub-{label}" / "ses-M012" / "anat" / f"sub-{label}_ses-M012_T1w.nii.gz")
    # A subject whose baseline has no PET takes the first later session with both.
    touch(tmp_path / "sub-ADNI099S0001/ses-M000/anat/sub-ADNI099S0001_ses-M000_T1w.nii.gz")
    clinica_subject(tmp_path, "ADNI099S0001", session="M024")
    clinica_subject(tmp_path, "ADNI099S0001", session="M006")
    participants(tmp_path, {**rows, "ADNI099S0001": "CN"})

    subjects = by_id(discover(tmp_path))

    first = subjects[adni(0)]
    assert (first.session, first.group, first.diagnosis) == ("M000", "paired", "CN")
    assert first.t1w == (tmp_path / f"sub-{adni(0)}/ses-M000/anat/sub-{adni(0)}_ses-M000_T1w"
                         ".nii.gz")
    assert first.pet.name == f"sub-{adni(0)}_ses-M000_trc-18FFDG_rec-coregiso8_pet.nii.gz"
    assert subjects["ADNI099S0001"].session == "M006"  # natural order: M006 before M024


def test_old_clinica_acq_fdg_without_tracer_entity(tmp_path):
    """Clinica <= 0.5 wrote ``task-rest_acq-fdg``: FDG when no trc- says otherwise."""
    rows = balanced(tmp_path, pets=("task-rest_acq-fdg",), session="M00")
    pets = [f"sub-{adni(1)}_ses-M00_task-rest_acq-{acq}_pet.nii.gz" for acq in ("av45", "FDG")]
    (tmp_path / f"sub-{adni(1)}/ses-M00/pet/sub-{adni(1)}_ses-M00_task-rest_acq-fdg_pet"
     ".nii.gz").unlink()
    for name in pets:
        touch(tmp_path / f"sub-{adni(1)}/ses-M00/pet" / name)
    # A trc- entity decides: an amyloid tracer with acq-fdg is not FDG.
    touch(tmp_path / f"sub-{adni(2)}/ses-M00/pet/sub-{adni(2)}_ses-M00_trc-AV45_acq-fdg_pet"
          ".nii.gz")
    participants(tmp_path, rows)

    subjects = by_id(discover(tmp_path))

    assert subjects[adni(0)].pet.name == f"sub-{adni(0)}_ses-M00_task-rest_acq-fdg_pet.nii.gz"
    assert subjects[adni(1)].pet.name == pets[1]  # acq-FDG, any case; never av45
    assert subjects[adni(2)].pet.name == f"sub-{adni(2)}_ses-M00_task-rest_acq-fdg_pet.nii.gz"
    assert {s.session for s in subjects.values()} == {"M00"}


@pytest.mark.parametrize(("pets", "preference", "chosen"), [
    # the preference decides, not the sorted order (coregavg sorts first)
    (("rec-coregavg", "rec-coregiso8", "rec-coregdyn"), DEFAULT_RECS, "rec-coregiso8"),
    (("rec-coregdyn", "rec-coregavg"), DEFAULT_RECS, "rec-coregavg"),
    (("rec-coregavg", "rec-coregiso8"), ("coregavg", "coregiso8"), "rec-coregavg"),
    (("rec-CoregIso8", "rec-coregstd"), DEFAULT_RECS, "rec-CoregIso8"),  # any case
    # without rec-: after the listed labels, before unlisted ones
    (("rec-coregdyn", ""), DEFAULT_RECS, "rec-coregdyn"),
    (("rec-zzz", "", "rec-aaa"), DEFAULT_RECS, ""),
    (("rec-zzz", "rec-mmm"), DEFAULT_RECS, "rec-mmm"),  # unlisted: sorted order
])
def test_pet_reconstruction_follows_the_preference(tmp_path, caplog, pets, preference, chosen):
    rows = balanced(tmp_path)
    label = adni(0)
    pet_dir = tmp_path / f"sub-{label}/ses-M000/pet"
    for path in pet_dir.iterdir():
        path.unlink()
    for rec in pets:
        touch(pet_dir / f"sub-{label}_ses-M000_trc-18FFDG{'_' + rec if rec else ''}_pet.nii.gz")
    participants(tmp_path, rows)

    with caplog.at_level(logging.INFO, logger="gla_model.cohort.discover"):
        cohort = discover(tmp_path, pet_reconstructions=preference)

    expected = f"sub-{label}_ses-M000_trc-18FFDG{'_' + chosen if chosen else ''}_pet.nii.gz"
    assert by_id(cohort)[label].pet.name == expected
    labels = cohort.pet_choices[label]
    assert labels[0] == chosen.removeprefix("rec-")
    assert sorted(labels) == sorted(rec.removeprefix("rec-") for rec in pets)
    assert list(cohort.pet_choices) == [label]  # the others have one PET each
    assert f"sub-{label}: FDG PET {expected} chosen over" in caplog.text
    assert "several reconstructions; chosen by cohort.pet_reconstructions" in describe_cohort(
        cohort=cohort)


def test_every_exclusion_has_its_reason(tmp_path):
    rows = balanced(tmp_path, n_per_class=3)
    for index, value in enumerate(("EMCI", "LMCI", "CN", "EMCI")):
        label = adni(10 + index)
        clinica_subject(tmp_path, label)
        rows[label] = value
    rows["ADNI200S0001"] = "AD"  # listed: needs no files
    rows["ADNI200S0002"] = "SMC"  # unmapped: needs no files either
    rows[adni(1)] = "AD"
    participants(tmp_path, rows)
    sessions(tmp_path, adni(10), {"M000": "MCI", "M012": "AD"})  # the chosen visit decides
    sessions(tmp_path, adni(11), {"M000": "", "M012": "AD"})  # empty: participants.tsv
    sessions(tmp_path, adni(12), {"M000": "SMC"})  # a visit can exclude ...
    sessions(tmp_path, adni(2), {"M000": "Dementia"})  # ... and include

    cohort = discover(tmp_path, exclude={"ADNI200S0001": "withdrew consent",
                                         adni(1): "failed T1w QC: motion"})

    assert {p: s.diagnosis for p, s in by_id(cohort).items()} == {
        adni(0): "CN", adni(2): "AD", adni(3): "AD", adni(4): "CN", adni(5): "AD",
        adni(10): "MCI", adni(11): "MCI", adni(13): "MCI"}
    reasons = {e.participant_id: e.reason for e in cohort.exclusions}
    assert reasons == {
        "ADNI200S0001": "cohort.exclude: withdrew consent",
        "ADNI200S0002": "diagnosis_sc 'SMC' in participants.tsv is not listed under CN, MCI "
                        "or AD in cohort.participants.labels",
        adni(1): "cohort.exclude: failed T1w QC: motion",
        adni(12): "diagnosis 'SMC' at ses-M000 in its sessions.tsv is not listed under CN, "
                  "MCI or AD in cohort.participants.labels",
    }
    assert cohort.exclusion_counts() == {"cohort.exclude": 2, "diagnosis SMC": 2}
    text = describe_cohort(cohort=cohort)
    assert text.splitlines()[0] == (
        "Cohort: 8 subjects (8 paired: 2 CN, 3 MCI, 3 AD; 0 MRI-only); 4 excluded "
        "(cohort.exclude: 2, diagnosis SMC: 2):")
    assert ("  - cohort.exclude: withdrew consent (1): sub-ADNI200S0001") in text


def test_cohort_exclude_labels_must_be_participants(tmp_path):
    participants(tmp_path, balanced(tmp_path))
    with pytest.raises(CohortError, match=re.escape(
            "cohort.exclude lists 'ADNI999S9999', which is not a participant_id of "
            f"{tmp_path / 'participants.tsv'}")):
        discover(tmp_path, exclude={"ADNI999S9999": "typo", adni(0): "motion"})


def test_exclusions_that_leave_too_few_subjects_for_the_folds(tmp_path):
    participants(tmp_path, balanced(tmp_path, n_per_class=4))
    assert len(discover(tmp_path, val_fraction=0.25).subjects) == 8
    with pytest.raises(CohortError, match=re.escape(
            "class AD has 3 paired subjects: with cv.n_folds 2 a fold's training part keeps "
            "only 1 of them, and the validation carve-out (cv.val_fraction 0.25) needs one of "
            "each class besides one to train on; add subjects (at least 4 per class for 2 "
            "folds) or set cv.n_folds to 3")):
        discover(tmp_path, val_fraction=0.25, exclude={adni(1): "motion"})


def test_demo_cohort_honours_cohort_exclude(default_settings):
    full = configured_cohort(settings=default_settings.cohort, cv=default_settings.cv,
                             demo_root=Path("d"))
    assert full.diagnosis_counts() == {"paired": {"CN": 4, "MCI": 4, "AD": 4},
                                       "mri_only": {"CN": 1, "MCI": 1, "AD": 1}}  # tiny.yaml
    settings = dataclasses.replace(default_settings.cohort,
                                   exclude={"demo015": "failed T1w QC"})  # MRI-only
    cohort = configured_cohort(settings=settings, cv=default_settings.cv, demo_root=Path("d"))
    assert "demo015" not in by_id(cohort) and len(cohort.subjects) == 14
    assert [(e.participant_id, e.reason) for e in cohort.exclusions] == [
        ("demo015", "cohort.exclude: failed T1w QC")]
    wrong = dataclasses.replace(settings, exclude={"demo999": "typo"})
    with pytest.raises(CohortError, match=re.escape(
            "cohort.exclude lists 'demo999', which is not a subject of the demo cohort")):
        configured_cohort(settings=wrong, cv=default_settings.cv, demo_root=Path("d"))
