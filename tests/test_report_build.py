"""`gla-model report` end to end on a small synthetic results tree, and Fig 11's computation."""

from __future__ import annotations

import argparse
import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gla_model.classify.tasks import task_metrics
from gla_model.cli import main
from gla_model.features import feature_columns
from gla_model.layout import (
    classification_path,
    model_folder,
    predictions_path,
    preprocessed_path,
    synthetic_pet_path,
)
from gla_model.layout.report import report_outputs
from gla_model.report import build, classification, figures, interpolation
from gla_model.report.inputs import ReportInputError
from gla_model.settings import (
    SvmSettings,
    as_mapping,
    build_settings,
    job_settings,
    merge_config,
)

GRID = 8
VARIANTS = {
    "glagan": {"group": "main", "label": "GLA-GAN", "arch": "glagan", "k_patches": 4,
               "width": 0.25, "losses": {"l1": 1.0, "roi": 10.0}},
    "unet3d": {"group": "main", "label": "3D U-Net", "arch": "unet3d", "width": 0.25,
               "losses": {"l1": 1.0}},
    "glagan_global": {"group": "ablation_architecture", "label": "Global only",
                      "arch": "glagan_global", "width": 0.25, "losses": {"l1": 1.0}},
}
IDS = [f"s{i:02d}" for i in range(10)]
DIAGNOSES = ["CN" if i % 2 == 0 else "AD" for i in range(10)]
TASKS = ("ad_vs_cn", "cn_vs_mci_vs_ad")
SOURCES = {"paired": ["mri_only", "real_pet", *VARIANTS],
           "complete": ["mri_only", "mean_imputed_pet", *VARIANTS, "trusted_synth_pet"]}


def _save(data: np.ndarray, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.diag([2.0, 2.5, 2.0, 1.0])), path)


