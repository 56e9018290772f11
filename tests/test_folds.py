"""Folds: stratified, deterministic, disjoint; the leakage guard; the CLI."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from gla_model.cli import main
from gla_model.errors import CohortError, LeakageError
from gla_model.folds import assert_no_leakage, fold_subjects, make_folds


def _subjects(n_cn=24, n_ad=16):
    ids = [f"cn{i:02d}" for i in range(n_cn)] + [f"ad{i:02d}" for i in range(n_ad)]
    return pd.DataFrame({"participant_id": ids, "diagnosis": ["CN"] * n_cn + ["AD"] * n_ad})


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


def test_folds_are_deterministic_and_seed_dependent():
    a = make_folds(subjects=_subjects(), n_folds=5, val_fraction=0.1, seed=7)
    b = make_folds(subjects=_subjects().sample(frac=1, random_state=3), n_folds=5,
                   val_fraction=0.1, seed=7)
    pd.testing.assert_frame_equal(a, b)
    c = make_folds(subjects=_subjects(), n_folds=5, val_fraction=0.1, seed=8)
    assert not a["fold"].equals(c["fold"])


def test_too_few_subjects_per_class_raises():
    with pytest.raises(CohortError, match=r"diagnoses \{'AD': 3\} have fewer subjects than "
                                          r"the 5 folds"):
        make_folds(subjects=_subjects(n_cn=10, n_ad=3), n_folds=5, val_fraction=0.1, seed=0)


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
    cohort = _subjects().assign(group="paired", session="", t1w="x", pet="y")
    extra = pd.DataFrame({"participant_id": ["mo1"], "diagnosis": ["AD"], "group": ["mri_only"],
                          "session": [""], "t1w": ["x"], "pet": [""]})
    pd.concat([cohort, extra]).to_csv(tmp_path / "cohort.tsv", sep="\t", index=False)
    out = tmp_path / "folds" / "folds.tsv"
    settings = '{"cv": {"n_folds": 5, "val_fraction": 0.1, "seed": 0}}'
    assert main(["folds", "--settings", settings, "--cohort", str(tmp_path / "cohort.tsv"),
                 "--out", str(out)]) == 0
    table = pd.read_csv(out, sep="\t")
    assert len(table) == 40 and "mo1" not in set(table["participant_id"])
    assert [c for c in table.columns if c.startswith("role_")] == [
        *(f"role_fold{k}" for k in range(5)), "role_full"]
