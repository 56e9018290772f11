"""RBF-SVM classification: metrics, tuning on training rows only, both experiments, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skmetrics
from sklearn.model_selection import StratifiedKFold

from gla_model import classify
from gla_model.classify import (
    RESULT_COLUMNS,
    classification_metrics,
    complete_experiment,
    fit_svm,
    mean_imputed,
    paired_experiment,
)
from gla_model.cli import main
from gla_model.errors import ConfigError, GlaModelError, LeakageError
from gla_model.features import feature_columns
from gla_model.folds import make_folds
from gla_model.layout import predictions_path
from gla_model.settings import SvmSettings, job_value

SVM = SvmSettings(C=(1.0, 10.0), gamma=("scale", 0.001), inner_folds=2)


def _features(ids, diagnosis, *, origin, source, seed, pet_shift=0.0,
              signal=1.5) -> pd.DataFrame:
    """Feature rows; AD subjects are shifted on the first 10 MRI and PET features."""
    rng = np.random.default_rng(seed)
    columns = feature_columns()
    values = rng.normal(0, 1, (len(ids), len(columns)))
    ad = np.asarray(diagnosis) == "AD"
    values[np.ix_(ad, list(range(10)) + list(range(232, 242)))] += signal
    values[:, 232:] += pet_shift
    table = pd.DataFrame(values, columns=columns)
    table.insert(0, "pet_origin", origin)
    table.insert(0, "source", source)
    table.insert(0, "group", "paired")
    table.insert(0, "diagnosis", list(diagnosis))
    table.insert(0, "participant_id", list(ids))
    return table


@pytest.fixture
def paired_setup():
    ids = [f"p{i:02d}" for i in range(40)]
    diagnosis = ["AD" if i % 5 < 2 else "CN" for i in range(40)]
    folds = make_folds(subjects=pd.DataFrame({"participant_id": ids, "diagnosis": diagnosis}),
                       n_folds=4, val_fraction=0.2, seed=0)
    folds = folds.set_index("participant_id").loc[ids].reset_index()
    real = _features(ids, diagnosis, origin="real", source="real", seed=1)
    synth = _features(ids, diagnosis, origin=[f"fold-{k}" for k in folds["fold"]],
                      source="v1", seed=1, pet_shift=100.0)
    return folds, real, synth


def test_metrics_match_sklearn_with_ad_positive():
    y_true = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    y_pred = np.array([1, 0, 1, 0, 1, 0, 0, 1])
    score = np.array([2.0, -0.5, 1.0, -1.0, 0.3, -2.0, -0.1, 0.8])
    got = classification_metrics(y_true=y_true, y_pred=y_pred, score=score)
    assert got["accuracy"] == pytest.approx(6 / 8)
    assert got["sensitivity"] == pytest.approx(3 / 4) and got["specificity"] == pytest.approx(3 / 4)
    assert got["f1"] == pytest.approx(skmetrics.f1_score(y_true, y_pred))
    assert got["mcc"] == pytest.approx(skmetrics.matthews_corrcoef(y_true, y_pred))
    assert got["auc"] == pytest.approx(skmetrics.roc_auc_score(y_true, score))
    one_class = classification_metrics(y_true=np.zeros(3, int), y_pred=np.zeros(3, int),
                                       score=np.zeros(3))
    assert np.isnan(one_class["auc"]) and np.isnan(one_class["sensitivity"])


def test_fit_svm_separates_signal_and_is_near_chance_on_random_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (160, 20))
    y = (np.arange(160) % 2).astype(int)
    X[y == 1, :5] += 2.0
    accuracies, chance = [], []
    for train, test in StratifiedKFold(4, shuffle=True, random_state=0).split(X, y):
        model = fit_svm(X=X[train], y=y[train], svm_config=SVM, seed=0)
        accuracies.append(np.mean(model.predict(X[test]) == y[test]))
        shuffled = rng.permutation(y)
        model = fit_svm(X=X[train], y=shuffled[train], svm_config=SVM, seed=0)
        chance.append(np.mean(model.predict(X[test]) == shuffled[test]))
    assert np.mean(accuracies) > 0.9
    assert abs(np.mean(chance) - 0.5) < 0.15
    assert model.named_steps["svm"].C in SVM.C


def test_fit_svm_offers_probabilities_and_checks_inner_folds():
    rng = np.random.default_rng(1)
    X, y = rng.normal(0, 1, (30, 4)), np.array([0, 1] * 15)
    model = fit_svm(X=X, y=y, svm_config=SVM, seed=0, probability=True)
    assert model.predict_proba(X).shape == (30, 2)
    with pytest.raises(ConfigError, match=re.escape(
            "the smallest class of a training set has 1 subjects, fewer than svm "
            f"inner_folds = {SVM.inner_folds}")):
        fit_svm(X=X[:5], y=np.array([0, 0, 0, 0, 1]), svm_config=SVM, seed=0)
    with pytest.raises(ConfigError, match=r"'classification\.svm\.inner_folds': missing"):
        job_value({"classification.svm": {"C": [1.0], "gamma": ["scale"]}},
                  "classification.svm")


def test_paired_tunes_on_training_rows_and_tests_on_synthetic_rows(paired_setup, monkeypatch):
    folds, real, synth = paired_setup
    seen = []
    original = classify.fit_svm

    def spy(*, X, y, svm_config, seed, probability=False):
        seen.append(X.copy())
        return original(X=X, y=y, svm_config=svm_config, seed=seed, probability=probability)

    split_calls = []
    original_split = classify.evaluate_split

    def split_spy(*, train, test, columns, svm_config, seed):
        split_calls.append((train, test))
        return original_split(train=train, test=test, columns=columns,
                              svm_config=svm_config, seed=seed)

    monkeypatch.setattr(classify, "fit_svm", spy)
    monkeypatch.setattr(classify, "evaluate_split", split_spy)
    results, predictions = paired_experiment(source="v1", features_real=real,
                                             features_synth=synth, folds=folds,
                                             svm_config=SVM, seeds=[0, 1])
    assert list(results.columns) == list(RESULT_COLUMNS)
    assert len(results) == 4 * 2 and set(results["seed"]) == {0, 1}
    assert (results["n_train"] + results["n_test"] == 40).all()
    fold_of = folds.set_index("participant_id")["fold"]
    for (train, test), X in zip(split_calls, seen, strict=True):
        assert (train["pet_origin"] == "real").all()
        test_folds = set(fold_of.loc[test["participant_id"]])
        assert len(test_folds) == 1 and set(test["pet_origin"]) == {f"fold-{test_folds.pop()}"}
        assert not set(train["participant_id"]) & set(test["participant_id"])
        # The SVM (and its inner CV) saw exactly the training rows: real PET, no test subject.
        assert len(X) == len(train) and X[:, 232:].max() < 50
    assert sorted(predictions["participant_id"].unique()) == sorted(folds["participant_id"])
    assert len(predictions) == 40 * 2


def test_paired_rejects_synthetic_pet_from_another_fold(paired_setup):
    folds, real, synth = paired_setup
    synth.loc[0, "pet_origin"] = "full"
    subject = synth.loc[0, "participant_id"]
    fold = folds.set_index("participant_id").loc[subject, "fold"]
    with pytest.raises(LeakageError, match=re.escape(
            f"test subjects [{subject!r}] of fold {fold} have synthetic PET not made by the "
            f"fold-{fold} model")):
        paired_experiment(source="v1", features_real=real, features_synth=synth, folds=folds,
                          svm_config=SVM, seeds=[0])


def test_paired_references_use_real_pet_or_mri_only(paired_setup):
    folds, real, _ = paired_setup
    with_pet, _ = paired_experiment(source="real_pet", features_real=real, features_synth=None,
                                    folds=folds, svm_config=SVM, seeds=[0])
    real_nan_pet = real.copy()
    real_nan_pet.loc[:, feature_columns(modalities=("pet",))] = np.nan
    mri_only, _ = paired_experiment(source="mri_only", features_real=real_nan_pet,
                                    features_synth=None, folds=folds, svm_config=SVM, seeds=[0])
    # NaN PET features are fine for mri_only (never read) and an error for real_pet.
    assert with_pet["accuracy"].mean() > 0.7 and mri_only["accuracy"].mean() > 0.6
    with pytest.raises(GlaModelError, match=r"^subjects \['p\d{2}'(, 'p\d{2}')*\] have missing "
                                           r"\(NaN\) features for this experiment\.$"):
        paired_experiment(source="real_pet", features_real=real_nan_pet, features_synth=None,
                          folds=folds, svm_config=SVM, seeds=[0])


def _complete_setup():
    paired_ids = [f"p{i:02d}" for i in range(24)]
    mri_ids = [f"m{i:02d}" for i in range(12)]
    diagnosis = ["AD" if i % 2 else "CN" for i in range(36)]
    cohort = pd.DataFrame({"participant_id": paired_ids + mri_ids, "diagnosis": diagnosis,
                           "group": ["paired"] * 24 + ["mri_only"] * 12})
    real = _features(cohort["participant_id"], diagnosis, origin="real", source="real", seed=2)
    real.loc[24:, "pet_origin"] = "none"
    real.loc[24:, feature_columns(modalities=("pet",))] = np.nan
    synth = _features(cohort["participant_id"], diagnosis, source="v1", seed=2,
                      origin=["fold-0"] * 24 + ["full"] * 12)
    return cohort, real, synth


def test_complete_uses_real_pet_for_paired_and_synthetic_for_mri_only(monkeypatch):
    cohort, real, synth = _complete_setup()
    tables = []
    original_split = classify.evaluate_split

    def split_spy(*, train, test, columns, svm_config, seed, impute_pet=False):
        tables.append((seed, pd.concat([train, test])))
        return original_split(train=train, test=test, columns=columns,
                              svm_config=svm_config, seed=seed, impute_pet=impute_pet)

    monkeypatch.setattr(classify, "evaluate_split", split_spy)
    results, predictions = complete_experiment(
        source="v1", features_real=real, features_synth=synth, cohort=cohort, n_folds=3,
        svm_config=SVM, seeds=[0, 1])
    assert len(results) == 6 and (results["n_train"] + results["n_test"] == 36).all()
    origin = tables[0][1].set_index("participant_id")["pet_origin"]
    assert (origin.loc[cohort["participant_id"][:24]] == "real").all()
    assert (origin.loc[cohort["participant_id"][24:]] == "full").all()
    test_sets = {seed: frozenset(p.loc[p["fold"] == 0, "participant_id"])
                 for seed, p in predictions.groupby("seed")}
    assert test_sets[0] != test_sets[1]  # the seed changes the outer split
    mri_only, _ = complete_experiment(source="mri_only", features_real=real,
                                      features_synth=None, cohort=cohort, n_folds=3,
                                      svm_config=SVM, seeds=[0])
    assert (mri_only["n_train"] + mri_only["n_test"] == 36).all()


def test_cli_runs_both_experiments_and_writes_predictions(tmp_path, paired_setup, capsys):
    folds, real, synth = paired_setup
    folds.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    real.to_csv(tmp_path / "real.tsv", sep="\t", index=False)
    synth.to_csv(tmp_path / "v1.tsv", sep="\t", index=False)
    classification = {"seeds": [0, 1],
                      "svm": {"C": [1.0], "gamma": ["scale"], "inner_folds": 2}}
    svm = json.dumps({"classification": classification})
    out = tmp_path / "paired" / "v1.tsv"
    assert main(["classify", "--experiment", "paired", "--source", "v1", "--features-real",
                 str(tmp_path / "real.tsv"), "--features-synth", str(tmp_path / "v1.tsv"),
                 "--folds", str(tmp_path / "folds.tsv"), "--settings", svm,
                 "--out", str(out), "--out-predictions", str(predictions_path(scores=out))]) == 0
    results = pd.read_csv(out, sep="\t")
    assert list(results.columns) == list(RESULT_COLUMNS) and len(results) == 8
    predictions = pd.read_csv(predictions_path(scores=out), sep="\t")
    assert predictions_path(scores=out).name == "v1_predictions.tsv"
    assert list(predictions.columns) == ["participant_id", "seed", "fold", "y_true", "y_pred",
                                         "score"]
    cohort, real_c, _ = _complete_setup()
    cohort.assign(session="", t1w="t1w.nii.gz", pet="").to_csv(
        tmp_path / "cohort.tsv", sep="\t", index=False)
    real_c.to_csv(tmp_path / "real_c.tsv", sep="\t", index=False)
    (tmp_path / "settings.json").write_text(json.dumps({"classification": classification,
                                                        "cv.n_folds": 3}))
    out = tmp_path / "complete" / "mri_only.tsv"
    assert main(["classify", "--experiment", "complete", "--source", "mri_only",
                 "--features-real", str(tmp_path / "real_c.tsv"), "--cohort",
                 str(tmp_path / "cohort.tsv"), "--settings", str(tmp_path / "settings.json"),
                 "--out", str(out), "--out-predictions", str(tmp_path / "p.tsv")]) == 0
    assert set(pd.read_csv(out, sep="\t")["experiment"]) == {"complete"}
    # A variant source without its synthetic features is a user error, reported cleanly.
    assert main(["classify", "--experiment", "complete", "--source", "v1", "--features-real",
                 str(tmp_path / "real_c.tsv"), "--cohort", str(tmp_path / "cohort.tsv"),
                 "--settings", str(tmp_path / "settings.json"), "--out", str(tmp_path / "x.tsv"),
                 "--out-predictions", str(tmp_path / "y.tsv")]) == 2
    assert "--features-synth" in capsys.readouterr().err


def test_mean_imputation_uses_training_rows_only():
    pet = feature_columns(modalities=("pet",))
    cohort, real, _ = _complete_setup()
    train, test = real.iloc[[0, 1, 2, 30]], real.iloc[[3, 31]]  # 30, 31: MRI-only (NaN PET)
    filled_train, filled_test = mean_imputed(train=train, test=test)
    expected = real.iloc[[0, 1, 2]][pet].mean()
    np.testing.assert_allclose(filled_test.iloc[1][pet].to_numpy(float), expected.to_numpy())
    np.testing.assert_allclose(filled_train.iloc[3][pet].to_numpy(float), expected.to_numpy())
    # A subject with real PET keeps it; the test rows never inform the mean.
    np.testing.assert_allclose(filled_test.iloc[0][pet].to_numpy(float),
                               real.iloc[3][pet].to_numpy(float))
    with pytest.raises(GlaModelError, match="no training row has PET features"):
        mean_imputed(train=real.iloc[[30, 31]], test=test)
    results, _ = complete_experiment(source="mean_imputed_pet", features_real=real,
                                     features_synth=None, cohort=cohort, n_folds=3,
                                     svm_config=SVM, seeds=[0])
    assert (results["n_train"] + results["n_test"] == len(cohort)).all()
