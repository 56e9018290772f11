"""Which voxelwise uncertainty estimator to use: test-time augmentation of the fold model (the
workflow's default), a deep ensemble of training seeds, or both (issue 14: measure, choose).

On one fold of a finished run, the benchmark trains seeds 1..S-1 of a variant's fold model
exactly as the workflow trained seed 0 (``gla-model train`` with the settings payload of
``workflow/rules/common.smk::training_settings``, ``training.seed`` + k), then scores that
fold's test subjects, whom none of the S models saw, with

* ``TTA``: seed 0 on the augmentations of ``uncertainty.tta_flip``/``tta_shift``
  (:class:`gla_model.uncertainty.estimator.Estimator`, as ``gla-model synthesize`` runs it);
* ``ensemble``: the S seeds on the plain input;
* ``ensemble x TTA``: the S seeds on every augmentation.

The PET is seed 0's plain prediction throughout (the one the workflow writes), so only the
SD changes. Per estimator: ``members``; ``voxel_rho``, the median over subjects of the
voxelwise Spearman between SD and |synthetic - real PET| in the brain mask; ``subject_rho``,
Spearman across subjects of mean SD vs MAE (``subject_n``, ``subject_p``); ``error_ratio``,
the mean |error| over sqrt(2/pi) x the mean SD (pooled brain voxels; 1 for calibrated
Gaussian errors, above 1 overconfident); ``infer_s``, the mean seconds per subject (T1w
read, every member, the SD; after one untimed pass); ``train_s``, the training added per
fold model, (S-1) x the median seconds of one extra seed. The same-run figure: each
ensemble's voxel rho over TTA's (and their difference, the figure to read when TTA's rho is
near 0) and its cost over TTA's, cost being the seconds added per fold model (training)
plus the inference of its test subjects. TTA's SD maps are also compared with the run's
``desc-synthsd`` maps (subjects the run did not flag as out of distribution): equal maps
show that TTA here is the workflow's estimator.

Checkpoints go to ``<results>/benchmarks/uncertainty_estimators/seed-<s>/<variant>/fold-<k>/``;
the run's own files are only read.

    .venv/bin/python benchmarks/uncertainty_estimators.py --results results \\
        [--config config.yaml [preset.yaml]] [--variant glagan] [--fold 0] [--seeds 3]
    .venv/bin/python benchmarks/uncertainty_estimators.py --smoke   # phantoms, 2 seeds

``--smoke`` writes 12 phantoms (:mod:`gla_model.demo_cohort.phantoms`) already on the grid
of config.yaml + the tiny preset, splits them, trains seed 0 and synthesizes its test fold
as the workflow would, then runs the same measurement with 2 seeds of 2 epochs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gla_model import resources
from gla_model.demo_cohort.phantoms import write_phantoms
from gla_model.folds import fold_subjects, make_folds, read_folds
from gla_model.layout import (
    Layout,
    checkpoint_path,
    history_path,
    synthesis_uncertainty_table,
    synthetic_sd_path,
    training_state,
)
from gla_model.niftiio import load_image, write_image_atomic, write_text_atomic
from gla_model.preprocess.atlas import resample_atlas
from gla_model.settings import (
    RESOURCE_KEYS,
    Settings,
    build_settings,
    job_settings,
    load_config,
    without_resources,
)
from gla_model.synthesize import Synthesizer, load_synthesizer
from gla_model.tsvio import read_table
from gla_model.uncertainty.calibration import GAUSSIAN_ABS_RATIO
from gla_model.uncertainty.estimator import (
    UNCERTAINTY_COLUMNS,
    Estimator,
    build_estimator,
    member_sd,
)
from gla_model.uncertainty.members import augmentations, check_valid_members
from gla_model.uncertainty.summary import spearman

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = "uncertainty_estimators"
SMOKE_CONFIG = (ROOT / "config.yaml", ROOT / "workflow" / "presets" / "tiny.yaml")
SMOKE_IDS = tuple(f"{d}{i}" for d in ("cn", "ad") for i in range(6))


@dataclass(frozen=True)
class Scored:
    """One estimator on the fold's test subjects: per subject its SD and |error| in the
    brain mask and the seconds it took."""

    name: str
    members: int
    sd: list[np.ndarray]
    error: list[np.ndarray]
    seconds: list[float]

    def row(self, *, train_s: float) -> dict[str, object]:
        voxel = [spearman(s, e)[0] for s, e in zip(self.sd, self.error, strict=True)]
        rho, p = spearman(np.array([s.mean() for s in self.sd]),
                          np.array([e.mean() for e in self.error]))
        pooled_sd = np.concatenate(self.sd).astype(np.float64).mean()
        pooled_error = np.concatenate(self.error).mean()
        return {"estimator": self.name, "members": self.members,
                "voxel_rho": float(np.median(voxel)), "subject_rho": rho,
                "subject_n": len(self.sd), "subject_p": p,
                "error_ratio": pooled_error / (GAUSSIAN_ABS_RATIO * pooled_sd),
                "infer_s": float(np.mean(self.seconds)), "train_s": train_s}


def training_payload(*, settings: Settings, variant: str, seed_offset: int) -> str:
    """The ``--settings`` of the workflow's ``train_model`` job, its ``training.seed`` raised
    by ``seed_offset``."""
    training = settings.variant_training(variant)
    training = replace(training, seed=training.seed + seed_offset)
    return job_settings(**{f"models__variants__{variant}": settings.variants[variant].model_spec(),
                           "training": without_resources(training),
                           "preprocessing": without_resources(settings.preprocessing)})


def seed_train_dir(*, results: Path, seed_offset: int) -> Path:
    """The benchmark's ``train/`` of an extra seed (never among the run's files)."""
    return results / "benchmarks" / BENCHMARK / f"seed-{seed_offset}"


def train(*, layout: Layout, settings: Settings, variant: str, fold: str, seed_offset: int,
          checkpoint: Path, history: Path, threads: int) -> float:
    """Train one model with ``gla-model train`` as the workflow does (fresh, not resumed);
    returns its wall seconds. The log goes beside the checkpoint."""
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    training_state(checkpoint=checkpoint).unlink(missing_ok=True)
    command = ["train", "--settings",
               training_payload(settings=settings, variant=variant, seed_offset=seed_offset),
               "--threads", str(threads), "--variant", variant, "--folds",
               str(layout.folds_table), "--fold", fold, "--preproc-dir",
               str(layout.preprocess_dir), "--atlas", str(layout.atlas), "--checkpoint",
               str(checkpoint), "--history", str(history)]
    return gla_model(arguments=command, log=checkpoint.with_name("train.log"))


def gla_model(*, arguments: Sequence[str], log: Path) -> float:
    """Run ``gla-model <arguments>`` as a rule's job does, output to ``log``; its seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("w") as handle:
        result = subprocess.run([sys.executable, "-m", "gla_model", *arguments], stdout=handle,
                                stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise SystemExit(f"gla-model {arguments[0]} failed; see {log}:\n"
                         f"{log.read_text()[-3000:]}")
    return time.perf_counter() - started


def check_run_settings(*, record: dict, settings: Settings, variant: str, name: Path) -> None:
    """Stop unless the run's model was trained with the spec and training settings of
    ``--config`` (the extra seeds would otherwise be other models)."""
    expected = json.loads(training_payload(settings=settings, variant=variant, seed_offset=0))
    recorded = {"spec": record["spec"],
                "training": {k: v for k, v in record["training_config"].items()
                             if k not in RESOURCE_KEYS}}
    wanted = {"spec": expected[f"models.variants.{variant}"], "training": expected["training"]}
    differ = [f"{section}.{key}" for section in wanted
              for key in sorted(set(wanted[section]) | set(recorded[section]))
              if json.dumps(wanted[section].get(key), sort_keys=True)
              != json.dumps(recorded[section].get(key), sort_keys=True)]
    if differ:
        raise SystemExit(f"{name} was trained with other settings than --config ({differ}); "
                         "pass the config files of that run")


def score(*, models: Sequence[Synthesizer], names: Sequence[str], subjects: Sequence[str],
          layout: Layout, settings: Settings) -> tuple[list[Scored], dict[str, np.ndarray]]:
    """The three estimators on ``subjects``; also TTA's full SD maps, by subject."""
    tta = augmentations(flip=settings.uncertainty.tta_flip, shift=settings.uncertainty.tta_shift)
    check_valid_members(subjects=subjects, records=[m.record for m in models], names=names)
    single = build_estimator(models=models[:1], names=names[:1], augmentations=tta,
                             reference=None)
    every = build_estimator(models=models, names=names, augmentations=tta, reference=None)

    def plain(pid: str, t1w: Path) -> np.ndarray:
        _, volume = models[0].checked_input(mri=t1w)
        return member_sd([model.predict(volume) for model in models])

    def with_tta(estimator: Estimator) -> Callable[[str, Path], np.ndarray]:
        return lambda pid, t1w: np.asarray(estimator.estimate(participant_id=pid, mri=t1w,
                                                              mask=None).sd.dataobj)

    runs = {"TTA": (single.n_members, with_tta(single)),
            "ensemble": (len(models), plain),
            "ensemble x TTA": (every.n_members, with_tta(every))}
    first = layout.preprocessed(participant_id=subjects[0], field="t1w")
    for _, run in runs.values():  # one untimed pass: torch builds its kernels
        run(subjects[0], first)
    scored = {name: Scored(name=name, members=n, sd=[], error=[], seconds=[])
              for name, (n, _) in runs.items()}
    maps = {}
    for pid in subjects:
        t1w = layout.preprocessed(participant_id=pid, field="t1w")
        _, volume = models[0].checked_input(mri=t1w)
        pet = models[0].predict(volume)
        real, mask = (np.asarray(load_image(layout.preprocessed(participant_id=pid, field=f),
                                            role=f).dataobj, np.float32)
                      for f in ("pet", "mask"))
        brain = mask != 0
        error = np.abs(pet.astype(np.float64) - real)[brain]
        for name, (_, run) in runs.items():
            started = time.perf_counter()
            sd = run(pid, t1w)
            scored[name].seconds.append(time.perf_counter() - started)
            scored[name].sd.append(sd[brain])
            scored[name].error.append(error)
            if name == "TTA":
                maps[pid] = sd
    return list(scored.values()), maps


def run_difference(*, synth_dir: Path, maps: dict[str, np.ndarray]) -> tuple[float, int]:
    """Largest |TTA SD - the run's desc-synthsd| over the subjects the run did not flag as
    out of distribution (their maps were raised), and how many were compared."""
    table = read_table(synthesis_uncertainty_table(synth_dir=synth_dir),
                       columns=UNCERTAINTY_COLUMNS, role="synthesis uncertainty")
    flagged = set(table.loc[table["out_of_distribution"].astype(str) == "True",
                            "participant_id"].astype(str))
    compared = [pid for pid in maps if pid not in flagged]
    largest = max((float(np.abs(maps[pid] - np.asarray(load_image(synthetic_sd_path(
        synth_dir=synth_dir, participant_id=pid), role="the run's SD map").dataobj)).max())
        for pid in compared), default=float("nan"))
    return largest, len(compared)


def measure(*, results: Path, settings: Settings, variant: str, fold: str, seeds: int,
            threads: int) -> pd.DataFrame:
    """Train the extra seeds, score the fold's test subjects, print the table and figure."""
    layout = Layout(results=results)
    if variant not in settings.variants:
        raise SystemExit(f"--variant {variant!r} is not enabled in --config "
                         f"(models.enabled: {list(settings.variants)})")
    names = [layout.checkpoint(variant=variant, fold=fold)]
    if not names[0].is_file():
        raise SystemExit(f"{names[0]} does not exist: run the workflow first (or give the "
                         "--results, --variant and --fold of a finished run)")
    seed_dirs = [seed_train_dir(results=results, seed_offset=k) for k in range(1, seeds)]
    names += [checkpoint_path(train_dir=d, variant=variant, fold=fold) for d in seed_dirs]
    models = [load_synthesizer(checkpoint=names[0], device=settings.training.device,
                               precision=settings.training.precision, threads=threads)]
    check_run_settings(record=models[0].record, settings=settings, variant=variant,
                       name=names[0])
    train_s = [train(layout=layout, settings=settings, variant=variant, fold=fold,
                     seed_offset=k, checkpoint=names[k], threads=threads,
                     history=history_path(train_dir=seed_dirs[k - 1], variant=variant,
                                          fold=fold))
               for k in range(1, seeds)]
    models += [load_synthesizer(checkpoint=name, device=settings.training.device,
                                precision=settings.training.precision, threads=threads)
               for name in names[1:]]
    subjects = fold_subjects(folds=read_folds(layout.folds_table), fold=fold)["test"]
    scored, maps = score(models=models, names=[str(n) for n in names], subjects=subjects,
                         layout=layout, settings=settings)
    added = (seeds - 1) * statistics.median(train_s) if train_s else 0.0
    table = pd.DataFrame([s.row(train_s=0.0 if s.name == "TTA" else added) for s in scored])
    runtime = models[0].runtime
    print(f"{variant} fold {fold}: {len(subjects)} test subjects, {seeds} seeds "
          f"(extra seeds trained in {', '.join(f'{s:.0f}' for s in train_s)} s), "
          f"{runtime.device.type} {runtime.precision}, {threads} threads")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("voxel_rho: median over subjects of Spearman(SD, |error|) in the brain mask; "
          "subject_rho: mean SD vs MAE; error_ratio: mean |error| / (sqrt(2/pi) mean SD), "
          "1 if calibrated; infer_s: per subject; train_s: added per fold model")
    difference, compared = run_difference(
        synth_dir=layout.synth_dir(variant=variant, fold=fold), maps=maps)
    print(f"TTA vs the run's desc-synthsd maps ({compared} subjects): max |difference| "
          f"{difference:.3g}")
    reference = table.set_index("estimator").loc["TTA"]
    print("cost = training added per fold model + inference of its "
          f"{len(subjects)} test subjects")
    for _, row in table.iloc[1:].iterrows():
        cost = ((row["train_s"] + len(subjects) * row["infer_s"])
                / (len(subjects) * reference["infer_s"]))
        print(f"{row['estimator']}/TTA voxel rho ratio "
              f"{row['voxel_rho'] / reference['voxel_rho']:.3f} (difference "
              f"{row['voxel_rho'] - reference['voxel_rho']:+.3f}), cost ratio {cost:.1f}")
    return table


def write_smoke_run(*, results: Path, settings: Settings, variant: str, threads: int) -> None:
    """A stand-in for a finished run of the tiny preset: phantoms on its grid, the atlas,
    folds, seed 0 of fold 0 and its synthesis, written where the workflow writes them."""
    layout = Layout(results=results)
    grid = settings.preprocessing.grid
    write_phantoms(preproc_dir=layout.preprocess_dir, participant_ids=SMOKE_IDS, grid=grid)
    write_image_atomic(resample_atlas(size=grid, atlas=resources.aal_atlas()), layout.atlas)
    folds = make_folds(subjects=pd.DataFrame({"participant_id": SMOKE_IDS,
                                              "diagnosis": [p[:2].upper() for p in SMOKE_IDS]}),
                       n_folds=settings.cv.n_folds, val_fraction=settings.cv.val_fraction,
                       seed=settings.cv.seed)
    write_text_atomic(folds.to_csv(sep="\t", index=False), layout.folds_table)
    train(layout=layout, settings=settings, variant=variant, fold="0", seed_offset=0,
          checkpoint=layout.checkpoint(variant=variant, fold="0"),
          history=layout.history(variant=variant, fold="0"), threads=threads)
    synthesis = job_settings(training__device=settings.training.device,
                             training__precision=settings.training.precision,
                             uncertainty__tta_flip=settings.uncertainty.tta_flip,
                             uncertainty__tta_shift=settings.uncertainty.tta_shift)
    gla_model(arguments=["synthesize", "--settings", synthesis, "--threads", str(threads),
                         "--checkpoint", str(layout.checkpoint(variant=variant, fold="0")),
                         "--folds", str(layout.folds_table), "--fold", "0", "--preproc-dir",
                         str(layout.preprocess_dir), "--out-dir",
                         str(layout.synth_dir(variant=variant, fold="0"))],
              log=results / "synthesize.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="results/ of a finished run")
    parser.add_argument("--config", type=Path, nargs="+", default=[ROOT / "config.yaml"],
                        help="that run's config files, later ones overriding earlier ones "
                             "(default: config.yaml)")
    parser.add_argument("--variant", default="glagan")
    parser.add_argument("--fold", default="0")
    parser.add_argument("--seeds", type=int, default=3, help="ensemble size S >= 2")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--smoke", action="store_true",
                        help="12 phantoms, 2 seeds of 2 epochs (the tiny preset), seconds")
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (an ensemble)")
    started = time.perf_counter()
    if args.smoke:
        settings = build_settings(config=load_config(paths=list(SMOKE_CONFIG)))
        with tempfile.TemporaryDirectory() as scratch:
            write_smoke_run(results=Path(scratch), settings=settings, variant=args.variant,
                            threads=args.threads)
            measure(results=Path(scratch), settings=settings, variant=args.variant,
                    fold="0", seeds=2, threads=args.threads)
    else:
        if args.results is None:
            parser.error("give --results (a finished run) or --smoke")
        settings = build_settings(config=load_config(paths=args.config))
        measure(results=args.results, settings=settings, variant=args.variant,
                fold=args.fold, seeds=args.seeds, threads=args.threads)
    print(f"wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
