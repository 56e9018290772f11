"""Fig 11 (`gla_model.report.interpolation`) in a cohort with MCI: the endpoints and the
AD-vs-CN classifier leave MCI subjects out (the full computation is in test_report_build)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gla_model.features import feature_columns
from gla_model.folds import make_folds
from gla_model.report import interpolation
from gla_model.report.inputs import ReportInputError
from gla_model.settings import SvmSettings

SVM = SvmSettings(C=(1.0,), gamma=("scale",), inner_folds=2)


def _features(diagnoses: dict[str, str]) -> pd.DataFrame:
    """CN rows low, AD rows high, MCI rows far above AD (an MCI row taken as CN would pull
    the classifier's CN side past AD)."""
    rng = np.random.default_rng(0)
    level = {"CN": 0.0, "AD": 1.0, "MCI": 6.0}
    columns = feature_columns()
    rows = [{"participant_id": p, "diagnosis": d,
             **dict(zip(columns, level[d] + 0.3 * rng.standard_normal(len(columns)),
                        strict=True))} for p, d in diagnoses.items()]
    return pd.DataFrame(rows)


def test_the_classifier_is_ad_vs_cn_whatever_mci_subjects_are_listed():
    diagnoses = {f"{d.lower()}{i}": d for d in ("CN", "MCI", "AD") for i in range(4)}
    features = _features(diagnoses)
    fitted = {}
    for name, ids in (("all", list(diagnoses)),
                      ("cn_ad", [p for p, d in diagnoses.items() if d != "MCI"])):
        fitted[name] = interpolation.fit_classifier(
            features_real=features, participant_ids=ids, diagnoses=diagnoses,
            svm_config=SVM, seed=0)
    rows = features[feature_columns()].to_numpy()
    np.testing.assert_allclose(fitted["all"].predict_proba(rows),
                               fitted["cn_ad"].predict_proba(rows))
    assert list(fitted["all"].classes_) == [0, 1]  # 0: CN, 1: AD
    p_cn = fitted["all"].predict_proba(rows)[:, 0]
    cn = (features["diagnosis"] == "CN").to_numpy()
    ad = (features["diagnosis"] == "AD").to_numpy()
    assert p_cn[cn].min() > 0.5 > p_cn[ad].max()


def test_endpoints_are_a_cn_and_an_ad_test_subject_never_mci():
    # "a..." MCI labels sort before every CN and AD label
    subjects = pd.DataFrame({
        "participant_id": [f"a{i}" for i in range(4)] + [f"c{i}" for i in range(4)]
        + [f"d{i}" for i in range(4)],
        "diagnosis": ["MCI"] * 4 + ["CN"] * 4 + ["AD"] * 4})
    folds = make_folds(subjects=subjects, n_folds=2, val_fraction=0.25, seed=0)
    for fold in (0, 1):
        chosen = interpolation.endpoint_subjects(folds=folds, fold=fold)
        test = folds[folds["fold"] == fold].set_index("participant_id")["diagnosis"]
        assert list(chosen) == ["CN", "AD"]
        assert {d: test[p] for d, p in chosen.items()} == {"CN": "CN", "AD": "AD"}
        assert chosen == {d: min(test.index[test == d]) for d in ("CN", "AD")}


@pytest.mark.parametrize("missing", ["CN", "AD"])
def test_a_fold_without_one_endpoint_is_refused_even_with_mci(missing):
    subjects = pd.DataFrame({"participant_id": [f"s{i}" for i in range(8)],
                             "diagnosis": ["MCI"] * 4 + [("AD" if missing == "CN" else "CN")] * 4})
    folds = make_folds(subjects=subjects, n_folds=2, val_fraction=0.0, seed=0)
    with pytest.raises(ReportInputError,
                       match=f"fold 0 has no {missing} test subject to interpolate"):
        interpolation.endpoint_subjects(folds=folds, fold=0)
