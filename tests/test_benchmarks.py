"""Every script in benchmarks/ runs in its ``--smoke`` mode and prints its figure.

``--smoke`` is the same code path as the full benchmark at the smallest size, so a change
of the package that breaks a benchmark fails here instead of the next time someone runs
it by hand. The scripts are found by glob: a new benchmark is tested without being listed,
and one without a ``--smoke`` mode fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))

NUMBER = r"[0-9][0-9.,]*"
#: The line that carries each benchmark's figure (its measured value and its same-run ratio
#: against a peer or a bound). A benchmark not listed here must print a ratio.
FIGURES = {
    "bf16_small_conv": rf"NaN gradients in {NUMBER}/{NUMBER} calls plain bf16, "
                       rf"{NUMBER}/{NUMBER} prepared \(ratio {NUMBER}\)",
    "dag_scale": rf"bound 10 s  ratio {NUMBER}.*\n.*workflow / peer = {NUMBER}\n"
                 rf".*preprocessing: {NUMBER} jobs in "
                 rf"{NUMBER} submissions  ratio {NUMBER}",
    "demo_stages": rf"summed job time / wall = {NUMBER}",
    "discovery": rf"ratio to the 5 s bound: {NUMBER}",
    "features_vs_nilearn": rf"speed ratio nilearn / gla_model = {NUMBER}x",
    "preprocess_accuracy": rf"wall_s +{NUMBER} +target <= 30 +ratio {NUMBER}",
    "ssim_filter": rf"matrix filter {NUMBER} ms, padded conv3d {NUMBER} ms \(ratio {NUMBER}\)",
    "train_throughput": rf"(?m)^demo +0\.125 +32 +1 +{NUMBER}/{NUMBER} +{NUMBER} +{NUMBER} "
                        rf"+{NUMBER} +{NUMBER}/{NUMBER} +{NUMBER} +{NUMBER}$",
    "uncertainty_estimators": rf"ensemble/TTA voxel rho ratio -?{NUMBER} \(difference "
                              rf"[+-]{NUMBER}\), cost ratio {NUMBER}",
}
DEFAULT_FIGURE = rf"ratio:? {NUMBER}"
#: Over ~10 s in smoke mode on a 2-core machine (they still run in CI).
SLOW = {"cohort_effect_sizes", "preprocess_accuracy", "uncertainty_estimators"}
TIMEOUT_S = 300


def _param(script: Path):
    marks = [pytest.mark.slow] if script.stem in SLOW else []
    return pytest.param(script, id=script.stem, marks=marks)


def test_benchmarks_are_found():
    assert len(SCRIPTS) >= len(FIGURES), f"benchmarks missing from {BENCHMARKS}"


@pytest.mark.parametrize("script", [_param(s) for s in SCRIPTS])
def test_benchmark_smoke(script: Path):
    assert '"--smoke"' in script.read_text(), (
        f"{script.name} has no --smoke mode (the same code path at the smallest size, "
        "in seconds); add one")
    result = subprocess.run([sys.executable, str(script), "--smoke"], cwd=BENCHMARKS.parent,
                            capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{script.name} --smoke failed:\n{output[-4000:]}"
    figure = FIGURES.get(script.stem, DEFAULT_FIGURE)
    assert re.search(figure, result.stdout), (
        f"{script.name} --smoke did not print its figure ({figure!r}):\n{result.stdout[-4000:]}")
