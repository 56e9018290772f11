"""Which PET frames to average, and with what weights, from the BIDS-PET JSON sidecar.

A 4D PET with a sidecar (same name, ``.json``) holding ``FrameDuration`` (and
``FrameTimesStart``), both in seconds as BIDS-PET writes them, is averaged with each frame
weighted by its duration. With ``preprocessing.pet_window_min: [start, end]`` (minutes
after injection: ``FrameTimesStart`` minus the sidecar's ``InjectionStart``, 0 when absent,
both relative to ``TimeZero``) only frames that lie entirely inside [start, end] count: a
frame that overlaps the window only in part is left out, whatever the overlap (1 s of
slack absorbs rounded frame times). Without a sidecar (or without ``FrameDuration`` in it)
every frame gets the same weight, as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gla_model.errors import InputImageError

#: Slack (s) when testing whether a frame lies inside the window.
WINDOW_SLACK_S = 1.0


@dataclass(frozen=True)
class FrameSelection:
    """The frames averaged into the static PET and how (written to the PET's sidecar)."""

    frames_used: tuple[int, ...]
    weights: tuple[float, ...]
    starts_s: tuple[float, ...] | None
    durations_s: tuple[float, ...] | None
    window_min: tuple[float, float] | None
    timing: str

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One log line: the frames, their times and weights."""
        used = [f"{i} ({self._times(i)}, weight {w:.3g})"
                for i, w in zip(self.frames_used, self.weights, strict=True)]
        window = ("" if self.window_min is None
                  else f" inside [{self.window_min[0]:g}, {self.window_min[1]:g}] min")
        return f"{self.timing}; averaging frames{window}: {', '.join(used)}"

    def _times(self, index: int) -> str:
        if self.durations_s is None:
            return "no timing"
        duration = self.durations_s[index]
        if self.starts_s is None:
            return f"{duration:g} s long"
        start = self.starts_s[index]
        return f"{start:g}-{start + duration:g} s"


def read_frame_timing(*, pet: Path | str, n_frames: int
                      ) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """(frame starts after injection, FrameDuration) in seconds from the PET's sidecar,
    each None when absent; InputImageError naming the sidecar when they do not fit
    ``n_frames``."""
    path = sidecar_path(pet)
    if not path.is_file():
        return None, None
    try:
        sidecar = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputImageError(f"PET sidecar {path} is not readable JSON ({error}); "
                              "fix or remove it.") from error
    starts, durations = (_seconds(sidecar, key, path=path, n_frames=n_frames)
                         for key in ("FrameTimesStart", "FrameDuration"))
    if durations is not None and min(durations) <= 0:
        raise InputImageError(f"PET sidecar {path}: FrameDuration {list(durations)} must be "
                              "positive (seconds).")
    injection = _seconds(sidecar, "InjectionStart", path=path, n_frames=1) or (0.0,)
    if starts is not None:
        starts = tuple(start - injection[0] for start in starts)
    return starts, durations


def select_frames(*, n_frames: int, starts_s: Sequence[float] | None,
                  durations_s: Sequence[float] | None,
                  window_min: Sequence[float] | None, pet: Path | str) -> FrameSelection:
    """The frames to average and their weights (see the module docstring).

    Raises InputImageError when a window is set but the sidecar lacks frame times, or
    when no frame lies inside it (the frames' times and the window are in the message).
    """
    window = None if window_min is None else (float(window_min[0]), float(window_min[1]))
    starts = None if starts_s is None else tuple(float(s) for s in starts_s)
    durations = None if durations_s is None else tuple(float(d) for d in durations_s)
    if durations is None:
        timing = (f"no FrameDuration (no sidecar {sidecar_path(pet)}, or none in it): "
                  "equal weights")
    else:
        timing = "weights = FrameDuration from the JSON sidecar"
    if window is None:
        used = tuple(range(n_frames))
    else:
        if starts is None or durations is None:
            raise InputImageError(
                f"config key 'preprocessing.pet_window_min' is {list(window)} but PET {pet} "
                f"has no sidecar {sidecar_path(pet)} with FrameTimesStart and FrameDuration; "
                "add them or set preprocessing.pet_window_min: null.")
        low, high = 60.0 * window[0] - WINDOW_SLACK_S, 60.0 * window[1] + WINDOW_SLACK_S
        used = tuple(i for i in range(n_frames)
                     if starts[i] >= low and starts[i] + durations[i] <= high)
        if not used:
            frames = ", ".join(f"{s:g}-{s + d:g} s" for s, d in zip(starts, durations,
                                                                        strict=True))
            raise InputImageError(
                f"PET {pet}: no frame lies inside config key 'preprocessing.pet_window_min' "
                f"{list(window)} min = {60 * window[0]:g}-{60 * window[1]:g} s after "
                f"injection; its frames are {frames}. Widen the window or set it to null.")
    weights = (tuple(1.0 for _ in used) if durations is None
               else tuple(durations[i] for i in used))
    return FrameSelection(frames_used=used, weights=weights, starts_s=starts,
                          durations_s=durations, window_min=window, timing=timing)


def average_frames(*, data: np.ndarray, selection: FrameSelection) -> np.ndarray:
    """The weighted mean of the selected frames of a 4D array (float64); non-finite
    values are left out of each voxel's mean."""
    frames = data[..., list(selection.frames_used)].astype(np.float64)
    weights = np.asarray(selection.weights, dtype=np.float64)
    finite = np.isfinite(frames)
    total = np.where(finite, frames, 0.0) @ weights
    norm = finite.astype(np.float64) @ weights
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, total / np.where(norm > 0, norm, 1.0), np.nan)


def sidecar_path(pet: Path | str) -> Path:
    """The JSON sidecar beside a NIfTI file (same name, ``.json``)."""
    path = Path(pet)
    return path.with_name(path.name.removesuffix(".gz").removesuffix(".nii") + ".json")


def _seconds(sidecar: dict, key: str, *, path: Path, n_frames: int
             ) -> tuple[float, ...] | None:
    if key not in sidecar:
        return None
    values = sidecar[key]
    values = [values] if isinstance(values, int | float) else values
    if not isinstance(values, list) or not all(
            isinstance(v, int | float) and np.isfinite(v) for v in values):
        raise InputImageError(f"PET sidecar {path}: {key} must be a list of numbers "
                              f"(seconds), got {sidecar[key]!r}.")
    if len(values) != n_frames:
        raise InputImageError(
            f"PET sidecar {path}: {key} has {len(values)} values but the image has "
            f"{n_frames} frames; fix the sidecar so every frame has one.")
    return tuple(float(v) for v in values)
