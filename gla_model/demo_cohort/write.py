"""Write the built-in synthetic cohort as a BIDS dataset, with its ground truth.

Layout under the output folder (valid BIDS: the official validator finds no error)::

    dataset_description.json, README, participants.tsv (participant_id, diagnosis),
    participants.json, .bidsignore (derivatives/truth/: not a BIDS-Derivatives dataset)
    sub-<id>/anat/sub-<id>_T1w.nii.gz (+ .json)
    sub-<id>/pet/sub-<id>_trc-FDG_pet.nii.gz (+ .json)       paired subjects only
    derivatives/truth/sub-<id>/
        sub-<id>_truth.json                    diagnosis, severity (MCI: mci_progress, the
                                               fraction of an AD severity), transforms
                                               (4x4, world mm)
        sub-<id>_space-T1w_desc-brain_mask.nii.gz
        sub-<id>_space-T1w_label-{GM,WM,CSF}_probseg.nii.gz
        sub-<id>_space-T1w_desc-truth_xfm.nii.gz   (x, y, z, 3): the MNI mm each T1w voxel
                                                    came from; NaN outside the brain mask

The sidecars say plainly that the data are simulated (``Manufacturer`` is
:data:`SIMULATOR`, no reconstruction, no attenuation correction); the PET timing
(``FrameTimesStart``, ``FrameDuration``) is that of the simulated frames. The same seed gives
byte-identical files (gzip headers carry no time or name).
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from gla_model import __version__
from gla_model.demo_cohort.anatomy import reference_anatomy
from gla_model.demo_cohort.plan import DemoSubject, plan_demo_cohort
from gla_model.demo_cohort.simulate import simulate_subject
from gla_model.niftiio import write_image_atomic, write_text_atomic

BIDS_VERSION = "1.10.0"
#: ``Manufacturer`` of every sidecar: no scanner produced these images.
SIMULATOR = "gla-model demo simulator"
_NOT_ACQUIRED = "none: simulated image"
_SOFTWARE = f"gla-model {__version__}"
#: The BIDS-PET keys that describe a scanner and a reconstruction, for a simulated PET
#: (tissue uptake blurred by a Gaussian PSF, with noise). FDG needs no injected mass or
#: specific radioactivity ("n/a", as BIDS-PET says); the dose is a typical FDG dose.
PET_SIDECAR = {
    "Manufacturer": SIMULATOR, "ManufacturersModelName": "simulated FDG-PET, no scanner",
    "SoftwareVersions": _SOFTWARE, "InstitutionName": _NOT_ACQUIRED, "BodyPart": "BRAIN",
    "TracerMolecularWeight": 181.15, "TracerMolecularWeightUnits": "g/mol",
    "InjectedRadioactivity": 185, "InjectedRadioactivityUnits": "MBq",
    "InjectedMass": "n/a", "InjectedMassUnits": "n/a",
    "SpecificRadioactivity": "n/a", "SpecificRadioactivityUnits": "n/a",
    "AcquisitionMode": _NOT_ACQUIRED, "ImageDecayCorrected": True, "ImageDecayCorrectionTime": 0,
    "ReconMethodName": _NOT_ACQUIRED, "ReconMethodParameterLabels": ["none"],
    "ReconMethodParameterUnits": ["none"], "ReconMethodParameterValues": [0],
    "ReconFilterType": "none", "ReconFilterSize": 0, "AttenuationCorrection": _NOT_ACQUIRED,
}
#: The diagnoses of participants.tsv, as participants.json describes them.
DIAGNOSIS_LEVELS = {"CN": "cognitively normal",
                    "MCI": "mild cognitive impairment (severity between CN and AD)",
                    "AD": "Alzheimer's disease"}
T1W_SIDECAR = {"Manufacturer": SIMULATOR, "ManufacturersModelName": "simulated T1w, no scanner",
               "SoftwareVersions": _SOFTWARE, "InstitutionName": _NOT_ACQUIRED,
               "BodyPart": "BRAIN"}


def write_demo_cohort(*, out_dir: Path | str, n_paired: int, n_mri_only: int, seed: int,
                      mci_fraction: float = 0.0, jobs: int = 1, t1_voxel_mm: float = 1.5,
                      pet_voxel_mm: float = 2.0) -> list[DemoSubject]:
    """Generate and write the cohort of :func:`plan_demo_cohort`; returns the plan.

    Args:
        out_dir: the BIDS dataset root (created).
        n_paired, n_mri_only, seed, mci_fraction: as in :func:`plan_demo_cohort`.
        jobs: worker processes (the files do not depend on it).
        t1_voxel_mm, pet_voxel_mm: voxel sizes; coarser is faster (tests use 3 and 4).
    """
    if not 1.0 <= t1_voxel_mm <= 4.0 or not 1.0 <= pet_voxel_mm <= 6.0:
        raise ValueError("voxel sizes must be 1-4 mm (T1w) and 1-6 mm (PET)")
    out_dir = Path(out_dir)
    plan = plan_demo_cohort(n_paired=n_paired, n_mri_only=n_mri_only, seed=seed,
                            mci_fraction=mci_fraction)
    reference_mm = min(max(t1_voxel_mm, 1.5), 3.0)
    reference_anatomy(mm=reference_mm)
    tasks = [dict(subject=s, seed=seed, out_dir=out_dir, reference_mm=reference_mm,
                  t1_voxel_mm=t1_voxel_mm, pet_voxel_mm=pet_voxel_mm) for s in plan]
    if jobs > 1:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            list(pool.map(_write_subject_task, tasks))
    else:
        for task in tasks:
            _write_subject_task(task)
    _write_dataset_files(out_dir=out_dir, plan=plan, seed=seed)
    return plan


def _write_subject_task(task: dict) -> None:
    _write_subject(**task)


def _write_subject(*, subject: DemoSubject, seed: int, out_dir: Path, reference_mm: float,
                   t1_voxel_mm: float, pet_voxel_mm: float) -> None:
    simulated = simulate_subject(subject=subject, seed=seed,
                                 anatomy=reference_anatomy(mm=reference_mm),
                                 t1_voxel_mm=t1_voxel_mm, pet_voxel_mm=pet_voxel_mm)
    write_image_atomic(simulated.t1w, out_dir / subject.t1w)
    write_text_atomic(_json(T1W_SIDECAR), out_dir / subject.t1w.replace(".nii.gz", ".json"))
    if subject.pet is not None:
        write_image_atomic(simulated.pet, out_dir / subject.pet)
        write_text_atomic(_json({**PET_SIDECAR, **simulated.pet_sidecar}),
                          out_dir / subject.pet.replace(".nii.gz", ".json"))
    truth = out_dir / subject.truth_dir
    prefix = f"sub-{subject.participant_id}"
    write_image_atomic(simulated.brain_mask, truth / f"{prefix}_space-T1w_desc-brain_mask.nii.gz")
    for name, image in simulated.tissues.items():
        write_image_atomic(image, truth / f"{prefix}_space-T1w_label-{name}_probseg.nii.gz")
    write_image_atomic(simulated.xfm, truth / f"{prefix}_space-T1w_desc-truth_xfm.nii.gz")
    write_text_atomic(_json(simulated.truth), truth / f"{prefix}_truth.json")


def _write_dataset_files(*, out_dir: Path, plan: list[DemoSubject], seed: int) -> None:
    description = {
        "Name": "GLA-GAN built-in synthetic cohort", "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw", "License": "CC0", "Authors": [SIMULATOR],
        "GeneratedBy": [{"Name": "gla-model demo-cohort", "Description": f"seed {seed}"}],
    }
    write_text_atomic(_json(description), out_dir / "dataset_description.json")
    write_text_atomic(_json({
        "participant_id": {"Description": "label of the simulated subject"},
        "diagnosis": {"Description": "simulated clinical diagnosis",
                      "Levels": DIAGNOSIS_LEVELS}}),
        out_dir / "participants.json")
    write_text_atomic(_README.format(seed=seed, simulator=SIMULATOR), out_dir / "README")
    write_text_atomic("derivatives/truth/\n", out_dir / ".bidsignore")
    table = pd.DataFrame({"participant_id": [f"sub-{s.participant_id}" for s in plan],
                          "diagnosis": [s.diagnosis for s in plan]})
    write_text_atomic(table.to_csv(sep="\t", index=False), out_dir / "participants.tsv")


_README = """# GLA-GAN built-in synthetic cohort (simulated, seed {seed})

Every image here is simulated by `gla-model demo-cohort` ({simulator}) from the MNI152
template, its tissue priors and the AAL atlas: no person was scanned and no scanner was
used. Each subject has its own pose, deformation, voxel order, bias field and noise; AD
subjects have atrophy (T1w) and hypometabolism (FDG-PET) driven by one severity, and MCI
subjects the same disease at a fraction of that severity (some near CN, some near AD).
Ground truth (transforms, brain masks, tissue maps, severity) is under
`derivatives/truth/` (listed in `.bidsignore`). See `gla_model/demo_cohort/` in the
gla-model repository.
"""


def _json(value: dict) -> str:
    return json.dumps(value, indent=2) + "\n"
