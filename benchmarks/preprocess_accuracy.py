"""Accuracy and speed of the ants preprocessing backend on the built-in cohort (with truth),
for each skull strip (template, ROBEX) and AC-PC step (none, SPM12 on Octave).

Runs ``gla-model preprocess --threads 1`` once per subject and configuration (a separate
process, so wall time, CPU time and peak memory are per job), keeping nipype's
working folder to read the native-space results, and compares them with the
cohort's ground truth:

* registration error: mean |estimated - true| MNI coordinate over the true brain (mm);
  the truth includes a smooth non-linear displacement that no affine can follow,
  whose RMS is printed as the floor;
* brain-mask Dice, GM and WM Dice: native T1w voxels; a voxel's tissue is the argmax
  of the probabilities inside the mask (estimate) or the true brain (truth);
* PET-to-MRI residual: mean distance between the estimated and true T1w -> PET maps
  over the true brain (mm);
* strip_s, acpc_s: seconds of the skull-strip steps and of SPM12 (nipype's timings).

Configurations (``--configs``): ``template`` (config.yaml's chain), ``robex``
(``skull_strip: robex``) and ``spm`` (``acpc: spm`` with the template strip; needs
``--spm12``, an SPM12 folder built for Octave, e.g. by ../shared/tools/spm12-octave.sh).
Otherwise the settings are config.yaml's (``--grid``), handed to each job as
``gla-model preprocess --settings JSON`` as the workflow does; the demo cohort is written by
``gla-model demo-cohort`` (T1w voxels 1.5 mm, PET 2 mm by default).

Usage: .venv/bin/python benchmarks/preprocess_accuracy.py [--cohort DIR] [--n-paired 6]
       [--n-mri-only 2] [--grid 64] [--t1-voxel-mm 1.5] [--pet-voxel-mm 2]
       [--configs template,robex,spm] [--spm12 DIR]
       (e.g. --spm12 "$(bash ../shared/tools/spm12-octave.sh)")
       .venv/bin/python benchmarks/preprocess_accuracy.py --smoke   # template, 1 subject
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nipype.utils.filemanip import loadpkl

from gla_model.settings import (
    build_settings,
    job_settings,
    load_config,
    without_resources,
)

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"reg_error_mm": ("<=", 2.0), "mask_dice": (">=", 0.95), "gm_dice": (">=", 0.85),
           "wm_dice": (">=", 0.85), "wall_s": ("<=", 30.0)}
TISSUES = ("CSF", "GM", "WM")
#: Configuration -> the preprocessing settings it changes.
CONFIGS = {"template": {"skull_strip": "template", "acpc": "none"},
           "robex": {"skull_strip": "robex", "acpc": "none"},
           "spm": {"skull_strip": "template", "acpc": "spm"}}
#: nipype nodes of the skull strip and of the AC-PC step (their summed times).
STRIP_NODES = ("rough_skull_strip", "robex_skull_strip", "brain_extraction")
ACPC_NODES = ("spm_acpc",)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", help="existing demo cohort (default: generate one)")
    parser.add_argument("--n-paired", type=int, default=6)
    parser.add_argument("--n-mri-only", type=int, default=2)
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--t1-voxel-mm", type=float, default=1.5)
    parser.add_argument("--pet-voxel-mm", type=float, default=2.0)
    parser.add_argument("--subjects", type=int,
                        help="preprocess only the first N subjects (default: all)")
    parser.add_argument("--configs", help=f"comma-separated, of {list(CONFIGS)} (default: "
                        "template,robex, and spm with --spm12)")
    parser.add_argument("--spm12", help="SPM12 folder built for Octave (config spm)")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds, not minutes: 4 paired subjects at 3 mm (T1w) and 4 mm "
                             "(PET) written, the first one preprocessed at grid 32, template "
                             "only")
    args = parser.parse_args(argv)
    if args.smoke:
        args.n_paired, args.n_mri_only, args.grid = 4, 0, 32
        args.t1_voxel_mm, args.pet_voxel_mm, args.subjects = 3.0, 4.0, 1
        args.configs = "template"
    configs = (args.configs or "template,robex" + (",spm" if args.spm12 else "")).split(",")
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown or ("spm" in configs and not args.spm12):
        parser.error(f"--configs: unknown {unknown}" if unknown else
                     "--configs spm needs --spm12 (an SPM12 folder built for Octave)")
    settings = build_settings(config=load_config(paths=[ROOT / "config.yaml"]))
    spm = dataclasses.replace(settings.preprocessing.spm, mode="octave", path=args.spm12)
    base = dataclasses.replace(settings.preprocessing, backend="ants", grid=args.grid, spm=spm)
    with tempfile.TemporaryDirectory(prefix="gla-bench-") as scratch:
        scratch = Path(scratch)
        cohort = Path(args.cohort) if args.cohort else scratch / "cohort"
        if not args.cohort:
            demo = dataclasses.replace(settings.cohort.demo, n_paired=args.n_paired,
                                       n_mri_only=args.n_mri_only, seed=args.seed,
                                       t1_voxel_mm=args.t1_voxel_mm,
                                       pet_voxel_mm=args.pet_voxel_mm)
            _gla(["demo-cohort", "--settings", job_settings(cohort__demo=demo),
                  "--out", str(cohort)])
        folders = sorted(cohort.glob("sub-*"))[:args.subjects]
        rows = []
        for config in configs:
            preprocessing = dataclasses.replace(base, **CONFIGS[config])
            preprocess_json = job_settings(preprocessing=without_resources(preprocessing))
            rows += [{"config": config,
                      **_subject(cohort=cohort, participant_id=folder.name[4:],
                                 scratch=scratch / config, settings=preprocess_json)}
                     for folder in folders]
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.round(3).to_string(index=False))
    for config, group in table.groupby("config", sort=False):
        print(f"\nmedians ({config}: {CONFIGS[config]}, ants backend, 1 ITK thread, "
              f"grid {args.grid}, {len(group)} subjects):")
        for metric, (sense, bound) in TARGETS.items():
            value = float(group[metric].median())
            print(f"  {metric:14s} {value:8.3f}   target {sense} {bound:<6g} "
                  f"ratio {value / bound:.2f}")
        for metric in ("pet_residual_mm", "affine_floor_mm", "strip_s", "acpc_s", "cpu_s",
                       "peak_rss_mb"):
            print(f"  {metric:14s} {float(group[metric].median()):8.3f}")
        print(f"  peak memory of any job: {group['peak_rss_mb'].max():.0f} MB")


def _gla(arguments: list[str]) -> None:
    command = [str(Path(sys.executable).with_name("gla-model")), *arguments]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def _subject(*, cohort: Path, participant_id: str, scratch: Path, settings: str) -> dict:
    sub = f"sub-{participant_id}"
    t1w = cohort / sub / "anat" / f"{sub}_T1w.nii.gz"
    pet = cohort / sub / "pet" / f"{sub}_trc-FDG_pet.nii.gz"
    work = scratch / "work" / sub
    command = [str(Path(sys.executable).with_name("gla-model")), "preprocess",
               "--settings", settings, "--threads", "1",
               "--participant-id", participant_id, "--t1w", str(t1w), "--out-dir",
               str(scratch / "out" / sub), "--work-dir", str(work)]
    if pet.is_file():
        command += ["--pet", str(pet)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{sub} failed: {process.stderr.read().decode()[-2000:]}")
    steps = next(work.glob("*/ants_spatial_wf"))
    row = {"participant_id": participant_id, "pet": pet.is_file(), "wall_s": wall,
           "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
           "strip_s": _node_seconds(steps, STRIP_NODES),
           "acpc_s": _node_seconds(steps, ACPC_NODES)}
    row.update(_accuracy(cohort=cohort, participant_id=participant_id, steps=steps))
    return row


def _node_seconds(steps: Path, nodes: tuple[str, ...]) -> float:
    """Summed run time of those of ``nodes`` that ran (nipype's result files)."""
    return float(sum(loadpkl(result).runtime.duration for node in nodes
                     for result in (steps / node).glob("result_*.pklz")))


def _canonical(path: Path) -> nib.Nifti1Image:
    return nib.as_closest_canonical(nib.load(path))


def _accuracy(*, cohort: Path, participant_id: str, steps: Path) -> dict:
    sub = f"sub-{participant_id}"
    truth_dir = cohort / "derivatives" / "truth" / sub
    truth = json.loads((truth_dir / f"{sub}_truth.json").read_text())
    true_mask_image = _canonical(truth_dir / f"{sub}_space-T1w_desc-brain_mask.nii.gz")
    true_mask = true_mask_image.get_fdata() > 0
    affine = true_mask_image.affine
    true_mni = _canonical(truth_dir / f"{sub}_space-T1w_desc-truth_xfm.nii.gz").get_fdata()
    mask_image = nib.load(steps / "brain_extraction" / "brain_mask.nii")
    mask = mask_image.get_fdata() > 0
    assert mask.shape == true_mask.shape, "native grids differ"
    # the chain's world: the T1w's, or after the AC-PC step its rewritten header
    native_to_chain = mask_image.affine @ np.linalg.inv(affine)
    points = np.argwhere(true_mask) @ affine[:3, :3].T + affine[:3, 3]
    native_to_mni = np.linalg.inv(np.loadtxt(steps / "affine_to_template" / "pull.txt")
                                  ) @ native_to_chain
    estimated = points @ native_to_mni[:3, :3].T + native_to_mni[:3, 3]
    row = {"reg_error_mm": float(np.linalg.norm(estimated - true_mni[true_mask], axis=1).mean()),
           "affine_floor_mm": truth["displacement_rms_mm"], "mask_dice": _dice(mask, true_mask)}
    estimate = np.argmax(np.stack([nib.load(steps / "segment_tissues" / f"{t}_probseg.nii")
                                   .get_fdata() for t in TISSUES]), axis=0)
    reference = np.argmax(np.stack([
        _canonical(truth_dir / f"{sub}_space-T1w_label-{t}_probseg.nii.gz").get_fdata()
        for t in TISSUES]), axis=0)
    for index, tissue in enumerate(TISSUES[1:], start=1):
        row[f"{tissue.lower()}_dice"] = _dice(mask & (estimate == index),
                                              true_mask & (reference == index))
    row["pet_residual_mm"] = np.nan
    if "pet_to_t1w_world" in truth:
        t1w_to_pet_true = np.linalg.inv(np.asarray(truth["pet_to_t1w_world"]))
        t1w_to_pet = np.loadtxt(steps / "pet_to_t1w" / "pull.txt") @ native_to_chain
        difference = (t1w_to_pet - t1w_to_pet_true)
        row["pet_residual_mm"] = float(np.linalg.norm(
            points @ difference[:3, :3].T + difference[:3, 3], axis=1).mean())
    return row


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


if __name__ == "__main__":
    main()
