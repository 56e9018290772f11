"""Fig 10 (`gla_model.report.units`): the global path's units per AAL region, their label-blind
choice, Welch tests with Holm correction, the figure, and the `units` report part."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as scipy_stats

from gla_model import __version__
from gla_model.checkpoint import FORMAT, MODEL_KIND
from gla_model.cli import main
from gla_model.evaluate.stats import holm
from gla_model.folds import fold_subjects, make_folds
from gla_model.layout import preprocessed_path
from gla_model.layout.report import report_outputs
from gla_model.nets import GlaGenerator, build_model
from gla_model.report import units
from gla_model.report.inputs import ReportInputError
from gla_model.resources import model_grid
from gla_model.settings import ModelSpec, job_settings, job_value

GRID = 32
KEY = "models.variants.units"
SPEC = job_value({KEY: {"arch": "glagan_global", "width": 0.0625, "losses": {"l1": 1.0}}},
                 KEY, as_type=ModelSpec)
DIAGNOSES = {"cn": "CN", "mci": "MCI", "ad": "AD"}
IDS = [f"{d}{i}" for d in DIAGNOSES for i in range(4)]
#: Atlas: six slabs along the first axis, labelled 1..6 (index 7 is named but absent).
NAMES = {1: "Precentral_L", 2: "Precentral_R", 3: "Frontal_Sup_L", 4: "Frontal_Sup_R",
         5: "Vermis_1_2", 6: "Vermis_3", 7: "Absent_Region"}


def _atlas() -> np.ndarray:
    labels = np.zeros((GRID,) * 3, dtype=np.int16)
    for region in range(1, 7):
        labels[4 * region:4 * region + 4, 6:26, 6:26] = region
    return labels


@pytest.fixture
def tree(tmp_path):
    """Preprocessed T1w and masks, folds, atlas and labels, and a global-only checkpoint of
    fold 0 (trained on that fold's train and val subjects)."""
    _, affine = model_grid(size=GRID)
    rng = np.random.default_rng(0)
    mask = np.zeros((GRID,) * 3, dtype=np.float32)
    mask[2:30, 4:28, 4:28] = 1
    for pid in IDS:
        t1w = (0.3 + 0.6 * rng.random((GRID,) * 3)) * mask
        if pid.startswith("ad"):
            t1w[4:12] *= 0.5  # "atrophy" in regions 1 and 2
        elif pid.startswith("mci"):
            t1w[4:12] *= 0.75
        for field, data in (("t1w", t1w), ("mask", mask)):
            path = preprocessed_path(preproc_dir=tmp_path / "preprocess", participant_id=pid,
                                     field=field)
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(data.astype(np.float32), affine), path)
    nib.save(nib.Nifti1Image(_atlas(), affine), tmp_path / "atlas.nii.gz")
    pd.DataFrame({"index": list(NAMES), "name": list(NAMES.values())}).to_csv(
        tmp_path / "labels.tsv", sep="\t", index=False)
    folds = make_folds(subjects=pd.DataFrame({"participant_id": IDS,
                                              "diagnosis": [DIAGNOSES[p[:-1]] for p in IDS]}),
                       n_folds=2, val_fraction=0.25, seed=0)
    folds.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    split = fold_subjects(folds=folds, fold="0")
    _checkpoint(tmp_path / "model.pt", train=split["train"], val=split["val"])
    return tmp_path


def _checkpoint(path, *, train: list[str], val: list[str]) -> None:
    torch.manual_seed(0)
    bundle = build_model(spec=SPEC, grid=GRID)
    torch.save({"kind": MODEL_KIND, "format": FORMAT, "code_version": __version__,
                "variant": "units", "spec": SPEC.as_dict(), "grid": GRID, "fold": "0",
                "generator_state": bundle.generator.state_dict(), "epoch": 1,
                "val_loss": None, "selection": "test", "training_subjects": train,
                "validation_subjects": val}, path)


def _arguments(tree, out) -> list[str]:
    settings = job_settings(models={"enabled": ["units"], "variants": {"units": {
        **SPEC.as_dict(), "group": "main", "label": "Global only"}}},
        report__interpolation_fold=0)
    return ["report", "--what", "units", "--settings", settings, "--out-dir", str(out),
            "--checkpoint", str(tree / "model.pt"), "--preproc-dir", str(tree / "preprocess"),
            "--atlas", str(tree / "atlas.nii.gz"), "--atlas-labels", str(tree / "labels.tsv"),
            "--folds", str(tree / "folds.tsv")]


