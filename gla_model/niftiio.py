"""NIfTI reading with validation, and atomic writing (:func:`write_atomic`, the one helper
every output of the package goes through)."""

from __future__ import annotations

import gzip
import os
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

from gla_model.errors import InputImageError


def load_image(path: Path | str, *, role: str) -> nib.Nifti1Image:
    """Load a NIfTI image and fully read its data, or raise an error naming the file.

    Args:
        path: the NIfTI file (``.nii`` or ``.nii.gz``).
        role: what the image is for (``"T1w"``, ``"PET"``), used in messages.
    """
    path = Path(path)
    if not path.is_file():
        raise InputImageError(f"{role} image {path} does not exist; check the path.")
    try:
        image = nib.load(path)
        data = np.asanyarray(image.dataobj)
    except (nib.filebasedimages.ImageFileError, OSError, EOFError, zlib.error,
            gzip.BadGzipFile, ValueError) as error:
        raise InputImageError(
            f"{role} image {path} is not a readable NIfTI file ({error}); "
            "re-export it as .nii or .nii.gz."
        ) from error
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise InputImageError(f"{role} image {path} is not NIfTI; convert it to .nii.gz.")
    return nib.Nifti1Image(data, image.affine, image.header)


def write_image_atomic(image: nib.Nifti1Image, path: Path | str) -> Path:
    """Write ``image`` to ``path`` through a temporary file and a rename."""
    return write_atomic(path, lambda tmp: nib.save(image, tmp))


def write_text_atomic(text: str, path: Path | str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_atomic(path: Path | str, write: Callable[[Path], object]) -> Path:
    """The package's one atomic write: ``write(tmp)`` fills a temporary file beside
    ``path`` (same suffixes, so writers that go by the name keep working), which then
    replaces ``path`` in one rename; on failure nothing is left behind.

    The file gets mode ``0o666 & ~umask`` (0644 under the usual umask 022), readable by the
    group as a plain ``open()`` would make it; the temporary file alone would stay 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                    suffix="".join(path.suffixes))
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def current_umask() -> int:
    """The process's file-creation mask (read without changing it for good)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask
