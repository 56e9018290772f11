"""Compare the results/ trees of two runs of the workflow (e.g. local and through SLURM).

Same seed, same config, CPU: every output must be byte-identical, with two exceptions that
carry no result: timings (results/benchmarks/) and the zip record names inside checkpoints
(torch.save names them after the temporary file of the atomic write), whose loaded
contents must be equal instead. When bytes differ, the message says how.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch

TIMING_DIR = "benchmarks/"


def result_files(results: Path) -> set[str]:
    """Every file under `results`, as a path relative to it."""
    return {path.relative_to(results).as_posix() for path in results.rglob("*") if path.is_file()}


def result_differences(*, expected: Path, actual: Path) -> list[str]:
    """What differs between two results/ trees; empty when they agree."""
    expected_files, actual_files = result_files(expected), result_files(actual)
    differences = [f"only in {expected}: {name}" for name in sorted(expected_files - actual_files)]
    differences += [f"only in {actual}: {name}" for name in sorted(actual_files - expected_files)]
    for name in sorted(expected_files & actual_files):
        left, right = expected / name, actual / name
        if name.startswith(TIMING_DIR) or left.read_bytes() == right.read_bytes():
            continue
        problem = _explain(left, right)
        if problem:
            differences.append(f"{name}: {problem}")
    return differences


def _explain(left: Path, right: Path) -> str | None:
    """Why two files with different bytes differ; None when the difference carries no result."""
    if left.name.endswith(".pt"):
        return _checkpoint_difference(left, right)
    if left.name.endswith(".tsv"):
        return _table_difference(left, right) or "same values, different formatting"
    if left.name.endswith((".nii", ".nii.gz")):
        return _image_difference(left, right) or "same voxels, different header bytes"
    return "contents differ"


def _checkpoint_difference(left: Path, right: Path) -> str | None:
    a = torch.load(left, map_location="cpu", weights_only=True)
    b = torch.load(right, map_location="cpu", weights_only=True)
    return _object_difference(a, b, where="")


def _object_difference(a, b, *, where: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"keys of {where or 'checkpoint'} differ"
        for key in a:
            problem = _object_difference(a[key], b[key], where=f"{where}/{key}")
            if problem:
                return problem
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return f"length of {where} differs"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            problem = _object_difference(x, y, where=f"{where}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return None if torch.equal(a, b) else f"tensor {where} differs"
    return None if a == b else f"{where} differs: {a!r} != {b!r}"


def _table_difference(left: Path, right: Path) -> str | None:
    a, b = pd.read_csv(left, sep="\t"), pd.read_csv(right, sep="\t")
    if list(a.columns) != list(b.columns) or a.shape != b.shape:
        return f"columns/shape differ: {list(a.columns)} {a.shape} != {list(b.columns)} {b.shape}"
    for column in a.columns:
        x, y = a[column], b[column]
        if x.dtype.kind in "fiu" and y.dtype.kind in "fiu":
            unequal = ~np.isclose(x, y, rtol=0.0, atol=0.0, equal_nan=True)
            if unequal.any():
                worst = float(np.nanmax(np.abs(x - y)))
                return (
                    f"column {column!r}: {int(unequal.sum())} values differ (max |diff| {worst:g})"
                )
        elif not x.fillna("").astype(str).equals(y.fillna("").astype(str)):
            return f"column {column!r}: text differs"
    return None


def _image_difference(left: Path, right: Path) -> str | None:
    a, b = nib.load(left), nib.load(right)
    if a.shape != b.shape or not np.array_equal(a.affine, b.affine):
        return "shape or affine differs"
    x, y = np.asanyarray(a.dataobj), np.asanyarray(b.dataobj)
    if not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
        return f"voxels differ (max |diff| {float(np.nanmax(np.abs(x - y))):g})"
    return None
