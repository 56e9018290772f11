"""The official BIDS validator (bids-validator-deno, offline) finds no error in the demo
cohort nor in a real ``results/preprocess`` of the workflow. A missing validator fails."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gla_model.demo_cohort.write import write_demo_cohort
from gla_model.layout import Layout, preprocessed_names

VALIDATOR = Path(sys.executable).parent / "bids-validator-deno"


def _validate(dataset: Path) -> list[dict]:
    """The validator's issues (errors and warnings) for ``dataset``."""
    assert VALIDATOR.is_file(), (f"{VALIDATOR} is missing; install the test extra: "
                                 "pip install -e '.[test]'")
    result = subprocess.run([str(VALIDATOR), str(dataset), "--format", "json"],
                            capture_output=True, text=True, timeout=300)
    assert result.stdout.strip(), f"no report from the validator: {result.stderr[-2000:]}"
    return json.loads(result.stdout)["issues"]["issues"]


def _errors(issues: list[dict]) -> list[str]:
    return [f"{i['code']} {i.get('subCode') or ''} {i.get('location') or ''}"
            for i in issues if i["severity"] == "error"]


def test_demo_cohort_is_valid_bids(tmp_path):
    root = tmp_path / "demo"
    plan = write_demo_cohort(out_dir=root, n_paired=2, n_mri_only=1, seed=5, mci_fraction=0.34,
                             t1_voxel_mm=4.0, pet_voxel_mm=6.0)
    assert {s.diagnosis for s in plan} == {"CN", "MCI"}  # MCI rows and levels validate too
    issues = _validate(root)
    assert _errors(issues) == []
    warned = {i["code"] for i in issues}
    assert not warned & {"README_FILE_MISSING", "NO_AUTHORS"}


def test_the_validator_reports_an_error_it_should(tmp_path):
    """The check above can fail: a PET sidecar without its REQUIRED keys is an error."""
    root = tmp_path / "demo"
    write_demo_cohort(out_dir=root, n_paired=1, n_mri_only=0, seed=5, t1_voxel_mm=4.0,
                      pet_voxel_mm=6.0)
    sidecar = next(root.glob("sub-*/pet/*_pet.json"))
    sidecar.write_text(json.dumps({"TracerName": "FDG"}))
    assert any("SIDECAR_KEY_REQUIRED Manufacturer" in e for e in _errors(_validate(root)))


@pytest.mark.slow
def test_preprocessing_results_are_a_valid_bids_derivatives_dataset(tiny_local_run):
    layout = Layout(results=tiny_local_run / "results")
    preprocess = layout.preprocess_dir
    assert _errors(_validate(preprocess)) == []
    description = json.loads(layout.preprocess_dataset_files["description"].read_text())
    assert description["DatasetType"] == "derivative"
    subjects = sorted(p.name.removeprefix("sub-") for p in preprocess.glob("sub-*"))
    assert subjects
    for subject in subjects:
        paired = (preprocess / f"sub-{subject}" / "pet").is_dir()
        for name in preprocessed_names(participant_id=subject, has_pet=paired).values():
            assert (preprocess / f"sub-{subject}" / name).is_file(), name