def test_regional_means_by_hand():
    labels = np.array([[[1, 1, 2, 0]]])
    mask = np.array([[[1, 1, 1, 1]]])
    activations = np.array([[[[1.0, 3.0, 5.0, 7.0]]], [[[0.0, 2.0, -1.0, 9.0]]]])
    means = units.regional_means(activations=activations, labels=labels, mask=mask,
                                 regions=(1, 2, 3))
    np.testing.assert_allclose(means, [[2.0, 5.0, np.nan], [1.0, -1.0, np.nan]])
    # Voxels outside the mask do not count.
    masked = units.regional_means(activations=activations, labels=labels,
                                  mask=np.array([[[0, 1, 1, 1]]]), regions=(1, 2))
    np.testing.assert_allclose(masked, [[3.0, 5.0], [2.0, -1.0]])
    with pytest.raises(ReportInputError, match="different grids"):
        units.regional_means(activations=activations, labels=labels[..., :3], mask=mask,
                             regions=(1,))


def test_units_are_chosen_by_their_spread_across_regions():
    profile = np.array([[1.0, 1.0, 1.0],     # flat: never chosen first
                        [0.0, 5.0, 0.0],     # the most selective
                        [2.0, 3.0, np.nan],  # a region without voxels is ignored
                        [np.nan] * 3])       # a unit without any value comes last
    assert units.select_units(profile=profile, count=4) == [1, 2, 0, 3]
    assert units.emphasized_regions(profile=profile, unit=2, count=3) == [1, 0, 2]


def _study(regional: np.ndarray, diagnoses: tuple[str, ...]) -> units.UnitStudy:
    n_units, n_regions = regional.shape[1:]
    maps = {d: np.zeros((n_units, 2, 2, 2)) for d in ("CN", "AD")}
    return units.UnitStudy(
        participants=tuple(f"s{i}" for i in range(len(diagnoses))), diagnoses=diagnoses,
        regions=tuple(range(1, n_regions + 1)),
        region_names={r: f"R{r}" for r in range(1, n_regions + 1)}, regional=regional,
        maps=maps, t1w=np.ones((2, 2, 2)), labels=np.ones((2, 2, 2), dtype=np.int64))


def test_unit_table_is_welch_with_holm_over_every_row():
    rng = np.random.default_rng(4)
    diagnoses = ("CN", "AD", "CN", "AD", "CN", "AD", "AD", "MCI", "MCI")
    regional = rng.normal(size=(7, 3, 4))
    regional[[1, 3, 5, 6], 0, 2] += 3.0  # AD higher in unit 0, region 3
    # MCI far off (evenly, so the regions' order is kept): in neither group of the tests
    regional = np.concatenate([regional, np.full((2, 3, 4), 50.0)])
    study = _study(regional, diagnoses)
    table = units.unit_table(study=study, units=[0, 2], regions_per_unit=3)
    assert len(table) == 6 and table["unit"].tolist() == [0, 0, 0, 2, 2, 2]
    assert table["rank"].tolist() == [1, 2, 3] * 2
    ad = np.array([d == "AD" for d in diagnoses])
    cn = np.array([d == "CN" for d in diagnoses])
    for row in table.itertuples():
        position = row.region_index - 1
        values = regional[:, row.unit, position]
        expected = scipy_stats.ttest_ind(values[ad], values[cn], equal_var=False)
        assert row.p_value == pytest.approx(expected.pvalue)
        assert row.t_statistic == pytest.approx(expected.statistic)
        assert row.difference == pytest.approx(values[ad].mean() - values[cn].mean())
        assert (row.n_cn, row.n_ad) == (3, 4)
        assert row.region == f"R{row.region_index}"
    np.testing.assert_allclose(table["p_holm"], holm(table["p_value"].to_numpy()))
    assert (table["p_holm"] >= table["p_value"]).all()
    # Unit 0's top region is the shifted one, and its AD-CN difference is positive.
    assert table.iloc[0]["region_index"] == 3 and table.iloc[0]["difference"] > 2


def test_a_group_of_one_subject_gives_no_p_value():
    study = _study(np.arange(6.0).reshape(3, 1, 2), ("CN", "CN", "AD"))
    table = units.unit_table(study=study, units=[0], regions_per_unit=2)
    assert table["p_value"].isna().all() and table["p_holm"].isna().all()
    assert table["sd_ad"].isna().all() and table["n_ad"].tolist() == [1, 1]


