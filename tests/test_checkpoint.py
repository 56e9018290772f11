"""A file that is not a model.pt, passed as --checkpoint: one clear line naming the file,
what it is and what to pass instead (exit 2), never a traceback nor PyTorch's advice to load
it unsafely."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from gla_model import __version__
from gla_model.checkpoint import FORMAT, STATE_KIND, describe_content
from gla_model.cli import main

PASS_MODEL = re.escape("pass the model.pt that `gla-model train` writes "
                       "(results/train/<variant>/fold-<k>/model.pt)")


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _folder_with_model(path: Path) -> Path:
    path.mkdir()
    torch.save({"w": torch.zeros(1)}, path / "model.pt")
    return path


def _truncated(path: Path) -> Path:
    torch.save({"w": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:2000])
    return path


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return path


def _nifti(path: Path) -> Path:
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), path)
    return path


def _training_state(path: Path) -> Path:
    torch.save({"kind": STATE_KIND, "format": FORMAT, "code_version": __version__,
                "epoch": 1}, path)
    return path


def _saved(value) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        torch.save(value, path)
        return path

    return make


def _text(text: str) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_text(text)
        return path

    return make


#: name -> (file name, how to make it, what the message must say besides the file's name)
CASES = {
    "TSV table": ("participants.tsv", _text("participant_id\tdiagnosis\nsub-01\tCN\n"),
                  r"is a tab-separated table \(first line: 'participant_id\\tdiagnosis'\), "
                  rf"not a PyTorch checkpoint; {PASS_MODEL}"),
    "short text": ("notes.txt", _text("ab\n"),  # was IndexError: pop from empty list
                   rf"is a text file \(first line: 'ab'\), not a PyTorch checkpoint; {PASS_MODEL}"),
    "text": ("model.pt", _text("hello world\n"),  # was KeyError: 101
             rf"is a text file \(first line: 'hello world'\), not a PyTorch checkpoint; "
             rf"{PASS_MODEL}"),
    "empty file": ("model.pt", _text(""),
                   rf"is an empty file \(0 bytes; an interrupted copy\?\); {PASS_MODEL}"),
    "missing file": ("model.pt", lambda path: path,
                     rf"does not exist; train the model first or {PASS_MODEL}"),
    "folder": ("fold-0", _folder, rf"is a folder, not a file; {PASS_MODEL}"),
    "folder holding a model": ("fold-1", _folder_with_model,
                               r"is a folder, not a file; pass \S+/fold-1/model\.pt$"),
    "training state": ("last.pt", _training_state,
                       r"is the training state \(last\.pt\) that `gla-model train` keeps to "
                       r"resume a run, not a trained model; pass the selected model beside "
                       r"it, \S+/model\.pt$"),
    "pickled module": ("net.pt", _saved(nn.Linear(2, 2)),
                       r"stores Python objects such as torch\.nn\.modules\.linear\.Linear "
                       rf"besides tensors .* not loaded for safety; {PASS_MODEL}"),
    "numpy arrays": ("arrays.pt", _saved({"x": np.arange(3)}),
                     rf"stores Python objects such as numpy\S+ besides .*; {PASS_MODEL}"),
    "bare state dict": ("weights.pt", _saved({"a": torch.zeros(2), "b": torch.ones(3)}),
                        r"is not a gla-model/model checkpoint \(a bare state dict of 2 "
                        rf"tensors, without gla-model's record\); {PASS_MODEL}"),
    "truncated checkpoint": ("model.pt", _truncated,
                             r"is a truncated or damaged PyTorch file \(an incomplete zip "
                             rf"archive\); copy it again or {PASS_MODEL}"),
    "zip archive": ("model.zip", _zip,
                    r"is a zip archive of other files \(first: \['notes\.txt'\]\), not a "
                    rf"PyTorch checkpoint; {PASS_MODEL}"),
    "NIfTI image": ("sub-01_T1w.nii.gz", _nifti,
                    rf"is a gzip-compressed file \(a NIfTI image\), not a PyTorch checkpoint; "
                    rf"{PASS_MODEL}"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_wrong_checkpoint_is_one_clear_error(case, tmp_path, capsys):
    name, make, message = CASES[case]
    checkpoint = make(tmp_path / name)
    t1w = _nifti(tmp_path / "sub-01_space-MNI152grid_desc-preproc_T1w.nii.gz")
    out = tmp_path / "out.nii.gz"
    code = main(["synthesize", "--checkpoint", str(checkpoint), "--mri", str(t1w),
                 "--out", str(out)])
    error = capsys.readouterr().err.strip()
    assert code == 2, error
    assert error.startswith(f"gla-model synthesize: error: checkpoint {checkpoint} ")
    assert re.search(message, error), error
    assert "\n" not in error and "weights_only" not in error and "Traceback" not in error
    assert not out.exists()


@pytest.mark.parametrize(("head", "name", "what"), [
    (b"\x89PNG\r\n\x1a\n", "figure.png", "a PNG image"),
    (bytes(range(256)), "blob.bin", "a binary file of another format"),
    (b"\x1f\x8b\x08", "archive.gz", "a gzip-compressed file"),
    (b"\n\n", "blank.txt", "a text file (first line: '')"),
])
def test_other_contents_are_named(head, name, what):
    assert describe_content(head, name=name) == what
