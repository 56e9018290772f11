"""Out-of-distribution input: a small model trained by `gla-model train` on brain-like
phantoms gets a held-out T1w like its training T1w, the same T1w with its contrast inverted,
and the same T1w at 55 % of its intensity. The two strange inputs are flagged, warned
about, and get a far higher uncertainty than the typical one."""

from __future__ import annotations

import dataclasses
import logging
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gla_model.cli import main
from gla_model.demo_cohort.phantoms import write_phantoms
from gla_model.folds import make_folds
from gla_model.layout import preprocessed_path
from gla_model.settings import LossWeights, ModelSpec, job_settings, without_resources
from gla_model.synthesize import load_synthesizer
from gla_model.uncertainty.estimator import build_estimator
from gla_model.uncertainty.members import augmentations
from gla_model.uncertainty.typicality import build_reference

GRID = 32
SPEC = ModelSpec(arch="glagan", k_patches=2, width=0.125, losses=LossWeights(l1=1.0))
IDS = [f"{d}{i}" for d in ("cn", "ad") for i in range(5)]
FP32 = job_settings(training__device="cpu", training__precision="fp32",
                    uncertainty__tta_flip=True, uncertainty__tta_shift=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, default_settings):
    """Ten phantoms, a 2-fold split, and fold 0's model trained on its 5 training subjects;
    a held-out subject's T1w as it is, contrast-inverted, and at 55 % intensity."""
    root = tmp_path_factory.mktemp("ood")
    write_phantoms(preproc_dir=root / "preprocess", participant_ids=IDS, grid=GRID)
    folds = make_folds(subjects=pd.DataFrame({"participant_id": IDS,
                                              "diagnosis": ["CN"] * 5 + ["AD"] * 5}),
                       n_folds=2, val_fraction=0.0, seed=0)
    folds.to_csv(root / "folds.tsv", sep="\t", index=False)
    training = dataclasses.replace(default_settings.training, epochs=4, batch_size=2, lr=2e-3,
                                   device="cpu", precision="fp32", preload=True)
    settings = job_settings(**{"models__variants__v": SPEC,
                               "training": without_resources(training),
                               "preprocessing": without_resources(
                                   default_settings.preprocessing)})
    assert main(["train", "--settings", settings, "--threads", "1", "--variant", "v",
                 "--folds", str(root / "folds.tsv"), "--fold", "0",
                 "--preproc-dir", str(root / "preprocess"),
                 "--atlas", str(root / "unused_atlas.nii.gz"),  # no ROI loss: never read
                 "--checkpoint", str(root / "model.pt"),
                 "--history", str(root / "history.tsv")]) == 0
    test_id = sorted(folds.loc[folds["role_fold0"] == "test", "participant_id"])[0]
    source = preprocessed_path(preproc_dir=root / "preprocess", participant_id=test_id,
                               field="t1w")
    image = nib.load(source)
    t1w = image.get_fdata(dtype=np.float32)
    brain = t1w > 0
    inputs = {"typical": t1w,
              "inverted": np.where(brain, np.clip(1.1 - t1w, 0, 1), 0),
              "dim": 0.55 * t1w}
    for name, data in inputs.items():
        nib.save(nib.Nifti1Image(data.astype(np.float32), image.affine),
                 root / f"sub-{name}_T1w.nii.gz")
    (root / "truth_pet.nii.gz").symlink_to(preprocessed_path(
        preproc_dir=root / "preprocess", participant_id=test_id, field="pet"))
    return root


def test_an_out_of_distribution_t1w_is_flagged_and_gets_high_uncertainty(trained, caplog):
    root = trained
    names = ("typical", "inverted", "dim")
    with caplog.at_level(logging.WARNING):
        assert main(["synthesize", "--checkpoint", str(root / "model.pt"), "--settings", FP32,
                     "--mri", *(str(root / f"sub-{n}_T1w.nii.gz") for n in names),
                     "--preproc-dir", str(root / "preprocess"),
                     "--out-dir", str(root / "out")]) == 0
    table = pd.read_csv(root / "out" / "uncertainty.tsv", sep="\t").set_index("participant_id")
    flagged = table["out_of_distribution"].astype(str) == "True"
    assert not flagged["typical"] and flagged["inverted"] and flagged["dim"]
    assert (table.loc[["inverted", "dim"], "input_typicality"]
            > table.loc["typical", "typicality_threshold"]).all()
    assert table.loc["typical", "input_typicality"] < table.loc["typical",
                                                                "typicality_threshold"] / 2
    for name in ("inverted", "dim"):
        assert table.loc[name, "sd_mean"] > 10 * table.loc["typical", "sd_mean"]
        assert re.search(rf"sub-{name}: the T1w .* is unlike the model's 5 training T1w",
                         caplog.text)
    assert "sub-typical: the T1w" not in caplog.text

    # A flagged subject's map is at least the RMS difference from the training PETs, voxel
    # by voxel. Its members' own spread is far below the error the PET makes (the strange
    # inputs are the held-out subject's T1w, so its real PET is the truth); the map written
    # is not.
    synthesizer = load_synthesizer(checkpoint=root / "model.pt", device="cpu",
                                   precision="fp32", threads=1)
    reference = build_reference(preproc_dir=root / "preprocess",
                                subjects=synthesizer.record["training_subjects"])
    spread = build_estimator(models=[synthesizer], names=["model.pt"],
                             augmentations=augmentations(flip=True, shift=1), reference=None)
    brain = np.asarray(nib.load(root / "sub-typical_T1w.nii.gz").dataobj) > 0
    truth = np.asarray(nib.load(root / "truth_pet.nii.gz").dataobj)
    for name in ("inverted", "dim"):
        pet = np.asarray(nib.load(root / "out" / f"sub-{name}_desc-synth_pet.nii.gz").dataobj)
        sd = np.asarray(nib.load(root / "out" / f"sub-{name}_desc-synthsd_pet.nii.gz").dataobj)
        assert (sd >= reference.prior_rms(pet).astype(np.float32) - 1e-7).all()
        mae = np.abs(pet - truth)[brain].mean()
        members = spread.estimate(participant_id=name, mri=root / f"sub-{name}_T1w.nii.gz",
                                  mask=None)
        assert members.row["sd_mean"] < mae / 4 < mae <= sd[brain].mean()

