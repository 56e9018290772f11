"""Folds: stratified, deterministic, disjoint; the leakage guard; the CLI."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from gla_model.cli import main
from gla_model.errors import CohortError, LeakageError
from gla_model.folds import assert_no_leakage, class_size_problems, fold_subjects, make_folds


def _subjects(n_cn=24, n_ad=16, n_mci=0):
    counts = {"CN": n_cn, "MCI": n_mci, "AD": n_ad}
    ids = [f"{d.lower()}{i:02d}" for d, n in counts.items() for i in range(n)]
    return pd.DataFrame({"participant_id": ids,
                         "diagnosis": [d for d, n in counts.items() for _ in range(n)]})


def test_folds_are_stratified_disjoint_and_complete():
    folds = make_folds(subjects=_subjects(), n_folds=4, val_fraction=0.2, seed=1)
    assert sorted(folds["fold"].unique()) == [0, 1, 2, 3]
    for k in range(4):
        test = folds[folds["fold"] == k]
        assert (test["diagnosis"] == "CN").sum() == 6 and (test["diagnosis"] == "AD").sum() == 4
        roles = fold_subjects(folds=folds, fold=str(k))
        assert set(roles["test"]) == set(test["participant_id"])
        assert len(roles["val"]) == 6  # 20% of 30 training subjects
        val_dx = folds.set_index("participant_id").loc[roles["val"], "diagnosis"]
        assert set(val_dx) == {"CN", "AD"}
        assert len(roles["train"]) + len(roles["val"]) + len(roles["test"]) == 40
    full = fold_subjects(folds=folds, fold="full")
    assert full["test"] == [] and len(full["train"]) + len(full["val"]) == 40


def test_folds_are_stratified_by_every_diagnosis_present():
    folds = make_folds(subjects=_subjects(n_cn=10, n_mci=15, n_ad=5), n_folds=5,
                       val_fraction=0.2, seed=3)
    for k in range(5):
        test = folds.loc[folds["fold"] == k, "diagnosis"]
        assert test.value_counts().to_dict() == {"CN": 2, "MCI": 3, "AD": 1}
        roles = fold_subjects(folds=folds, fold=str(k))
        trained = folds.set_index("participant_id").loc[roles["train"], "diagnosis"]
        assert set(trained) == {"CN", "MCI", "AD"}  # every diagnosis trains the generator
        val = folds.set_index("participant_id").loc[roles["val"], "diagnosis"]
        assert set(val) == {"CN", "MCI", "AD"}
    full = fold_subjects(folds=folds, fold="full")
    assert len(full["train"]) + len(full["val"]) == 30


def test_class_size_problems_check_only_the_classes_present():
    assert class_size_problems(counts={"CN": 4, "MCI": 0, "AD": 4}, n_folds=2,
                               val_fraction=0.25) == []
    problems = class_size_problems(counts={"CN": 4, "MCI": 3, "AD": 4}, n_folds=2,
                                   val_fraction=0.25)
    assert len(problems) == 1 and problems[0].startswith("class MCI has 3 paired subjects")


def test_folds_are_deterministic_and_seed_dependent():
    a = make_folds(subjects=_subjects(), n_folds=5, val_fraction=0.1, seed=7)
    b = make_folds(subjects=_subjects().sample(frac=1, random_state=3), n_folds=5,
                   val_fraction=0.1, seed=7)
    pd.testing.assert_frame_equal(a, b)
    c = make_folds(subjects=_subjects(), n_folds=5, val_fraction=0.1, seed=8)
    assert not a["fold"].equals(c["fold"])


def test_too_few_subjects_per_class_raises():
    with pytest.raises(CohortError, match=re.escape(
            "the paired subjects cannot be split into folds:\n  - class AD has 3 paired "
            "subjects (T1w and FDG PET), fewer than cv.n_folds (5)")):
        make_folds(subjects=_subjects(n_cn=10, n_ad=3), n_folds=5, val_fraction=0.1, seed=0)


def test_two_per_class_and_two_folds_leave_nothing_to_train_on():
    """The validation carve-out of a 1 AD + 1 CN training part used to crash in
    scikit-learn; the message names the keys and the counts instead."""
    with pytest.raises(CohortError, match=re.escape(
            "class AD has 2 paired subjects: with cv.n_folds 2 a fold's training part keeps "
            "only 1 of them, and the validation carve-out (cv.val_fraction 0.25) needs one of "
            "each class besides one to train on; add subjects (at least 4 per class for 2 "
            "folds)\n")):
        make_folds(subjects=_subjects(n_cn=2, n_ad=2), n_folds=2, val_fraction=0.25, seed=0)
    # without a carve-out two per class are enough
    folds = make_folds(subjects=_subjects(n_cn=2, n_ad=2), n_folds=2, val_fraction=0.0, seed=0)
    assert sorted(folds["fold"]) == [0, 0, 1, 1]


@pytest.mark.parametrize("val_fraction", [0.05, 0.25, 0.5])
@pytest.mark.parametrize("n_folds", [2, 3, 5])
@pytest.mark.parametrize("mci_sizes", [(0,), (2, 4, 7)], ids=["cn_ad", "cn_mci_ad"])
def test_accepted_class_sizes_always_split(n_folds, val_fraction, mci_sizes):
    """Where class_size_problems finds nothing, every fold (and the full model) keeps at
    least one training subject of each class present after the carve-out, for any seed."""
    for n_cn in range(1, 9):
        for n_ad in range(1, 9):
            for n_mci in mci_sizes:
                counts = {"CN": n_cn, "MCI": n_mci, "AD": n_ad}
                present = {d for d, n in counts.items() if n}
                problems = class_size_problems(counts=counts, n_folds=n_folds,
                                               val_fraction=val_fraction)
                if problems:
                    assert len(problems) == sum(
                        n < n_folds or n - -(-n // n_folds) < 2 for n in counts.values() if n)
                    continue
                for seed in range(2):
                    folds = make_folds(subjects=_subjects(n_cn=n_cn, n_ad=n_ad, n_mci=n_mci),
                                       n_folds=n_folds, val_fraction=val_fraction, seed=seed)
                    for role in [c for c in folds.columns if c.startswith("role_")]:
                        trained = folds.loc[folds[role] == "train", "diagnosis"]
                        assert set(trained) == present, (counts, role, seed)
                        assert (folds[role] == "val").sum() >= len(present)


def test_leakage_guard_names_subjects():
    with pytest.raises(LeakageError,
                       match=re.escape("subjects in more than one split: train/test: ['cn01']")):
        assert_no_leakage(train=["cn00", "cn01"], val=[], test=["cn01"])
    assert_no_leakage(train=["a"], val=["b"], test=["c"])


def test_tampered_folds_table_fails_the_guard():
    folds = make_folds(subjects=_subjects(), n_folds=4, val_fraction=0.2, seed=1)
    trained = folds[folds["role_fold0"] == "train"].iloc[[0]]
    folds = pd.concat([folds, trained.assign(role_fold0="test")])  # same id, two roles
    subject = trained["participant_id"].iloc[0]
    with pytest.raises(LeakageError, match=re.escape(
            f"subjects in more than one split: train/test: [{subject!r}]")):
        fold_subjects(folds=folds, fold="0")


def test_folds_cli_uses_paired_subjects_only(tmp_path):
    cohort = _subjects(n_cn=20, n_mci=10, n_ad=15).assign(group="paired", session="", t1w="x",
                                                          pet="y")
    extra = pd.DataFrame({"participant_id": ["mo1"], "diagnosis": ["AD"], "group": ["mri_only"],
                          "session": [""], "t1w": ["x"], "pet": [""]})
    pd.concat([cohort, extra]).to_csv(tmp_path / "cohort.tsv", sep="\t", index=False)
    out = tmp_path / "folds" / "folds.tsv"
    settings = '{"cv": {"n_folds": 5, "val_fraction": 0.1, "seed": 0}}'
    assert main(["folds", "--settings", settings, "--cohort", str(tmp_path / "cohort.tsv"),
                 "--out", str(out)]) == 0
    table = pd.read_csv(out, sep="\t")
    assert len(table) == 45 and "mo1" not in set(table["participant_id"])
    assert table.groupby("fold")["diagnosis"].value_counts().unstack().to_dict("list") == {
        "AD": [3] * 5, "CN": [4] * 5, "MCI": [2] * 5}
    assert [c for c in table.columns if c.startswith("role_")] == [
        *(f"role_fold{k}" for k in range(5)), "role_full"]


def test_folds_cli_says_why_a_small_cohort_cannot_be_split(tmp_path, capsys):
    cohort = _subjects(n_cn=2, n_ad=2).assign(group="paired", session="", t1w="x", pet="y")
    cohort.to_csv(tmp_path / "cohort.tsv", sep="\t", index=False)
    settings = '{"cv": {"n_folds": 2, "val_fraction": 0.25, "seed": 0}}'
    assert main(["folds", "--settings", settings, "--cohort", str(tmp_path / "cohort.tsv"),
                 "--out", str(tmp_path / "folds.tsv")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"gla-model folds: error: {tmp_path / 'cohort.tsv'}: the paired "
                            "subjects cannot be split into folds:")
    assert "cv.n_folds 2" in error and "cv.val_fraction 0.25" in error
    assert "Traceback" not in error and not (tmp_path / "folds.tsv").exists()
