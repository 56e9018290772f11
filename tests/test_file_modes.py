"""Every kind of output goes through one atomic write that leaves it readable by the group:
mode 0o666 & ~umask (0644 under umask 022), not the 0600 of a bare temporary file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from gla_model.checkpoint import save_atomic
from gla_model.niftiio import write_atomic, write_image_atomic, write_text_atomic
from gla_model.preprocess.xfm import write_xfm
from gla_model.report.figures import save_figure
from gla_model.report.tables import Table, write_table_files
from gla_model.tsvio import write_table


def _figure() -> Figure:
    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1], [1, 0])
    return figure


#: Output kind -> a function writing one of them at the given path (returns every path).
WRITERS = {
    "NIfTI image": lambda path: [write_image_atomic(
        nib.Nifti1Image(np.ones((3, 3, 3), np.float32), np.eye(4)), path / "x.nii.gz")],
    "text": lambda path: [write_text_atomic("hello\n", path / "x.json")],
    "TSV table": lambda path: [write_table(pd.DataFrame({"a": [1]}), path / "x.tsv")],
    "checkpoint": lambda path: [save_atomic({"w": torch.zeros(2)}, path / "model.pt")],
    "report figure": lambda path: [save_figure(figure=_figure(), path=path / "f.png")],
    "report table": lambda path: write_table_files(
        table=Table(name="t", data=pd.DataFrame({"a": [1]}), markdown="# t\n"),
        report_dir=path),
    "transform": lambda path: [write_xfm(np.eye(4), path=path / "x_xfm.txt")],
}


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


@pytest.mark.parametrize("kind", WRITERS)
def test_outputs_are_readable_by_the_group(kind, umask, tmp_path):
    paths = WRITERS[kind](tmp_path / "out")
    assert paths and all(path.is_file() for path in paths)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    assert not [p for p in (tmp_path / "out").rglob(".*") if p.is_file()]  # no temporaries


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.pt"
    target.write_text("old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_the_temporary_file_keeps_the_suffixes_writers_go_by(tmp_path):
    seen = []
    write_atomic(tmp_path / "a.nii.gz", lambda tmp: seen.append(tmp.name) or tmp.touch())
    assert seen[0].startswith(".a.nii.gz.") and seen[0].endswith(".nii.gz")
