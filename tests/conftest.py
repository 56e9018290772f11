"""Shared fixtures: running the real workflow with Snakemake, reading its dry runs, the shipped
configs and their settings, and synthetic report inputs.

Test modules use these through fixture arguments; none imports another test module or this
one. Helpers that tests call with arguments are factory fixtures returning the function.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.yaml"
TINY = ROOT / "workflow" / "presets" / "tiny.yaml"
CLASSIFICATION_METRICS = ("accuracy", "sensitivity", "specificity", "f1", "mcc", "auc")


# Snakemake and its dry runs ---------------------------------------------------------------


def _snakemake(*args: str | Path, workdir: Path, check: bool = True, timeout: float = 1200,
               configfiles: tuple[Path, ...] = (CONFIG, TINY),
               ) -> subprocess.CompletedProcess:
    """Run the project's Snakefile in ``workdir`` with the given config files."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [
        Path(sys.executable).parent / "snakemake",
        "--snakefile", ROOT / "Snakefile",
        "--directory", workdir,
        "--configfile", *configfiles,
        *args,
    ]
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, env=env,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(map(str, args))} failed ({result.returncode}):\n"
            f"{result.stdout[-5000:]}\n{result.stderr[-8000:]}"
        )
    return result


def _planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts per rule from a dry run's 'Job stats' table."""
    text = result.stdout + result.stderr
    assert "Job stats:" in text, f"no 'Job stats' table in the dry run:\n{text[-3000:]}"
    table = text.split("Job stats:", 1)[1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, re.M)
            if rule not in {"job", "total"}}


def _write_yaml(path: Path, data: dict) -> Path:
    """Write ``data`` as YAML to ``path``; return the path (e.g. for --configfile)."""
    path.write_text(yaml.safe_dump(data))
    return path


def _fake_bids(root: Path, *, n_paired: int, n_mri_only: int) -> Path:
    """A BIDS tree of empty files (discovery reads names only); CN and AD alternate."""
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


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (Snakefile, config.yaml, workflow/)."""
    return ROOT


@pytest.fixture(scope="session")
def config_file() -> Path:
    """The shipped config.yaml."""
    return CONFIG


@pytest.fixture(scope="session")
def tiny_preset() -> Path:
    """workflow/presets/tiny.yaml, the smallest config that runs every stage."""
    return TINY


@pytest.fixture(scope="session")
def run_snakemake() -> Callable[..., subprocess.CompletedProcess]:
    """``run_snakemake(*args, workdir, check=True, timeout=1200, configfiles=(config.yaml,
    tiny preset))``: the project's Snakefile; raises AssertionError on failure when check."""
    return _snakemake


@pytest.fixture(scope="session")
def planned_jobs() -> Callable[[subprocess.CompletedProcess], dict[str, int]]:
    """``planned_jobs(result)``: job counts per rule of a dry run (fails without a plan)."""
    return _planned_jobs


@pytest.fixture(scope="session")
def write_yaml() -> Callable[[Path, dict], Path]:
    """``write_yaml(path, data)``: a YAML file (a config override); returns its path."""
    return _write_yaml


@pytest.fixture(scope="session")
def fake_bids() -> Callable[..., Path]:
    """``fake_bids(root, n_paired=, n_mri_only=)``: a BIDS tree of empty files at ``root``."""
    return _fake_bids


@pytest.fixture(scope="session")
def tiny_local_run(tmp_path_factory) -> Path:
    """A complete local run of the workflow with workflow/presets/tiny.yaml; its workdir."""
    workdir = tmp_path_factory.mktemp("tiny_local")
    _snakemake("--cores", "2", workdir=workdir)
    return workdir


@pytest.fixture(scope="session")
def tiny_report(tiny_local_run, tmp_path_factory) -> Path:
    """`snakemake --report` of the tiny run: its report.html."""
    page = tmp_path_factory.mktemp("report") / "report.html"
    _snakemake("--report", page, workdir=tiny_local_run)
    return page


# Configs and settings -------------------------------------------------------------------


