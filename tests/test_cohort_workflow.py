"""The cohort through real Snakemake runs started as a user would without activating the venv
(`.venv/bin/snakemake`, the venv's bin not on PATH): the CLI found by every job, the checks
at DAG build, and the issue's acceptance case, ADNI as Clinica 0.12 writes it, through
preprocessing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gla_model.layout import Layout

LAYOUT = Layout()
VENV_BIN = Path(sys.executable).parent


def bare_path() -> str:
    """A PATH with bash and the system tools but neither the venv nor any `gla-model`."""
    folders = dict.fromkeys([os.path.dirname(shutil.which("bash")), "/usr/bin", "/bin"])
    path = os.pathsep.join(folders)
    assert shutil.which("gla-model", path=path) is None
    assert shutil.which("snakemake", path=path) is None
    return path


def snakemake(*args: str | Path, workdir: Path, configfiles: list[Path],
              repo_root: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """`.venv/bin/snakemake` with a PATH that lacks the venv, as after `make` without
    `source .venv/bin/activate`."""
    command = [VENV_BIN / "snakemake", "--snakefile", repo_root / "Snakefile",
               "--directory", workdir, "--configfile", *configfiles, *args]
    return subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          env=dict(os.environ, PATH=bare_path()), timeout=timeout)


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def bids_config(write_yaml, path: Path, bids: Path, **cohort) -> Path:
    return write_yaml(path, {"cohort": {"source": "bids", "bids_dir": str(bids), **cohort}})


def test_jobs_find_the_cli_without_the_venv_on_path(
        tmp_path, fake_bids, write_yaml, repo_root, config_file, tiny_preset):
    """`gla-model` in a job is the shell function of common.smk's shell prefix, which runs
    `python -m gla_model` with the interpreter running Snakemake."""
    bids = fake_bids(tmp_path / "bids", n_paired=8, n_mri_only=2)
    configs = [config_file, tiny_preset, bids_config(write_yaml, tmp_path / "c.yaml", bids)]
    target = str(LAYOUT.cohort_table)

    planned = snakemake("-n", "-p", target, workdir=tmp_path / "run", configfiles=configs,
                        repo_root=repo_root)
    assert planned.returncode == 0, output_of(planned)[-4000:]
    assert "Shell command: gla-model cohort --bids-dir " in output_of(planned)
    assert ("Cohort: 10 subjects (8 paired: 4 CN, 4 AD; 2 MRI-only: 1 CN, 1 AD)\n"
            in output_of(planned))

    ran = snakemake("--cores", "1", target, workdir=tmp_path / "run", configfiles=configs,
                    repo_root=repo_root)
    assert ran.returncode == 0, output_of(ran)[-4000:]
    table = pd.read_csv(tmp_path / "run" / LAYOUT.cohort_table, sep="\t")
    assert len(table) == 10 and (table["group"] == "paired").sum() == 8
    assert json.loads((tmp_path / "run" / LAYOUT.cohort_sidecar).read_text())["excluded"] == {}


def test_folds_too_small_fail_at_dag_build(tmp_path, fake_bids, write_yaml, repo_root,
                                           config_file, tiny_preset):
    """2 AD + 2 CN with 2 folds: one of each class per training part, none left beside the
    validation carve-out. Said before any job runs, with the keys and counts."""
    bids = fake_bids(tmp_path / "bids", n_paired=4, n_mri_only=0)
    configs = [config_file, tiny_preset, bids_config(write_yaml, tmp_path / "c.yaml", bids)]

    result = snakemake("-n", workdir=tmp_path / "run", configfiles=configs, repo_root=repo_root)

    assert result.returncode != 0
    text = output_of(result)
    for name in ("AD", "CN"):
        assert (f"class {name} has 2 paired subjects: with cv.n_folds 2 a fold's training "
                "part keeps only 1 of them, and the validation carve-out (cv.val_fraction "
                "0.25)") in text
    assert "sklearn" not in text and "Job stats" not in text
    assert not (tmp_path / "run" / "results").exists()


# The acceptance case: ADNI converted by Clinica 0.12 -----------------------------------------

#: Demo subject -> (ADNI label, participants.tsv diagnosis_sc, sessions.tsv diagnosis at
#: M000). demo001-004 are AD, demo005-008 CN (paired); demo009 (T1w only) is listed in
#: cohort.exclude.
ADNI = {
    "demo001": ("ADNI002S0295", "AD", "AD"), "demo002": ("ADNI002S0619", "AD", "AD"),
    "demo003": ("ADNI005S0221", "AD", "AD"), "demo004": ("ADNI007S0316", "AD", "Dementia"),
    "demo005": ("ADNI002S0413", "CN", "CN"), "demo006": ("ADNI002S0685", "CN", ""),
    "demo007": ("ADNI011S0002", "CN", "CN"), "demo008": ("ADNI013S0502", "SMC", "CN"),
    "demo009": ("ADNI033S0724", "CN", "CN"),
}
#: Participants with images copied from demo001 -> (participants.tsv diagnosis_sc,
#: sessions.tsv diagnosis at M000 or None for no sessions.tsv, the diagnosis discovery gives
#: them or None for excluded). ADNI's MCI labels become MCI by default (4 paired, the fewest
#: that tiny.yaml's folds take); SMC stays out.
OTHER_DIAGNOSES = {"ADNI002S0729": ("EMCI", "MCI", "MCI"), "ADNI003S1057": ("LMCI", "", "MCI"),
                   "ADNI006S4192": ("SMC", None, None), "ADNI009S4388": ("LMCI", "LMCI", "MCI"),
                   "ADNI012S4012": ("CN", "EMCI", "MCI")}
MOTION = "failed T1w QC: motion"


def copy_image(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    if source.with_name(source.name.replace(".nii.gz", ".json")).is_file():
        shutil.copyfile(source.with_name(source.name.replace(".nii.gz", ".json")),
                        target.with_name(target.name.replace(".nii.gz", ".json")))


def clinica_subject(root: Path, label: str, *, t1w: Path, pet: Path | None, index: int,
                    visits: dict[str, str] | None) -> None:
    """ses-M000 with T1w (and PET: rec-coregiso8, every other one also rec-coregavg), a T1w
    at ses-M012, and sub-X_sessions.tsv with the diagnosis of each visit."""
    subject = root / f"sub-{label}"
    copy_image(t1w, subject / "ses-M000" / "anat" / f"sub-{label}_ses-M000_T1w.nii.gz")
    copy_image(t1w, subject / "ses-M012" / "anat" / f"sub-{label}_ses-M012_T1w.nii.gz")
    for rec in ("coregiso8", "coregavg")[: 1 + index % 2] if pet else ():
        copy_image(pet, subject / "ses-M000" / "pet"
                   / f"sub-{label}_ses-M000_trc-18FFDG_rec-{rec}_pet.nii.gz")
    if visits is not None:
        (subject / f"sub-{label}_sessions.tsv").write_text("session_id\tage\tdiagnosis\n" + "".join(
            f"ses-{session}\t7{index}.5\t{dx}\n" for session, dx in visits.items()))


@pytest.fixture(scope="module")
def clinica_adni(tmp_path_factory) -> Path:
    """The demo cohort's images (3 mm voxels) renamed into Clinica 0.12's ADNI layout."""
    from gla_model.demo_cohort.write import write_demo_cohort

    demo = tmp_path_factory.mktemp("demo")
    plan = write_demo_cohort(out_dir=demo, n_paired=8, n_mri_only=1, seed=11, jobs=2,
                             t1_voxel_mm=3.0, pet_voxel_mm=3.0)
    assert {s.participant_id: s.diagnosis for s in plan} == {
        pid: "AD" if pid in ("demo001", "demo002", "demo003", "demo004") else "CN"
        for pid in ADNI}
    root = tmp_path_factory.mktemp("adni_bids")
    rows = ["participant_id\talternative_id_1\tsex\tdiagnosis_sc"]
    for index, subject in enumerate(plan):
        label, screening, visit = ADNI[subject.participant_id]
        clinica_subject(root, label, t1w=demo / subject.t1w,
                        pet=subject.pet and demo / subject.pet, index=index,
                        visits={"M000": visit, "M012": "MCI" if visit == "CN" else visit})
        rows.append(f"sub-{label}\t{label[4:7]}_S_{label[8:]}\tF\t{screening}")
    for index, (label, (screening, visit, _)) in enumerate(OTHER_DIAGNOSES.items()):
        clinica_subject(root, label, t1w=demo / plan[0].t1w, pet=demo / plan[0].pet,
                        index=index, visits=None if visit is None else {"M000": visit})
        rows.append(f"sub-{label}\t{label[4:7]}_S_{label[8:]}\tM\t{screening}")
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "ADNI", "BIDSVersion": "1.8.0"}))
    return root


@pytest.mark.slow
def test_clinica_adni_runs_through_preprocessing(clinica_adni, tmp_path, write_yaml,
                                                  repo_root, config_file, tiny_preset):
    override = write_yaml(tmp_path / "adni.yaml", {"cohort": {
        "source": "bids", "bids_dir": str(clinica_adni), "exclude": {"ADNI033S0724": MOTION},
        "participants": {"diagnosis_column": "diagnosis_sc"}}})
    configs = [config_file, tiny_preset, override]
    workdir = tmp_path / "run"
    targets = ["collect_qc", str(LAYOUT.cohort_table)]

    planned = snakemake("-n", *targets, workdir=workdir, configfiles=configs,
                        repo_root=repo_root)
    assert planned.returncode == 0, output_of(planned)[-4000:]
    printed = output_of(planned)
    assert ("Cohort: 12 subjects (12 paired: 4 CN, 4 MCI, 4 AD; 0 MRI-only); 2 excluded "
            "(cohort.exclude: 1, diagnosis SMC: 1):") in printed
    for line in (f"cohort.exclude: {MOTION} (1): sub-ADNI033S0724",
                 "diagnosis_sc 'SMC' in participants.tsv is not listed under CN, MCI or AD in "
                 "cohort.participants.labels (1): sub-ADNI006S4192",
                 "FDG PET: 6 sessions hold several reconstructions; chosen by "
                 "cohort.pet_reconstructions: rec-coregiso8 for 6"):
        assert line in printed, line

    ran = snakemake("--cores", "2", *targets, workdir=workdir, configfiles=configs,
                    repo_root=repo_root, timeout=900)
    assert ran.returncode == 0, output_of(ran)[-6000:]

    cohort = pd.read_csv(workdir / LAYOUT.cohort_table, sep="\t", dtype=str,
                         keep_default_na=False).set_index("participant_id")
    mci = {label for label, (_, _, dx) in OTHER_DIAGNOSES.items() if dx == "MCI"}
    included = {label for label, _, _ in ADNI.values()} - {"ADNI033S0724"} | mci
    assert set(cohort.index) == included
    assert set(cohort.loc[sorted(mci), "diagnosis"]) == {"MCI"}
    assert set(cohort["session"]) == {"M000"}
    paired = cohort[cohort["group"] == "paired"]
    assert len(paired) == 12 and paired["pet"].str.endswith(
        "_ses-M000_trc-18FFDG_rec-coregiso8_pet.nii.gz").all()
    # SMC at screening, CN at the baseline visit: the visit's diagnosis wins
    assert cohort.loc["ADNI013S0502", "diagnosis"] == "CN"
    assert cohort.loc["ADNI007S0316", "diagnosis"] == "AD"  # "Dementia" at M000
    assert cohort.loc["ADNI002S0685", "diagnosis"] == "CN"  # no value at M000: screening
    sidecar = json.loads((workdir / LAYOUT.cohort_sidecar).read_text())
    assert sidecar["excluded"]["ADNI033S0724"] == f"cohort.exclude: {MOTION}"
    assert set(sidecar["excluded"]) == {"ADNI033S0724", "ADNI006S4192"}
    assert sidecar["diagnoses"] == {"paired": {"CN": 4, "MCI": 4, "AD": 4}, "mri_only": {}}
    qc = pd.read_csv(workdir / LAYOUT.qc_table, sep="\t", dtype={"participant_id": str})
    assert set(qc["participant_id"]) == included
