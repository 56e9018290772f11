"""RBF-SVM classification: tasks and their metrics, tuning on training rows only, both
experiments, the trusted-completion source, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skmetrics
from sklearn.model_selection import StratifiedKFold

from gla_model.classify import experiments, svm, trusted
from gla_model.classify.experiments import (
    complete_experiment,
    paired_experiment,
    prediction_columns,
    result_columns,
)
from gla_model.classify.metrics import classification_metrics, multiclass_metrics
from gla_model.classify.svm import feature_set, fit_svm, mean_imputed
from gla_model.classify.tasks import (
    describe_skipped,
    runnable_tasks,
    subjects_needed,
    task_labels,
    task_metrics,
)
from gla_model.cli import main
from gla_model.errors import CohortError, ConfigError, GlaModelError, LeakageError
from gla_model.features import feature_columns
from gla_model.folds import make_folds
from gla_model.layout import classification_path, predictions_path
from gla_model.settings import SvmSettings, job_value

SVM = SvmSettings(C=(1.0, 10.0), gamma=("scale", 0.001), inner_folds=2)
#: Shift of the disease features per diagnosis (MCI half way to AD).
SIGNAL = {"CN": 0.0, "MCI": 0.75, "AD": 1.5}


def _features(ids, diagnosis, *, origin, source, seed, pet_shift=0.0,
              signal=1.5) -> pd.DataFrame:
    """Feature rows; AD (MCI: half as much) subjects are shifted on the first 10 MRI and
    PET features."""
    rng = np.random.default_rng(seed)
    columns = feature_columns()
    values = rng.normal(0, 1, (len(ids), len(columns)))
    shift = np.array([SIGNAL[d] / 1.5 * signal for d in diagnosis])
    values[:, list(range(10)) + list(range(232, 242))] += shift[:, None]
    values[:, 232:] += pet_shift
    table = pd.DataFrame(values, columns=columns)
    table.insert(0, "pet_origin", origin)
    table.insert(0, "source", source)
    table.insert(0, "group", "paired")
    table.insert(0, "diagnosis", list(diagnosis))
    table.insert(0, "participant_id", list(ids))
    return table


def _paired(diagnoses: tuple[str, ...] = ("AD", "AD", "CN", "CN", "CN"), n: int = 40):
    ids = [f"p{i:02d}" for i in range(n)]
    diagnosis = [diagnoses[i % len(diagnoses)] for i in range(n)]
    folds = make_folds(subjects=pd.DataFrame({"participant_id": ids, "diagnosis": diagnosis}),
                       n_folds=4, val_fraction=0.2, seed=0)
    folds = folds.set_index("participant_id").loc[ids].reset_index()
    real = _features(ids, diagnosis, origin="real", source="real", seed=1)
    synth = _features(ids, diagnosis, origin=[f"fold-{k}" for k in folds["fold"]],
                      source="v1", seed=1, pet_shift=100.0)
    return folds, real, synth


@pytest.fixture
def paired_setup():
    return _paired()


def test_metrics_match_sklearn_with_the_positive_class_1():
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


def test_three_class_metrics_by_hand():
    # CN 0, MCI 1, AD 2. Right: one CN of two, both MCI, one AD of two.
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    score = np.array([[0.9, 0.0, 0.1], [0.8, 0.5, 0.0], [0.1, 0.9, 0.0],
                      [0.2, 0.8, 0.1], [0.3, 0.1, 0.9], [0.85, 0.2, 0.6]])
    got = multiclass_metrics(y_true=y_true, y_pred=y_pred, score=score,
                             classes=("CN", "MCI", "AD"))
    assert list(got) == list(task_metrics("cn_vs_mci_vs_ad"))
    assert (got["sensitivity_cn"], got["sensitivity_mci"], got["sensitivity_ad"]) == (
        0.5, 1.0, 0.5)
    assert got["balanced_accuracy"] == pytest.approx(2 / 3)
    # F1: CN precision 1/2 recall 1/2 -> 1/2; MCI 2/3, 1 -> 4/5; AD 1, 1/2 -> 2/3.
    assert got["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    # CN's scores rank one negative (0.85, an AD) above one positive (0.8): AUC 7/8; the
    # MCI and AD columns separate their class perfectly.
    assert got["auc_ovr"] == pytest.approx((7 / 8 + 1 + 1) / 3)
    no_mci = multiclass_metrics(y_true=np.array([0, 2]), y_pred=np.array([0, 1]),
                                score=np.eye(3)[[0, 2]], classes=("CN", "MCI", "AD"))
    assert np.isnan(no_mci["sensitivity_mci"]) and np.isnan(no_mci["auc_ovr"])
    assert no_mci["balanced_accuracy"] == 0.5  # over the classes present


def test_task_labels_put_the_positive_class_last_and_reject_other_diagnoses():
    table = pd.DataFrame({"diagnosis": ["CN", "MCI", "AD"]})
    np.testing.assert_array_equal(task_labels(table, task="cn_vs_mci_vs_ad"), [0, 1, 2])
    np.testing.assert_array_equal(task_labels(table.iloc[:2], task="mci_vs_cn"), [0, 1])
    np.testing.assert_array_equal(task_labels(table.iloc[1:], task="ad_vs_mci"), [0, 1])
    with pytest.raises(GlaModelError, match=r"task ad_vs_cn takes diagnoses \['CN', 'AD'\], "
                                            r"found \['MCI'\]"):
        task_labels(table, task="ad_vs_cn")


@pytest.mark.parametrize(("n_folds", "inner_folds", "needed"),
                         [(2, 2, 4), (5, 3, 5), (5, 5, 7), (3, 2, 3), (10, 3, 10)])
def test_subjects_needed_fill_every_inner_fold(n_folds, inner_folds, needed):
    assert subjects_needed(n_folds=n_folds, inner_folds=inner_folds) == needed
    # The largest test fold holds ceil(n / n_folds); the rest train.
    assert needed - -(-needed // n_folds) >= inner_folds >= 1
    assert (needed - 1) < n_folds or (needed - 1) - -(-(needed - 1) // n_folds) < inner_folds


def test_runnable_tasks_skip_tasks_whose_classes_are_short_and_require_the_paper_task():
    every = ("ad_vs_cn", "mci_vs_cn", "ad_vs_mci", "cn_vs_mci_vs_ad")
    kept, skipped = runnable_tasks(tasks=every, paired_counts={"CN": 14, "MCI": 12, "AD": 14},
                                   n_folds=5, inner_folds=3)
    assert kept == every and skipped == {}
    kept, skipped = runnable_tasks(tasks=every, paired_counts={"CN": 4, "MCI": 3, "AD": 4},
                                   n_folds=2, inner_folds=2)
    assert kept == ("ad_vs_cn",)
    assert skipped == dict.fromkeys(every[1:], "3 paired MCI, needs 4 per class")
    line = describe_skipped(skipped=skipped, n_folds=2, inner_folds=2)
    assert "\n" not in line and line.startswith("Classification tasks skipped")
    assert "mci_vs_cn (3 paired MCI, needs 4 per class)" in line
    assert describe_skipped(skipped={}, n_folds=2, inner_folds=2) == ""
    kept, _ = runnable_tasks(tasks=("ad_vs_cn", "mci_vs_cn"), paired_counts={"CN": 9, "AD": 9},
                             n_folds=5, inner_folds=3)  # no MCI at all
    assert kept == ("ad_vs_cn",)
    with pytest.raises(CohortError, match=re.escape(
            "the cohort cannot run the paper's task ad_vs_cn: 3 paired AD, needs 4 per class "
            "(cv.n_folds 2, classification.svm.inner_folds 2)")):
        runnable_tasks(tasks=every, paired_counts={"CN": 4, "MCI": 4, "AD": 3}, n_folds=2,
                       inner_folds=2)


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
    with pytest.raises(ConfigError, match="the smallest class of a training set has 0"):
        fit_svm(X=X[:6], y=np.array([0, 0, 0, 1, 1, 1]), svm_config=SVM, seed=0, n_classes=3)
    with pytest.raises(ConfigError, match=r"'classification\.svm\.inner_folds': missing"):
        job_value({"classification.svm": {"C": [1.0], "gamma": ["scale"]}},
                  "classification.svm")


def test_paired_tunes_on_training_rows_and_tests_on_synthetic_rows(paired_setup, monkeypatch):
    folds, real, synth = paired_setup
    seen = []
    original = svm.fit_svm

    def spy(*, X, y, **kwargs):
        seen.append(X.copy())
        return original(X=X, y=y, **kwargs)

    split_calls = []
    original_split = experiments.evaluate_split

    def split_spy(*, train, test, **kwargs):
        split_calls.append((train, test))
        return original_split(train=train, test=test, **kwargs)

    monkeypatch.setattr(svm, "fit_svm", spy)
    monkeypatch.setattr(experiments, "evaluate_split", split_spy)
    results, predictions = paired_experiment(task="ad_vs_cn", source="v1", features_real=real,
                                             features_synth=synth, folds=folds,
                                             svm_config=SVM, seeds=[0, 1])
    assert list(results.columns) == list(result_columns(task="ad_vs_cn", source="v1"))
    assert len(results) == 4 * 2 and set(results["seed"]) == {0, 1}
    assert set(results["task"]) == {"ad_vs_cn"}
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
    assert results["accuracy"].mean() < 0.75  # the +100 synthetic PET shift hurts


def test_paired_rejects_synthetic_pet_from_another_fold(paired_setup):
    folds, real, synth = paired_setup
    synth.loc[0, "pet_origin"] = "full"
    subject = synth.loc[0, "participant_id"]
    fold = folds.set_index("participant_id").loc[subject, "fold"]
    with pytest.raises(LeakageError, match=re.escape(
            f"test subjects [{subject!r}] of fold {fold} have synthetic PET not made by the "
            f"fold-{fold} model")):
        paired_experiment(task="ad_vs_cn", source="v1", features_real=real,
                          features_synth=synth, folds=folds, svm_config=SVM, seeds=[0])


def test_paired_references_use_real_pet_or_mri_only(paired_setup):
    folds, real, _ = paired_setup
    with_pet, _ = paired_experiment(task="ad_vs_cn", source="real_pet", features_real=real,
                                    features_synth=None, folds=folds, svm_config=SVM, seeds=[0])
    real_nan_pet = real.copy()
    real_nan_pet.loc[:, feature_columns(modalities=("pet",))] = np.nan
    mri_only, _ = paired_experiment(task="ad_vs_cn", source="mri_only",
                                    features_real=real_nan_pet, features_synth=None,
                                    folds=folds, svm_config=SVM, seeds=[0])
    # NaN PET features are fine for mri_only (never read) and an error for real_pet.
    assert with_pet["accuracy"].mean() > 0.7 and mri_only["accuracy"].mean() > 0.6
    with pytest.raises(GlaModelError, match=r"^subjects \['p\d{2}'(, 'p\d{2}')*\] have missing "
                                           r"\(NaN\) features for this experiment\.$"):
        paired_experiment(task="ad_vs_cn", source="real_pet", features_real=real_nan_pet,
                          features_synth=None, folds=folds, svm_config=SVM, seeds=[0])


def test_a_binary_task_uses_only_its_two_classes_on_the_same_folds():
    folds, real, _ = _paired(("CN", "MCI", "AD"), n=48)
    results, predictions = paired_experiment(task="mci_vs_cn", source="real_pet",
                                             features_real=real, features_synth=None,
                                             folds=folds, svm_config=SVM, seeds=[0])
    diagnosis = folds.set_index("participant_id")["diagnosis"]
    expected = sorted(diagnosis.index[diagnosis.isin(["CN", "MCI"])])
    assert sorted(predictions["participant_id"]) == expected  # every CN and MCI once
    assert (results["n_train"] + results["n_test"] == 32).all()
    # MCI is the positive class (1), on the generators' own test folds.
    truth = diagnosis.loc[predictions["participant_id"]].eq("MCI").astype(int).to_numpy()
    np.testing.assert_array_equal(predictions["y_true"], truth)
    fold_of = folds.set_index("participant_id")["fold"]
    assert (fold_of.loc[predictions["participant_id"]].to_numpy()
            == predictions["fold"].to_numpy()).all()
    assert results["auc"].mean() > 0.6  # MCI carries half the AD signal


def test_three_class_task_writes_its_metrics_and_one_score_per_class():
    folds, real, _ = _paired(("CN", "MCI", "AD"), n=48)
    results, predictions = paired_experiment(task="cn_vs_mci_vs_ad", source="real_pet",
                                             features_real=real, features_synth=None,
                                             folds=folds, svm_config=SVM, seeds=[0])
    assert list(results.columns) == list(result_columns(task="cn_vs_mci_vs_ad",
                                                        source="real_pet"))
    assert list(predictions.columns) == [*experiments.PREDICTION_KEYS, "score_cn", "score_mci",
                                         "score_ad"]
    assert set(predictions["y_true"]) == {0, 1, 2} and len(predictions) == 48
    # Each row's prediction is its highest one-vs-rest score (decision_function "ovr").
    scores = predictions[["score_cn", "score_mci", "score_ad"]].to_numpy()
    np.testing.assert_array_equal(scores.argmax(axis=1), predictions["y_pred"])
    assert results["balanced_accuracy"].mean() > 0.45 and results["auc_ovr"].mean() > 0.6


def _complete_setup(diagnoses: tuple[str, ...] = ("CN", "AD")):
    paired_ids = [f"p{i:02d}" for i in range(24)]
    mri_ids = [f"m{i:02d}" for i in range(12)]
    diagnosis = [diagnoses[i % len(diagnoses)] for i in range(36)]
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
    original_split = experiments.evaluate_split

    def split_spy(*, train, test, seed, **kwargs):
        tables.append((seed, pd.concat([train, test])))
        return original_split(train=train, test=test, seed=seed, **kwargs)

    monkeypatch.setattr(experiments, "evaluate_split", split_spy)
    results, predictions = complete_experiment(
        task="ad_vs_cn", source="v1", features_real=real, features_synth=synth, cohort=cohort,
        n_folds=3, svm_config=SVM, seeds=[0, 1])
    assert len(results) == 6 and (results["n_train"] + results["n_test"] == 36).all()
    origin = tables[0][1].set_index("participant_id")["pet_origin"]
    assert (origin.loc[cohort["participant_id"][:24]] == "real").all()
    assert (origin.loc[cohort["participant_id"][24:]] == "full").all()
    test_sets = {seed: frozenset(p.loc[p["fold"] == 0, "participant_id"])
                 for seed, p in predictions.groupby("seed")}
    assert test_sets[0] != test_sets[1]  # the seed changes the outer split
    mri_only, _ = complete_experiment(task="ad_vs_cn", source="mri_only", features_real=real,
                                      features_synth=None, cohort=cohort, n_folds=3,
                                      svm_config=SVM, seeds=[0])
    assert (mri_only["n_train"] + mri_only["n_test"] == 36).all()


def test_complete_restricts_a_task_to_its_classes():
    cohort, real, synth = _complete_setup(("CN", "MCI", "AD"))
    results, predictions = complete_experiment(
        task="ad_vs_mci", source="v1", features_real=real, features_synth=synth, cohort=cohort,
        n_folds=3, svm_config=SVM, seeds=[0])
    kept = cohort.loc[cohort["diagnosis"] != "CN", "participant_id"]
    assert sorted(predictions["participant_id"]) == sorted(kept)
    assert (results["n_train"] + results["n_test"] == 24).all()


def _uncertainty(cohort: pd.DataFrame, sd: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"participant_id": cohort["participant_id"], "group": cohort["group"],
                         "sd_fold_models": sd})


def test_trusted_threshold_comes_from_the_training_rows_paired_subjects_only():
    cohort, real, synth = _complete_setup()
    # Paired SDs 0.01..0.24, every paired subject unique; MRI-only ones straddle them.
    sd = np.concatenate([np.arange(1, 25) / 100, np.linspace(0.05, 0.40, 12)])
    results, predictions = complete_experiment(
        task="ad_vs_cn", source="trusted_synth_pet", features_real=real, features_synth=synth,
        cohort=cohort, n_folds=3, svm_config=SVM, seeds=[0, 1],
        uncertainty=_uncertainty(cohort, sd), threshold_quantile=0.5)
    assert list(results.columns) == list(result_columns(task="ad_vs_cn",
                                                        source="trusted_synth_pet"))
    assert list(predictions.columns) == list(prediction_columns(task="ad_vs_cn",
                                                                source="trusted_synth_pet"))
    by_id = pd.Series(sd, index=cohort["participant_id"])
    paired_ids = set(cohort.loc[cohort["group"] == "paired", "participant_id"])
    leaked = []
    for row in results.itertuples():
        test = predictions.loc[(predictions["seed"] == row.seed)
                               & (predictions["fold"] == row.fold)]
        train_paired = sorted(paired_ids - set(test["participant_id"]))
        assert row.threshold == pytest.approx(np.quantile(by_id.loc[train_paired], 0.5))
        leaked.append(np.quantile(by_id.loc[sorted(paired_ids)], 0.5) != pytest.approx(
            row.threshold))
        mri_only = test.loc[~test["participant_id"].isin(paired_ids)]
        above = by_id.loc[mri_only["participant_id"]].to_numpy() > row.threshold
        np.testing.assert_array_equal(mri_only["untrusted"], above)
        assert row.n_untrusted_test == above.sum() and row.n_mri_only_test == len(mri_only)
        assert not test.loc[test["participant_id"].isin(paired_ids), "untrusted"].any()
    # Had the test rows' SDs entered, the thresholds would differ: they did not enter.
    assert any(leaked)
    assert predictions["score"].between(0, 1).all()  # calibrated probabilities
    assert 0 < results["n_untrusted_test"].sum() < results["n_mri_only_test"].sum()


def test_trusted_split_scores_untrusted_rows_with_an_mri_only_svm():
    cohort, real, synth = _complete_setup()
    table = experiments.completed_table(source="v1", features_real=real,
                                        features_synth=synth, cohort=cohort)
    sd = pd.Series(np.r_[np.full(24, 0.1), np.full(6, 0.05), np.full(6, 9.0)],
                   index=table["participant_id"])
    # The untrusted completions' PET is garbage: the MRI-only SVM must score them.
    untrusted_ids = list(table["participant_id"][30:])
    table.loc[30:, feature_columns(modalities=("pet",))] = 1e3
    train = table.iloc[[*range(12), 24, 25, 26, 30, 31, 32]]
    test = table.iloc[[*range(12, 24), 27, 28, 29, 33, 34, 35]]
    result, predictions = trusted.trusted_split(task="ad_vs_cn", train=train, test=test, sd=sd,
                                                quantile=0.9, svm_config=SVM, seed=0)
    assert result["threshold"] == pytest.approx(0.1)
    assert result["n_untrusted_train"] == 3 and result["n_untrusted_test"] == 3
    y_train = task_labels(train, task="ad_vs_cn")
    mri = feature_set(source="mri_only")
    expected = fit_svm(X=train[mri].to_numpy(), y=y_train, svm_config=SVM, seed=0,
                       probability=True).predict_proba(test[mri].to_numpy()[-3:])[:, 1]
    scored = predictions.set_index("participant_id").loc[untrusted_ids[-3:]]
    np.testing.assert_allclose(scored["score"], expected)
    assert scored["untrusted"].all()
    trusted_rows = predictions.loc[~predictions["untrusted"]]
    pet = feature_set(source="trusted_synth_pet")
    kept = train.loc[~train["participant_id"].isin(untrusted_ids)]
    expected = fit_svm(X=kept[pet].to_numpy(), y=task_labels(kept, task="ad_vs_cn"),
                       svm_config=SVM, seed=0, probability=True).predict_proba(
        test[pet].to_numpy()[:-3])[:, 1]
    np.testing.assert_allclose(trusted_rows["score"], expected)


def test_trusted_needs_every_subjects_uncertainty():
    cohort, real, synth = _complete_setup()
    uncertainty = _uncertainty(cohort, np.full(36, 0.1)).iloc[:-1]
    with pytest.raises(GlaModelError, match=r"no finite sd_fold_models for subjects \['m11'\]"):
        complete_experiment(task="ad_vs_cn", source="trusted_synth_pet", features_real=real,
                            features_synth=synth, cohort=cohort, n_folds=3, svm_config=SVM,
                            seeds=[0], uncertainty=uncertainty, threshold_quantile=0.9)


def _write(table: pd.DataFrame, path) -> str:
    table.to_csv(path, sep="\t", index=False)
    return str(path)


def test_cli_writes_every_task_of_both_experiments(tmp_path, capsys):
    folds, real, synth = _paired(("CN", "MCI", "AD"), n=48)
    classification = {"classification.seeds": [0],
                      "classification.svm": {"C": [1.0], "gamma": ["scale"], "inner_folds": 2}}
    out = tmp_path / "classify"
    common = ["--tasks", "ad_vs_cn", "cn_vs_mci_vs_ad", "--classify-dir", str(out)]
    assert main(["classify", "--experiment", "paired", "--source", "v1", "--features-real",
                 _write(real, tmp_path / "real.tsv"), "--features-synth",
                 _write(synth, tmp_path / "v1.tsv"), "--folds",
                 _write(folds, tmp_path / "folds.tsv"), "--settings",
                 json.dumps(classification), *common]) == 0
    for task, n_rows in (("ad_vs_cn", 32), ("cn_vs_mci_vs_ad", 48)):
        scores = classification_path(classify_dir=out, task=task, experiment="paired",
                                     source="v1")
        results = pd.read_csv(scores, sep="\t")
        assert list(results.columns) == list(result_columns(task=task, source="v1"))
        assert len(pd.read_csv(predictions_path(scores=scores), sep="\t")) == n_rows
    assert not (out / "mci_vs_cn").exists()
    cohort, real_c, synth_c = _complete_setup(("CN", "MCI", "AD"))
    cohort_path = _write(cohort.assign(session="", t1w="t1w.nii.gz", pet=""),
                         tmp_path / "cohort.tsv")
    (tmp_path / "settings.json").write_text(json.dumps({
        **classification, "cv.n_folds": 3, "uncertainty.threshold_quantile": 0.9,
        "evaluation.reference_variant": "v1"}))
    complete = ["classify", "--experiment", "complete", "--features-real",
                _write(real_c, tmp_path / "real_c.tsv"), "--cohort", cohort_path,
                "--settings", str(tmp_path / "settings.json"), *common]
    uncertainty = _write(_uncertainty(cohort, np.linspace(0.1, 0.3, 36)), tmp_path / "u.tsv")
    synth_path = _write(synth_c, tmp_path / "v1_c.tsv")
    assert main([*complete, "--source", "trusted_synth_pet", "--features-synth", synth_path,
                 "--uncertainty", uncertainty]) == 0
    scores = classification_path(classify_dir=out, task="cn_vs_mci_vs_ad",
                                 experiment="complete", source="trusted_synth_pet")
    results = pd.read_csv(scores, sep="\t")
    assert set(results["threshold_quantile"]) == {0.9} and len(results) == 3
    # User errors, reported cleanly: a variant without its features, the trusted source
    # without its uncertainty or with another variant's features, a source of the other
    # experiment.
    for extra, message in (
            (["--source", "v1"], "--source v1 needs --features-synth"),
            (["--source", "trusted_synth_pet", "--features-synth", synth_path],
             "--uncertainty is required for --source trusted_synth_pet"),
            (["--source", "real_pet"], "--source real_pet does not exist for --experiment "
                                       "complete")):
        assert main([*complete, *extra]) == 2
        assert message in capsys.readouterr().err
    synth_c.assign(source="v2").to_csv(tmp_path / "v2.tsv", sep="\t", index=False)
    assert main([*complete, "--source", "trusted_synth_pet", "--features-synth",
                 str(tmp_path / "v2.tsv"), "--uncertainty", uncertainty]) == 2
    assert "not the reference variant 'v1'" in capsys.readouterr().err


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
    results, _ = complete_experiment(task="ad_vs_cn", source="mean_imputed_pet",
                                     features_real=real, features_synth=None, cohort=cohort,
                                     n_folds=3, svm_config=SVM, seeds=[0])
    assert (results["n_train"] + results["n_test"] == len(cohort)).all()