def test_capture_hooks_the_global_path_once_and_cleans_up():
    torch.manual_seed(0)
    generator = build_model(spec=SPEC, grid=GRID).generator.eval()
    path = units.global_path(generator=generator)
    assert path is generator.network.global_path

    def synthesize(mri: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return generator(torch.from_numpy(mri.astype(np.float32))[None, None])[0, 0].numpy()

    mri = np.random.default_rng(0).random((GRID,) * 3)
    maps = units.capture_global_features(synthesize=synthesize, path=path, mri=mri)
    assert maps.shape == (path.out_channels, GRID, GRID, GRID) and maps.dtype == np.float32
    with torch.no_grad():
        expected = path(torch.from_numpy(mri.astype(np.float32))[None, None])[0].numpy()
    np.testing.assert_allclose(maps, expected, rtol=1e-6, atol=1e-6)
    assert not path._forward_hooks


@pytest.mark.parametrize("network", [
    lambda: GlaGenerator(k_patches=2, width=0.0625, path="local"),
    lambda: torch.nn.Conv3d(1, 1, 1),
])
def test_a_generator_without_global_path_is_refused(network):
    with pytest.raises(ReportInputError, match="no global path"):
        units.global_path(generator=network())


def test_report_units_part_writes_figure_and_table(tree, tmp_path):
    out = tmp_path / "report"
    assert main(_arguments(tree, out)) == 0
    figure_path, table_path = report_outputs(report_dir=out, part="units", variants={})
    assert {p for p in out.rglob("*") if p.is_file()} == {figure_path, table_path}
    assert figure_path.read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(table_path, sep="\t")
    n_units = units.UNIT_COUNT  # width 0.0625: exactly 4 units in the global path
    assert table["unit"].nunique() == n_units
    assert len(table) == n_units * units.REGION_COUNT
    assert set(table["region"]) <= set(NAMES.values()) - {"Absent_Region"}
    assert (table["n_cn"] + table["n_ad"] == 4).all()  # fold 0's CN and AD test subjects
    assert table["p_value"].notna().all()
    np.testing.assert_allclose(table["p_holm"], holm(table["p_value"].to_numpy()))


def test_units_figure_has_a_row_per_unit(tree):
    from gla_model.synthesize import load_synthesizer

    synthesize = load_synthesizer(checkpoint=tree / "model.pt", device="cpu",
                                  precision="fp32", threads=None)
    folds = pd.read_csv(tree / "folds.tsv", sep="\t", dtype={"participant_id": str})
    study = units.study_units(synthesize=synthesize, generator=synthesize.generator, trained=[],
                              preproc_dir=tree / "preprocess", atlas=tree / "atlas.nii.gz",
                              atlas_labels=tree / "labels.tsv", folds=folds, fold=0)
    assert study.regions == (1, 2, 3, 4, 5, 6)
    assert study.regional.shape == (6, 4, 6)
    assert sorted(study.diagnoses) == ["AD", "AD", "CN", "CN", "MCI", "MCI"]
    # The mean map is over every test subject, MCI included (label-blind).
    assert set(study.maps) == {"CN", "MCI", "AD"}
    np.testing.assert_allclose(study.mean_map(), sum(study.maps.values()) / 3, rtol=1e-5)
    table = units.unit_table(study=study, units=[3, 1], regions_per_unit=2)
    figure = units.units_figure(study=study, table=table, voxel_size=(2.0, 2.0, 2.0))
    images = [axis for axis in figure.axes if axis.images]
    assert len(images) == 2 * (len(units.VIEWS) + 1)
    assert [axis.get_ylabel() for axis in images[::3]] == ["unit 3", "unit 1"]
    assert "6 test subjects (2 CN, 2 MCI, 2 AD)" in figure.get_suptitle()


def test_test_subjects_that_trained_the_generator_are_refused(tree, tmp_path, capsys):
    folds = pd.read_csv(tree / "folds.tsv", sep="\t", dtype={"participant_id": str})
    test = fold_subjects(folds=folds, fold="0")["test"]
    _checkpoint(tree / "model.pt", train=test, val=[])
    assert main(_arguments(tree, tmp_path / "report")) == 2
    assert "trained the generator" in capsys.readouterr().err