def _volumes(participant_id: str, diagnosis: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(int(participant_id[1:]))
    shape = (GRID,) * 3
    mask = np.zeros(shape)
    mask[1:-1, 1:-1, 1:-1] = 1
    gm = np.zeros(shape)
    gm[:, :, : GRID // 2] = 0.8
    wm = np.where(gm > 0, 0.1, 0.8)
    hypo = 0.5 if diagnosis == "AD" else 0.0  # AD: low uptake in the lower half
    pet = np.clip(0.6 + rng.normal(0, 0.02, shape) - hypo * (gm > 0) * 0.5, 0, 1) * mask
    mri = np.clip(0.5 + rng.normal(0, 0.02, shape), 0, 1) * mask
    return {"T1w": mri, "pet": pet, "GM": gm, "WM": wm, "CSF": 1 - gm - wm, "mask": mask}


def _write_preprocessed(root, participant_id: str, diagnosis: str) -> None:
    for kind, volume in _volumes(participant_id, diagnosis).items():
        field = "t1w" if kind == "T1w" else kind
        _save(volume, preprocessed_path(preproc_dir=root, participant_id=participant_id,
                                        field=field))


def _folds() -> pd.DataFrame:
    folds = pd.DataFrame({"participant_id": IDS, "diagnosis": DIAGNOSES,
                          "fold": [i // 2 % 5 for i in range(10)]})
    for k in range(5):
        folds[f"role_fold{k}"] = ["test" if f == k else ("val" if i == (2 * k + 2) % 10
                                                          else "train")
                                  for i, f in enumerate(folds["fold"])]
    folds["role_full"] = ["val" if i == 0 else "train" for i in range(10)]
    return folds


@pytest.fixture
def settings_json(default_config) -> str:
    """Every settings section, with this module's variants enabled."""
    config = merge_config(base=default_config,
                          override={"models": {"enabled": list(VARIANTS), "variants": VARIANTS}})
    return job_settings(**as_mapping(build_settings(config=config)))


def _predictions(*, source: str, task: str) -> pd.DataFrame:
    """Out-of-fold predictions of every subject (10 paired, 2 MRI-only) for 3 seeds; the
    MRI-only subjects are right for GLA-GAN only. Three-class: the paired subjects' classes
    cycle CN, MCI, AD; real PET is right on all of them, the others call every MCI CN."""
    ids, diagnoses = [*IDS, "m1", "m2"], [*DIAGNOSES, "CN", "AD"]
    rows = []
    for seed in range(3):
        for index, (pid, diagnosis) in enumerate(zip(ids, diagnoses, strict=True)):
            if task == "ad_vs_cn":
                truth = int(diagnosis == "AD")
                right = index < 10 or source == "glagan"
                predicted = truth if right else 1 - truth
                scores = {"score": (predicted - 0.5) * (1 + index / 10)}
            else:
                truth = index % 3
                predicted = truth if source == "real_pet" or truth != 1 else 0
                scores = {f"score_{c}": float(k == predicted)
                          for k, c in enumerate(("cn", "mci", "ad"))}
            rows.append({"participant_id": pid, "seed": seed, "fold": index % 5,
                         "y_true": truth, "y_pred": predicted, **scores})
    return pd.DataFrame(rows)


def _results(task: str, experiment: str, classification_rows) -> pd.DataFrame:
    """Per (seed, fold) rows of every source of ``experiment`` for ``task``; the trusted
    source with its threshold columns."""
    sources = SOURCES[experiment]
    rows = classification_rows({s: 0.8 + 0.01 * i for i, s in enumerate(sources)},
                               experiment=experiment)
    if task != "ad_vs_cn":
        noise = np.random.default_rng(4).normal(0.0, 0.02, (len(rows), 6))
        rows = rows.drop(columns=["accuracy", "sensitivity", "specificity", "f1", "mcc",
                                  "auc"]).assign(**{metric: 0.6 + noise[:, k] for k, metric
                                                    in enumerate(task_metrics(task))})
    trusted = rows["source"] == "trusted_synth_pet"
    return rows.assign(task=task, threshold_quantile=np.where(trusted, 0.9, np.nan),
                       threshold=np.where(trusted, 0.2, np.nan),
                       n_untrusted_test=np.where(trusted, 1, np.nan),
                       n_mri_only_test=np.where(trusted, 2, np.nan))


@pytest.fixture
def tree(tmp_path, image_scores, classification_rows):
    """A results tree with every input of the tables, figures and summary parts."""
    root = tmp_path / "results"
    folds = _folds()
    (root / "folds").mkdir(parents=True)
    folds.to_csv(root / "folds" / "folds.tsv", sep="\t", index=False)
    quality = image_scores({"glagan": {"mae": -0.004, "ssim": 0.03}, "unet3d": {"mae": -0.002},
                            "glagan_global": {"ssim": 0.01}, "mean_train_pet": {}}, n=10)
    quality["participant_id"] = quality["participant_id"].map(lambda s: IDS[int(s)])
    quality["fold"] = quality["participant_id"].map(folds.set_index("participant_id")["fold"])
    (root / "evaluate" / "image_quality").mkdir(parents=True)
    for variant, part in quality.groupby("variant"):
        part.to_csv(root / "evaluate" / "image_quality" / f"{variant}.tsv", sep="\t",
                    index=False)
    (root / "evaluate" / "metric_spec.json").write_text(json.dumps({"dimensionality": "3D"}))
    for task in TASKS:
        for experiment in SOURCES:
            rows = _results(task, experiment, classification_rows)
            for source, part in rows.groupby("source"):
                scores = classification_path(classify_dir=root / "classify", task=task,
                                             experiment=experiment, source=source)
                scores.parent.mkdir(parents=True, exist_ok=True)
                part.to_csv(scores, sep="\t", index=False)
                _predictions(source=source, task=task).to_csv(
                    predictions_path(scores=scores), sep="\t", index=False)
    (root / "preprocess" / "failures").mkdir(parents=True)
    pd.DataFrame({"participant_id": IDS, "snr": np.linspace(5, 9, 10),
                  "flag_registration": [False] * 9 + [True]}).to_csv(
        root / "preprocess" / "qc.tsv", sep="\t", index=False)
    (root / "preprocess" / "failures" / "sub-x99.txt").write_text("skull strip failed\n")
    (root / "cohort").mkdir()
    pd.DataFrame({"participant_id": [*IDS, "m1", "m2"],
                  "diagnosis": [*DIAGNOSES, "CN", "AD"],
                  "group": ["paired"] * 10 + ["mri_only"] * 2, "session": "",
                  "t1w": "t1w.nii.gz", "pet": ["pet.nii.gz"] * 10 + [""] * 2}).to_csv(
        root / "cohort" / "cohort.tsv", sep="\t", index=False)
    for variant in VARIANTS:
        for fold in range(5):
            history = pd.DataFrame({"epoch": [1, 1, 2, 2], "split": ["train", "val"] * 2,
                                    "l1": [0.3, 0.35, 0.2, 0.3]})
            path = root / "train" / variant / f"fold-{fold}" / "history.tsv"
            path.parent.mkdir(parents=True)
            history.to_csv(path, sep="\t", index=False)
    for participant_id, diagnosis, fold in folds[["participant_id", "diagnosis",
                                                  "fold"]].itertuples(index=False):
        _write_preprocessed(root / "preprocess", participant_id, diagnosis)
        pet = _volumes(participant_id, diagnosis)["pet"]
        for variant in VARIANTS:
            _save(pet * 0.9, synthetic_pet_path(
                synth_dir=root / "synthesize" / variant / model_folder(fold),
                participant_id=participant_id))
    return root


def _arguments(root, out, settings: str) -> list[str]:
    return ["--settings", settings, "--out-dir", str(out),
            "--image-quality-dir", str(root / "evaluate" / "image_quality"),
            "--metric-spec", str(root / "evaluate" / "metric_spec.json"),
            "--classify-dir", str(root / "classify"), "--qc", str(root / "preprocess" / "qc.tsv"),
            "--cohort", str(root / "cohort" / "cohort.tsv"),
            "--folds", str(root / "folds" / "folds.tsv"),
            "--failures-dir", str(root / "preprocess" / "failures"),
            "--train-dir", str(root / "train"), "--synth-dir", str(root / "synthesize"),
            "--preproc-dir", str(root / "preprocess"), "--tasks", *TASKS]


def _written(out) -> set:
    return {path for path in out.rglob("*") if path.is_file()}


def test_report_cli_tables_and_summary_write_exactly_the_declared_outputs(tree, tmp_path,
                                                                          settings_json):
    out = tmp_path / "report"
    assert main(["report", "--what", "tables", "summary",
                 *_arguments(tree, out, settings_json)]) == 0
    expected = {path for part in ("tables", "summary")
                for path in report_outputs(report_dir=out, part=part, variants=VARIANTS,
                                           tasks=TASKS)}
    assert _written(out) == expected
    assert out / "tables" / "ablation_architecture.md" in expected
    assert out / "tables" / "classification_cn_vs_mci_vs_ad_complete.html" in expected
    assert not (out / "tables" / "classification_mci_vs_cn_paired.tsv").exists()
    three = pd.read_csv(out / "tables" / "classification_cn_vs_mci_vs_ad_complete.tsv",
                        sep="\t")
    assert three["source"].tolist() == [*SOURCES["complete"][:2], "glagan", "unet3d",
                                        "trusted_synth_pet"]
    assert "balanced_accuracy_mean" in three.columns and "accuracy_mean" not in three.columns
    table3 = pd.read_csv(out / "tables" / "table3_classification_complete.tsv", sep="\t")
    assert table3["source"].iloc[-1] == "trusted_synth_pet"
    assert table3["threshold_mean"].iloc[-1] == pytest.approx(0.2)
    assert not (out / "tables" / "ablation_losses.tsv").exists()  # no variant in that group
    table = pd.read_csv(out / "tables" / "table1_synthesis_quality.tsv", sep="\t")
    assert table["variant"].tolist() == ["glagan", "unet3d", "mean_train_pet"]
    summary = (out / "summary.md").read_text()
    assert "- sub-x99: skull strip failed" in summary
    assert "| paired | 5 | 5 | 10 |" in summary


@pytest.mark.slow
def test_report_cli_figures_write_exactly_the_declared_outputs(tree, tmp_path, settings_json):
    out = tmp_path / "report"
    assert main(["report", "--what", "figures", *_arguments(tree, out, settings_json)]) == 0
    expected = set(report_outputs(report_dir=out, part="figures", variants=VARIANTS,
                                  tasks=TASKS))
    assert _written(out) == expected
    assert out / "figures" / "confusion_cn_vs_mci_vs_ad.png" in expected
    assert out / "figures" / "qualitative_architecture_CN.png" in expected
    assert all(path.read_bytes()[:4] == b"\x89PNG" for path in expected)


def test_confusion_figure_pools_the_paired_predictions_of_three_sources(tree, tmp_path,
                                                                       monkeypatch):
    parser = argparse.ArgumentParser()
    build.configure_parser(parser)
    args = parser.parse_args(["--what", "figures", *_arguments(tree, tmp_path / "report", "{}")])
    args.reference = "unet3d"
    drawn = []
    save = figures.save_figure
    monkeypatch.setattr(figures, "save_figure",
                        lambda *, figure, path: drawn.append(figure) or save(figure=figure,
                                                                             path=path))
    path = classification.confusion(args=args, variants=VARIANTS, task="cn_vs_mci_vs_ad")
    assert path == tmp_path / "report" / "figures" / "confusion_cn_vs_mci_vs_ad.png"
    assert path.read_bytes()[:4] == b"\x89PNG"
    panels = [axis for axis in drawn[0].axes if axis.images]
    assert [axis.get_title() for axis in panels] == ["MRI only", "Real PET",
                                                    "3D U-Net (synthetic PET)"]
    # 12 subjects x 3 seeds, 12 per class: real PET right on all; the others call MCI CN.
    cells = [[text.get_text() for text in axis.texts] for axis in panels]
    assert cells[1] == ["1.00\n(12)", "0.00\n(0)", "0.00\n(0)", "0.00\n(0)", "1.00\n(12)",
                        "0.00\n(0)", "0.00\n(0)", "0.00\n(0)", "1.00\n(12)"]
    assert cells[2][3:6] == ["1.00\n(12)", "0.00\n(0)", "0.00\n(0)"]


def test_report_cli_names_missing_arguments(tree, tmp_path, capsys, settings_json):
    code = main(["report", "--what", "summary", "--settings", settings_json,
                 "--out-dir", str(tmp_path)])
    assert code == 2
    assert "--what summary needs --image-quality-dir" in capsys.readouterr().err


def test_report_cli_rejects_variants_without_group(tmp_path, capsys):
    settings = json.dumps({"models": {"enabled": ["x"], "variants": {"x": {"label": "X"}}}})
    code = main(["report", "--what", "tables", "--settings", settings,
                 "--out-dir", str(tmp_path)])
    assert code == 2
    assert "'models.variants.x.group': missing" in capsys.readouterr().err


@pytest.mark.parametrize("mri_features", ["density", "intensity"])
def test_interpolation_is_leakage_free_and_probabilities_follow_the_pet(tree, mri_features):
    folds = pd.read_csv(tree / "folds" / "folds.tsv", sep="\t")
    atlas = np.zeros((GRID,) * 3)
    atlas[:, :, : GRID // 2] = 1
    atlas[:, :, GRID // 2:] = 2
    _save(atlas, tree / "atlas.nii.gz")
    labels = atlas.astype(np.int64)
    rows = []
    for participant_id, diagnosis in zip(IDS, DIAGNOSES, strict=True):
        volumes = interpolation.load_volumes(preproc_dir=tree / "preprocess",
                                             participant_id=participant_id, with_pet=True)
        values = interpolation.roi_features(volumes=volumes, pet=volumes.pet, labels=labels,
                                            mri=mri_features)
        rows.append({"participant_id": participant_id, "diagnosis": diagnosis,
                     **dict(zip(feature_columns(), values, strict=True))})
    features_real = pd.DataFrame(rows)
    # The real PET stands in for a generator: synthesize by interpolating the two PETs.
    ends = {d: _volumes(p, d)["pet"] for d, p in (("CN", "s00"), ("AD", "s01"))}
    mris = {d: _volumes(p, d)["T1w"] for d, p in (("CN", "s00"), ("AD", "s01"))}

    def synthesize(mri: np.ndarray) -> np.ndarray:
        alpha = np.sum((mri - mris["CN"]) * (mris["AD"] - mris["CN"])) / np.sum(
            (mris["AD"] - mris["CN"]) ** 2)
        return (1 - alpha) * ends["CN"] + alpha * ends["AD"]

    result = interpolation.run_interpolation(
        preproc_dir=tree / "preprocess", atlas=tree / "atlas.nii.gz", folds=folds, fold=0,
        features_real=features_real,
        svm_config=SvmSettings(C=(1.0,), gamma=("scale",), inner_folds=2),
        seed=0, steps=5, synthesize=synthesize, mri_features=mri_features)
    assert result.participants == {"CN": "s00", "AD": "s01"}  # fold 0's test subjects
    np.testing.assert_allclose(result.alphas, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(result.steps[2].mri, 0.5 * (mris["CN"] + mris["AD"]))
    assert result.p_cn_steps[0] > 0.5 > result.p_cn_steps[-1]
    assert result.p_cn_real["CN"] > result.p_cn_real["AD"]
    table = result.table()
    assert table["column"].tolist() == ["real_CN", *(f"step_{i}" for i in range(5)), "real_AD"]
    with pytest.raises(ReportInputError, match="fold 0 has no CN test subject to interpolate"):
        interpolation.endpoint_subjects(folds=folds.assign(diagnosis="AD"), fold=0)
