"""The workflow itself, through real Snakemake runs: lint, dry runs, a tiny real run, reruns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, TINY, snakemake

DEFAULT = (ROOT / "config.yaml",)


def planned_jobs(result) -> dict[str, int]:
    """Job counts per rule from a dry run's 'Job stats' table."""
    text = result.stdout + result.stderr
    table = text.split("Job stats:", 1)[1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, re.M)
            if rule not in {"job", "total"}}


def train_commands(result) -> list[str]:
    """The `gla-model train` command lines of a dry run with -p."""
    return re.findall(r"^Shell command: (gla-model train .*)$", result.stdout + result.stderr,
                      re.M)


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def fake_bids(root: Path, *, n_paired: int, n_mri_only: int) -> Path:
    """A BIDS tree of empty files (discovery reads names only)."""
    rows = ["participant_id\tdiagnosis"]
    for index in range(n_paired + n_mri_only):
        subject = f"s{index:04d}"
        rows.append(f"sub-{subject}\t{'AD' if index % 2 else 'CN'}")
        (root / f"sub-{subject}" / "anat").mkdir(parents=True)
        (root / f"sub-{subject}" / "anat" / f"sub-{subject}_T1w.nii.gz").touch()
        if index < n_paired:
            (root / f"sub-{subject}" / "pet").mkdir()
            (root / f"sub-{subject}" / "pet" / f"sub-{subject}_trc-FDG_pet.nii.gz").touch()
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_lint_has_no_findings(tmp_path):
    result = snakemake("--lint", workdir=tmp_path)
    assert "Lints for" not in result.stdout + result.stderr


def test_dry_run_of_the_default_config_plans_every_stage(tmp_path):
    jobs = planned_jobs(snakemake("-n", workdir=tmp_path, configfiles=DEFAULT))
    assert jobs["build_demo_cohort"] == 1
    assert jobs["preprocess_paired_subject"] == 32
    assert jobs["preprocess_mri_only_subject"] == 8
    assert jobs["train_model"] == 3 * (5 + 1)
    assert jobs["synthesize_test_fold"] == 3 * 5
    assert jobs["synthesize_mri_only"] == 3
    assert jobs["classify_paired"] == 2 + 3
    assert jobs["classify_complete"] == 1 + 3
    assert not (tmp_path / "results").exists()


def test_a_variant_epochs_override_reaches_only_its_training_jobs(tmp_path):
    config = yaml.safe_load(DEFAULT[0].read_text())
    overridden = {name for name in config["models"]["enabled"]
                  if "epochs" in config["models"]["variants"][name]}
    assert overridden, "the default config should show the per-variant epochs override"
    result = snakemake("-n", "-p", workdir=tmp_path, configfiles=DEFAULT)
    commands = train_commands(result)
    assert len(commands) == 3 * (5 + 1)
    for command in commands:
        variant = re.search(r"--variant (\w+)", command).group(1)
        epochs = config["models"]["variants"][variant].get("epochs",
                                                           config["training"]["epochs"])
        settings = json.loads(re.search(r"--settings '([^']*)'", command).group(1))
        assert settings["training"]["epochs"] == epochs, command
        assert "epochs" not in settings[f"models.variants.{variant}"]
        assert "threads" not in settings["training"]  # a job resource, not a setting


def test_dry_run_on_a_bids_directory_given_by_path(tmp_path):
    bids = fake_bids(tmp_path / "bids", n_paired=10, n_mri_only=3)
    override = write_yaml(tmp_path / "bids.yaml",
                          {"cohort": {"source": "bids", "bids_dir": str(bids)}})
    jobs = planned_jobs(snakemake("-n", workdir=tmp_path / "run",
                                  configfiles=(*DEFAULT, TINY, override)))
    assert "build_demo_cohort" not in jobs
    assert jobs["preprocess_paired_subject"] == 10
    assert jobs["preprocess_mri_only_subject"] == 3


def test_invalid_config_fails_before_any_job(tmp_path):
    override = write_yaml(tmp_path / "bad.yaml", {"preprocessing": {"backend": "spm"}})
    result = snakemake("--cores", "1", workdir=tmp_path / "run", check=False,
                       configfiles=(*DEFAULT, override))
    assert result.returncode != 0
    assert "'preprocessing.backend': 'spm' is not one of ['ants', 'fsl']" in result.stderr
    assert not (tmp_path / "run" / "results").exists()


def test_fsl_backend_without_fsl_fails_before_any_job(tmp_path):
    override = write_yaml(tmp_path / "fsl.yaml", {"preprocessing": {"backend": "fsl"}})
    result = snakemake("--cores", "1", workdir=tmp_path / "run", check=False,
                       configfiles=(*DEFAULT, TINY, override))
    assert result.returncode != 0
    assert "flirt" in result.stderr and "backend: ants" in result.stderr
    assert not (tmp_path / "run" / "results").exists()


@pytest.mark.slow
def test_tiny_run_writes_the_report(tiny_local_run):
    report = tiny_local_run / "results" / "report"
    for name in ["tables/table1_synthesis_quality.md", "tables/table2_classification_paired.md",
                 "tables/table3_classification_complete.md", "figures/interpolation.png",
                 "summary.md"]:
        assert (report / name).stat().st_size > 0, name
    assert not planned_jobs_or_empty(snakemake("-n", workdir=tiny_local_run))


def planned_jobs_or_empty(result) -> dict[str, int]:
    text = result.stdout + result.stderr
    return planned_jobs(result) if "Job stats:" in text else {}


@pytest.mark.slow
def test_changing_an_svm_setting_reruns_only_classification_and_report(tiny_local_run, tmp_path):
    override = write_yaml(tmp_path / "svm.yaml", {"classification": {"svm": {"C": [1.0, 100.0]}}})
    jobs = planned_jobs(snakemake("-n", workdir=tiny_local_run,
                                  configfiles=(*DEFAULT, TINY, override)))
    assert jobs, "a changed SVM grid must rerun something"
    unexpected = {rule for rule in jobs
                  if not rule.startswith(("classify_", "report", "all"))}
    assert not unexpected


@pytest.mark.slow
def test_changing_one_variant_reruns_only_that_variant(tiny_local_run, tmp_path):
    override = write_yaml(tmp_path / "variant.yaml",
                          {"models": {"variants": {"unet3d": {"width": 0.25}}}})
    result = snakemake("-n", "--quiet", "rules", workdir=tiny_local_run,
                       configfiles=(*DEFAULT, TINY, override))
    jobs = planned_jobs(result)
    assert jobs["train_model"] == 2 + 1
    assert jobs["synthesize_test_fold"] == 2
    assert "preprocess_paired_subject" not in jobs
    assert "make_folds" not in jobs
    dry_run = snakemake("-n", workdir=tiny_local_run, configfiles=(*DEFAULT, TINY, override))
    text = dry_run.stdout + dry_run.stderr
    assert "variant=glagan" not in text.replace("variant=glagan_", "")


@pytest.mark.slow
def test_changing_one_variants_epochs_retrains_only_that_variant(tiny_local_run, tmp_path):
    override = write_yaml(tmp_path / "epochs.yaml",
                          {"models": {"variants": {"glagan_l1": {"epochs": 3}}}})
    result = snakemake("-n", "-p", workdir=tiny_local_run,
                       configfiles=(*DEFAULT, TINY, override))
    assert planned_jobs(result)["train_model"] == 2 + 1
    commands = train_commands(result)
    assert commands and all("--variant glagan_l1 " in c and '"epochs":3,' in c
                            for c in commands)
