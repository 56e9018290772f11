"""Shared fixtures: running the real workflow with Snakemake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "workflow" / "presets" / "tiny.yaml"


def snakemake(*args: str | Path, workdir: Path, check: bool = True, timeout: float = 1200,
              configfiles: tuple[Path, ...] = (ROOT / "config.yaml", TINY),
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


@pytest.fixture(scope="session")
def tiny_local_run(tmp_path_factory) -> Path:
    """A complete local run of the workflow with workflow/presets/tiny.yaml; its workdir."""
    workdir = tmp_path_factory.mktemp("tiny_local")
    snakemake("--cores", "2", workdir=workdir)
    return workdir


@pytest.fixture(scope="session")
def default_config() -> dict:
    """The merged config of config.yaml and the tiny preset, as plain mappings."""
    from gla_model.settings import load_config

    return load_config(paths=[ROOT / "config.yaml", TINY])


@pytest.fixture(scope="session")
def default_settings(default_config):
    """The validated settings of config.yaml and the tiny preset."""
    from gla_model.settings import build_settings

    return build_settings(config=default_config)
