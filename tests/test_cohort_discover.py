"""Cohort discovery over fake BIDS layouts (empty files), its validation and the table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gla_model.cli import main
from gla_model.cohort import (
    Cohort,
    Subject,
    describe_cohort,
    discover_cohort,
    read_cohort_table,
    write_cohort_table,
)
from gla_model.cohort.table import read_exclusions
from gla_model.errors import CohortError, ConfigError

#: The defaults of config.yaml (cohort.participants.labels), less "Normal".
LABELS = {"CN": ["CN", "Control"], "MCI": ["MCI", "EMCI", "LMCI"], "AD": ["AD", "Dementia"]}


def make_subject(root: Path, label: str, *, session: str | None = None, pet: bool = True,
                 extension: str = ".nii.gz", t1w: bool = True, run: str = "") -> None:
    folder = root / f"sub-{label}" / (f"ses-{session}" if session else "")
    entity = f"_ses-{session}" if session else ""
    (folder / "anat").mkdir(parents=True, exist_ok=True)
    if t1w:
        (folder / "anat" / f"sub-{label}{entity}{run}_T1w{extension}").touch()
    if pet:
        (folder / "pet").mkdir(exist_ok=True)
        (folder / "pet" / f"sub-{label}{entity}_trc-FDG_pet{extension}").touch()


def write_participants(root: Path, rows: list[tuple[str, str]], column: str = "diagnosis"
                       ) -> None:
    lines = [f"participant_id\t{column}\tage"] + [f"{pid}\t{dx}\t70" for pid, dx in rows]
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")


def simple_dataset(root: Path, *, n_per_class: int = 2) -> None:
    rows = []
    for index in range(n_per_class * 2):
        label = f"s{index:02d}"
        make_subject(root, label)
        rows.append((f"sub-{label}", "CN" if index % 2 else "AD"))
    write_participants(root, rows)


def discover(root: Path, **overrides) -> Cohort:
    arguments = dict(bids_dir=root, diagnosis_column="diagnosis", diagnosis_labels=LABELS,
                     n_folds=2, val_fraction=0.0)
    arguments.update(overrides)
    return discover_cohort(**arguments)


def test_flat_layout_with_mri_only_nii_and_extra_modalities(tmp_path):
    simple_dataset(tmp_path)
    make_subject(tmp_path, "mri", pet=False, extension=".nii")
    (tmp_path / "sub-mri" / "func").mkdir()
    (tmp_path / "sub-mri" / "func" / "sub-mri_task-rest_bold.nii.gz").touch()
    (tmp_path / "sub-s00" / "anat" / "sub-s00_T2w.nii.gz").touch()
    (tmp_path / "sub-s00" / "anat" / "sub-s00_T1w.json").touch()
    (tmp_path / "sub-s00" / "pet" / "sub-s00_trc-PIB_pet.nii.gz").touch()
    (tmp_path / "README").write_text("x")
    rows = [(f"sub-s{i:02d}", "Control" if i % 2 else "Dementia") for i in range(4)]
    write_participants(tmp_path, [*rows, ("sub-mri", "AD")])

    cohort = discover(tmp_path)

    by_id = {s.participant_id: s for s in cohort.subjects}
    assert sorted(by_id) == ["mri", "s00", "s01", "s02", "s03"]
    assert by_id["mri"] == Subject(participant_id="mri", diagnosis="AD", group="mri_only",
                                   session=None, t1w=tmp_path / "sub-mri/anat/sub-mri_T1w.nii",
                                   pet=None)
    assert by_id["s00"].diagnosis == "AD" and by_id["s01"].diagnosis == "CN"
    assert by_id["s00"].t1w.name == "sub-s00_T1w.nii.gz"
    assert by_id["s00"].pet.name == "sub-s00_trc-FDG_pet.nii.gz"
    assert len(cohort.paired()) == 4


def test_other_diagnoses_are_excluded_and_counted(tmp_path):
    simple_dataset(tmp_path)
    make_subject(tmp_path, "smc1")
    rows = [(f"sub-s{i:02d}", "CN" if i % 2 else "AD") for i in range(4)]
    # an excluded subject needs no files
    write_participants(tmp_path, [*rows, ("sub-smc1", "SMC"), ("sub-smc2", "SMC")])
    (tmp_path / "sub-smc2").mkdir()

    cohort = discover(tmp_path)

    assert cohort.exclusion_counts() == {"diagnosis SMC": 2}
    assert [e.participant_id for e in cohort.exclusions] == ["smc1", "smc2"]
    assert cohort.exclusions[0].reason == ("diagnosis 'SMC' in participants.tsv is not listed "
                                           "under CN, MCI or AD in cohort.participants.labels")
    assert "smc1" not in {s.participant_id for s in cohort.subjects}


def mci_dataset(root: Path) -> None:
    """2 CN and 2 AD paired, and ADNI's MCI labels on 2 paired subjects each (MCI, EMCI,
    LMCI), 1 EMCI MRI-only and 2 SMC paired subjects."""
    simple_dataset(root)
    rows = [(f"sub-s{i:02d}", "CN" if i % 2 else "AD") for i in range(4)]
    for label, value in (("m1", "MCI"), ("m2", "MCI"), ("e1", "EMCI"), ("e2", "EMCI"),
                         ("l1", "LMCI"), ("l2", "LMCI"), ("smc1", "SMC"), ("smc2", "SMC")):
        make_subject(root, label)
        rows.append((f"sub-{label}", value))
    make_subject(root, "e3", pet=False)
    write_participants(root, [*rows, ("sub-e3", "EMCI")])


def test_emci_and_lmci_are_mci_and_smc_is_excluded_unless_mapped(tmp_path):
    mci_dataset(tmp_path)

    cohort = discover(tmp_path)

    diagnoses = {s.participant_id: s.diagnosis for s in cohort.subjects}
    assert {p for p, d in diagnoses.items() if d == "MCI"} == {"m1", "m2", "e1", "e2", "l1",
                                                               "l2", "e3"}
    assert cohort.exclusion_counts() == {"diagnosis SMC": 2}
    assert cohort.diagnosis_counts() == {"paired": {"CN": 2, "MCI": 6, "AD": 2},
                                         "mri_only": {"MCI": 1}}
    # Mapped, SMC is included as what it is mapped to.
    mapped = discover(tmp_path, diagnosis_labels={**LABELS, "CN": ["CN", "Control", "SMC"]})
    assert {s.participant_id: s.diagnosis for s in mapped.subjects}["smc1"] == "CN"
    assert mapped.exclusions == ()
    assert mapped.diagnosis_counts()["paired"] == {"CN": 4, "MCI": 6, "AD": 2}


def test_cohort_description_counts_each_diagnosis_per_group(tmp_path):
    mci_dataset(tmp_path)
    text = describe_cohort(cohort=discover(tmp_path))
    assert text.splitlines()[0] == (
        "Cohort: 11 subjects (10 paired: 2 CN, 6 MCI, 2 AD; 1 MRI-only: 1 MCI); 2 excluded "
        "(diagnosis SMC: 2):")
    simple_dataset(tmp_path / "no_mci")  # no MCI, no MRI-only subject
    assert describe_cohort(cohort=discover(tmp_path / "no_mci")) == (
        "Cohort: 4 subjects (4 paired: 2 CN, 2 AD; 0 MRI-only)")


def test_folds_check_the_diagnoses_present(tmp_path):
    """A cohort without MCI is fine; an MCI class too small for the folds is not, and an
    MCI class of MRI-only subjects alone does not enter the (paired) folds."""
    simple_dataset(tmp_path, n_per_class=2)
    assert len(discover(tmp_path, n_folds=2).subjects) == 4
    make_subject(tmp_path, "m1")
    make_subject(tmp_path, "m2", pet=False)
    rows = [(f"sub-s{i:02d}", "CN" if i % 2 else "AD") for i in range(4)]
    write_participants(tmp_path, [*rows, ("sub-m1", "LMCI"), ("sub-m2", "MCI")])
    with pytest.raises(CohortError, match=re.escape(
            "class MCI has 1 paired subjects (T1w and FDG PET), fewer than cv.n_folds (2)")) \
            as caught:
        discover(tmp_path, n_folds=2)
    assert "class CN" not in str(caught.value) and "class AD" not in str(caught.value)
    write_participants(tmp_path, [*rows, ("sub-m2", "MCI")])
    (tmp_path / "sub-m1").rename(tmp_path / "gone")
    assert discover(tmp_path, n_folds=2).diagnosis_counts() == {
        "paired": {"CN": 2, "AD": 2}, "mri_only": {"MCI": 1}}


def test_participant_ids_without_prefix_are_accepted(tmp_path):
    simple_dataset(tmp_path)
    write_participants(tmp_path, [(f"s{i:02d}", "CN" if i % 2 else "AD") for i in range(4)])
    assert len(discover(tmp_path).subjects) == 4


def test_session_choice_prefers_baseline_with_pet_then_natural_order(tmp_path):
    make_subject(tmp_path, "a", session="m12")
    make_subject(tmp_path, "a", session="bl")  # baseline name wins
    make_subject(tmp_path, "b", session="10")
    make_subject(tmp_path, "b", session="2")  # natural order: 2 before 10
    make_subject(tmp_path, "c", session="bl", pet=False)
    make_subject(tmp_path, "c", session="m06")  # the first session with PET wins
    make_subject(tmp_path, "d", session="bl", pet=False)
    make_subject(tmp_path, "d", session="m06", pet=False)  # no PET anywhere: first T1w
    make_subject(tmp_path, "e", session="bl", t1w=False)
    make_subject(tmp_path, "e", session="m06", pet=False)  # only session with a T1w
    write_participants(tmp_path, [("sub-a", "CN"), ("sub-b", "AD"), ("sub-c", "CN"),
                                  ("sub-d", "AD"), ("sub-e", "AD")])

    with pytest.raises(CohortError, match="class AD has 1 paired"):
        discover(tmp_path)
    make_subject(tmp_path, "f")
    write_participants(tmp_path, [("sub-a", "CN"), ("sub-b", "AD"), ("sub-c", "CN"),
                                  ("sub-d", "AD"), ("sub-e", "AD"), ("sub-f", "AD")])
    chosen = {s.participant_id: (s.session, s.group) for s in discover(tmp_path).subjects}

    assert chosen == {"a": ("bl", "paired"), "b": ("2", "paired"), "c": ("m06", "paired"),
                      "d": ("bl", "mri_only"), "e": ("m06", "mri_only"), "f": (None, "paired")}
    subject_a = next(s for s in discover(tmp_path).subjects if s.participant_id == "a")
    assert subject_a.t1w.parent.parent.name == "ses-bl"
    assert subject_a.pet.parent.parent.name == "ses-bl"


def test_explicit_session_is_used_for_everyone(tmp_path):
    for label in "abcd":
        make_subject(tmp_path, label, session="bl")
        make_subject(tmp_path, label, session="m12")
    write_participants(tmp_path, [("sub-a", "CN"), ("sub-b", "CN"), ("sub-c", "AD"),
                                  ("sub-d", "AD")])
    assert {s.session for s in discover(tmp_path, session="m12").subjects} == {"m12"}
    with pytest.raises(CohortError, match="no T1w image in session 'm24'"):
        discover(tmp_path, session="m24")


def test_lowest_run_is_chosen(tmp_path):
    simple_dataset(tmp_path)
    anat = tmp_path / "sub-s00" / "anat"
    (anat / "sub-s00_T1w.nii.gz").unlink()
    (anat / "sub-s00_run-10_T1w.nii.gz").touch()
    (anat / "sub-s00_run-2_T1w.nii.gz").touch()
    subject = next(s for s in discover(tmp_path).subjects if s.participant_id == "s00")
    assert subject.t1w.name == "sub-s00_run-2_T1w.nii.gz"


def test_every_problem_is_reported_at_once(tmp_path):
    simple_dataset(tmp_path, n_per_class=2)
    make_subject(tmp_path, "stray")  # folder not in participants.tsv
    (tmp_path / "sub-bad_id").mkdir()  # folder with an invalid label
    (tmp_path / "sub-nofile" / "anat").mkdir(parents=True)  # no T1w file
    rows = [(f"sub-s{i:02d}", "CN" if i % 2 else "AD") for i in range(4)]
    write_participants(tmp_path, [*rows, ("sub-s00", "AD"), ("sub-../x", "CN"),
                                  ("sub-empty", ""), ("sub-nofile", "CN"), ("sub-gone", "AD")])

    with pytest.raises(CohortError, match=re.escape(
            f"BIDS dataset {tmp_path} has 7 problem(s); fix them and run again:\n  - ")) as caught:
        discover(tmp_path)

    message = str(caught.value)
    for expected in ("sub-s00 appears more than once", "'sub-../x' is not a BIDS label",
                     "sub-empty has an empty 'diagnosis'", "sub-nofile has no T1w image",
                     "sub-gone has no folder", "folder sub-stray is not listed",
                     "folder 'sub-bad_id' is not a BIDS subject label"):
        assert expected in message, expected
    assert str(tmp_path) in message


def test_missing_diagnosis_column_names_the_available_columns(tmp_path):
    simple_dataset(tmp_path)
    with pytest.raises(CohortError, match=r"no column 'dx'.*\['participant_id', 'diagnosis'"):
        discover(tmp_path, diagnosis_column="dx")


def test_missing_participants_tsv(tmp_path):
    make_subject(tmp_path, "a")
    with pytest.raises(CohortError, match=r"participants\.tsv does not exist"):
        discover(tmp_path)


def test_class_smaller_than_folds(tmp_path):
    simple_dataset(tmp_path, n_per_class=3)
    make_subject(tmp_path, "mri", pet=False)  # MRI-only subjects do not count
    rows = [(f"sub-s{i:02d}", "CN" if i % 2 else "AD") for i in range(6)]
    write_participants(tmp_path, [*rows, ("sub-mri", "CN")])
    assert len(discover(tmp_path, n_folds=3).subjects) == 7
    with pytest.raises(CohortError, match=r"class CN has 3 paired.*fewer than cv\.n_folds \(4\)"):
        discover(tmp_path, n_folds=4)


@pytest.mark.parametrize(("labels", "expected"), [
    ({"CN": ["CN"], "AD": ["AD"]}, "diagnosis labels must map exactly ['CN', 'MCI', 'AD'] to "
                                   "lists of participants.tsv values, got {'CN': ['CN'], "
                                   "'AD': ['AD']}"),
    ({"CN": ["CN"], "MCI": ["MCI"], "AD": "AD"},
     "diagnosis labels for AD must be a non-empty list"),
    ({"CN": ["CN"], "MCI": [], "AD": ["AD"]}, "diagnosis labels for MCI must be a non-empty list"),
    ({"CN": ["CN", "X"], "MCI": ["MCI"], "AD": ["AD", "X"]},
     "diagnosis value 'X' is listed for both CN and AD"),
    ({"CN": ["CN"], "MCI": ["MCI", "SMC"], "AD": ["AD", "SMC"]},
     "diagnosis value 'SMC' is listed for both MCI and AD"),
])
def test_bad_label_maps_are_config_errors(tmp_path, labels, expected):
    simple_dataset(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        discover(tmp_path, diagnosis_labels=labels)


def test_table_round_trip(tmp_path):
    simple_dataset(tmp_path)
    make_subject(tmp_path, "mri", pet=False, session="bl")
    rows = [(f"sub-s{i:02d}", "CN" if i % 2 else "AD") for i in range(4)]
    write_participants(tmp_path, [*rows, ("sub-mri", "CN")])
    cohort = discover(tmp_path)
    path = write_cohort_table(cohort=cohort, path=tmp_path / "out" / "cohort.tsv")
    header = path.read_text().splitlines()[0].split("\t")
    assert header == ["participant_id", "diagnosis", "group", "session", "t1w", "pet"]
    assert read_cohort_table(path=path) == cohort.subjects


def test_cli_writes_table_sidecar_and_reports_errors(tmp_path, capsys):
    simple_dataset(tmp_path, n_per_class=5)
    write_participants(tmp_path, [*((f"sub-s{i:02d}", "CN" if i % 2 else "AD")
                                    for i in range(10)), ("sub-smc", "SMC")])
    out = tmp_path / "results" / "cohort.tsv"

    def settings(n_folds: int, val_fraction: float = 0.25) -> str:
        return json.dumps({"cohort.participants": {"diagnosis_column": "diagnosis",
                                                   "session_column": None,
                                                   "labels": LABELS},
                           "cohort.session": None, "cohort.exclude": {"s09": "motion"},
                           "cohort.pet_reconstructions": ["coregiso8"],
                           "cv.n_folds": n_folds, "cv.val_fraction": val_fraction})

    arguments = ["cohort", "--bids-dir", str(tmp_path), "--out", str(out)]
    assert main([*arguments, "--settings", settings(2)]) == 0
    assert len(read_cohort_table(path=out)) == 9
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["included"] == {"subjects": 9, "paired": 9, "mri_only": 0}
    assert sidecar["diagnoses"] == {"paired": {"CN": 4, "AD": 5}, "mri_only": {}}
    assert sidecar["excluded_counts"] == {"cohort.exclude": 1, "diagnosis SMC": 1}
    assert sidecar["excluded"]["s09"] == "cohort.exclude: motion"
    assert read_exclusions(cohort_table=out) == sidecar["excluded"]
    # 4 CN are left after the exclusion: fewer than 5 folds
    assert main([*arguments, "--settings", settings(5)]) == 2
    assert "class CN has 4 paired subjects (T1w and FDG PET), fewer than cv.n_folds (5)" in (
        capsys.readouterr().err)
    assert main([*arguments, "--settings", "{not json"]) == 2
    assert "--settings is not valid JSON" in capsys.readouterr().err


def test_a_session_diagnosis_wins_over_participants_tsv(tmp_path):
    simple_dataset(tmp_path)
    make_subject(tmp_path, "visit", session="bl")
    make_subject(tmp_path, "visit", session="m12", pet=False)
    rows = [(f"sub-s{i:02d}", "CN" if i % 2 else "AD") for i in range(4)]
    write_participants(tmp_path, [*rows, ("sub-visit", "CN")])
    (tmp_path / "sub-visit" / "sub-visit_sessions.tsv").write_text(
        "session_id\tdiagnosis\nses-bl\tDementia\nses-m12\tCN\n")
    subject = next(s for s in discover(tmp_path, session_column="diagnosis").subjects
                   if s.participant_id == "visit")
    assert (subject.session, subject.diagnosis) == ("bl", "AD")  # the chosen visit's value
    # Without the column (or with session_column None) participants.tsv decides.
    subject = next(s for s in discover(tmp_path).subjects if s.participant_id == "visit")
    assert subject.diagnosis == "CN"
    (tmp_path / "sub-visit" / "sub-visit_sessions.tsv").write_text("diagnosis\nAD\n")
    with pytest.raises(CohortError, match=r"sub-visit_sessions\.tsv has no session_id column"):
        discover(tmp_path, session_column="diagnosis")