@pytest.fixture(scope="session")
def default_config() -> dict:
    """The merged config of config.yaml and the tiny preset, as plain mappings."""
    from gla_model.settings import load_config

    return load_config(paths=[CONFIG, TINY])


@pytest.fixture(scope="session")
def default_settings(default_config):
    """The validated settings of config.yaml and the tiny preset."""
    from gla_model.settings import build_settings

    return build_settings(config=default_config)


@pytest.fixture(scope="session")
def shipped_config() -> dict:
    """config.yaml alone (no preset), as plain mappings."""
    from gla_model.settings import load_config

    return load_config(paths=[CONFIG])


@pytest.fixture(scope="session")
def shipped_settings(shipped_config):
    """The validated settings of config.yaml alone (what a plain `snakemake` run uses)."""
    from gla_model.settings import build_settings

    return build_settings(config=shipped_config)


# Synthetic report inputs ----------------------------------------------------------------


def _image_scores(offsets: dict[str, dict[str, float]], *, n: int = 20, seed: int = 0
                  ) -> pd.DataFrame:
    """Per-subject scores: a shared subject effect plus a per-variant offset and noise."""
    rng = np.random.default_rng(seed)
    subject = rng.normal(0.0, 0.01, n)
    base = {"ssim": 0.90, "ms_ssim": 0.92, "psnr": 28.0, "mae": 0.020}
    rows = []
    for variant, offset in offsets.items():
        for i in range(n):
            rows.append({"participant_id": f"{i:03d}", "variant": variant, "fold": i % 5,
                         **{m: base[m] + offset.get(m, 0.0) + subject[i]
                            + rng.normal(0.0, 0.002) for m in base}})
    return pd.DataFrame(rows)


def _classification_rows(accuracy: dict[str, float], *, experiment: str = "paired",
                         seed: int = 0) -> pd.DataFrame:
    """Per source: 3 seeds x 5 folds of every classification metric around ``accuracy``."""
    rng = np.random.default_rng(seed)
    rows = []
    for source, level in accuracy.items():
        for run_seed in range(3):
            for fold in range(5):
                values = {m: level + rng.normal(0.0, 0.02) for m in CLASSIFICATION_METRICS}
                rows.append({"experiment": experiment, "source": source, "seed": run_seed,
                             "fold": fold, **values, "n_train": 32, "n_test": 8})
    return pd.DataFrame(rows)


@pytest.fixture
def report_variants() -> dict[str, dict[str, str]]:
    """Report variants: two main models and one patch ablation (a fresh dict per test)."""
    return {
        "glagan": {"group": "main", "label": "GLA-GAN"},
        "unet3d": {"group": "main", "label": "3D U-Net"},
        "glagan_k2": {"group": "ablation_patches", "label": "K=2"},
    }


@pytest.fixture(scope="session")
def image_scores() -> Callable[..., pd.DataFrame]:
    """``image_scores(offsets, n=20, seed=0)``: per-subject image-quality scores, ``n``
    subjects per variant in 5 folds, each metric shifted by ``offsets[variant]``."""
    return _image_scores


@pytest.fixture(scope="session")
def classification_rows() -> Callable[..., pd.DataFrame]:
    """``classification_rows(accuracy, experiment="paired", seed=0)``: 3 seeds x 5 folds of
    classification results per source, every metric around ``accuracy[source]``."""
    return _classification_rows


@pytest.fixture
def interrupted_then_resumed():
    """``interrupted_then_resumed(run)``: ``run(on_epoch_end)`` trains a job; it is killed
    after epoch 1 (checked: ``last.pt`` holds epoch 1), then run again to resume."""
    import torch

    class Killed(Exception):
        pass

    def kill_after_first(epoch: int) -> None:
        if epoch == 1:
            raise Killed("after epoch 1")

    def interrupt_and_resume(run, state: Path) -> None:
        with pytest.raises(Killed, match="after epoch 1"):
            run(on_epoch_end=kill_after_first)
        assert torch.load(state, weights_only=True)["epoch"] == 1
        run(on_epoch_end=None)

    return interrupt_and_resume
