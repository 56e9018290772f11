"""The workflow through workflow/profiles/slurm: dry runs, then a real (private, single-node)
SLURM cluster.

The cluster fixture needs root and the packages from .ci/install-slurm.sh; without them those
tests skip, or fail when GLA_REQUIRE_SLURM=1 (CI). Each SLURM job costs a few seconds of
Snakemake start-up, and the plugin polls squeue 1 s after a submission, then 10 s later than
the previous poll until some job finishes.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.cluster.compare import result_differences
from tests.cluster.slurm import SlurmCluster, running_cluster, unavailable_reason

PROFILE = Path(__file__).resolve().parent.parent / "workflow" / "profiles" / "slurm"
FAULTS = Path(__file__).parent / "cluster" / "faults.smk"
COMPONENTS = yaml.safe_load((PROFILE / "config.yaml").read_text())["group-components"]
# The private cluster has no accounting database, so status comes from squeue; polling
# starts 1 s after a submission instead of 40 s. Both are executor settings, not resources:
# the profile's resources, retries and groups are used as written.
SLURM_ARGS = (
    "--profile", PROFILE,
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "1",
)  # fmt: skip


# How the interrupted job ends: cancelled by Snakemake, or failed with its node.
STATE_AFTER = {"sigint": "CANCELLED", "sigkill": "FAILED"}


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory) -> SlurmCluster:
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("GLA_REQUIRE_SLURM") == "1":
            pytest.fail(f"GLA_REQUIRE_SLURM=1 but no SLURM cluster can start: {reason}")
        pytest.skip(reason)
    with running_cluster(state_dir=tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


def start_faults_run(*targets: str, workdir: Path) -> subprocess.Popen:
    """Snakemake on tests/cluster/faults.smk through the SLURM profile, in the background."""
    command = [
        Path(sys.executable).parent / "snakemake", "--snakefile", FAULTS,
        "--directory", workdir, *SLURM_ARGS, *targets,
    ]  # fmt: skip
    with (workdir / "snakemake.out").open("a") as log:
        return subprocess.Popen(
            [str(part) for part in command],
            stdout=log,
            stderr=subprocess.STDOUT,
            # A shell without job control starts background commands with SIGINT ignored;
            # restore it so that the interrupt test reaches Snakemake wherever pytest runs.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"waited {timeout_s:.0f} s for {what}"
        time.sleep(0.2)


def finish(run: subprocess.Popen, *, workdir: Path, timeout_s: float = 240) -> str:
    """Wait for a background run; return its output."""
    run.wait(timeout=timeout_s)
    return (workdir / "snakemake.out").read_text()


def planned_submissions(output: str, *, group: str) -> int:
    """Group jobs (one sbatch each) in a dry run's job listing."""
    return output.count(f"Group job {group} ")


def test_slurm_profile_plans_one_submission_for_tiny_preprocessing_and_a_gpu_for_training(
    tmp_path, run_snakemake, planned_jobs, default_settings
):
    result = run_snakemake("-n", "--profile", PROFILE, workdir=tmp_path)
    output = result.stdout + result.stderr
    jobs = planned_jobs(result)
    subjects = jobs["preprocess_subject"]
    demo = default_settings.cohort.demo
    assert subjects == demo.n_paired + demo.n_mri_only
    assert 1 < subjects <= COMPONENTS["preprocess"]
    assert planned_submissions(output, group="preprocess") == 1
    train = [block for block in output.split("\n\n") if "rule train_model:" in block]
    assert len(train) == jobs["train_model"]
    assert all(re.search(r"resources: .*\bgpu=1\b", block) for block in train)


@pytest.mark.slow
def test_dry_run_over_2000_subjects_submits_a_tenth_for_preprocessing(
    tmp_path, run_snakemake, planned_jobs, fake_bids, write_yaml, config_file
):
    """Job and submission counts at scale; benchmarks/dag_scale.py times the same dry run."""
    n_paired, n_mri_only = 1500, 500
    bids = fake_bids(tmp_path / "bids", n_paired=n_paired, n_mri_only=n_mri_only)
    override = write_yaml(
        tmp_path / "bids.yaml", {"cohort": {"source": "bids", "bids_dir": str(bids)}}
    )
    configs = (config_file, override)
    result = run_snakemake(
        "-n", "--quiet", "rules", workdir=tmp_path / "run", configfiles=configs
    )
    jobs = planned_jobs(result)
    assert jobs["preprocess_subject"] == n_paired + n_mri_only == 2000

    plan = run_snakemake(
        "-n", "--profile", PROFILE, workdir=tmp_path / "run", configfiles=configs
    )
    submissions = planned_submissions(plan.stdout + plan.stderr, group="preprocess")
    assert 0 < submissions <= jobs["preprocess_subject"] / 10


@pytest.mark.slow
def test_tiny_workflow_through_slurm_matches_the_local_run(
    slurm_cluster, tiny_local_run, tmp_path, run_snakemake
):
    before = slurm_cluster.last_job_id()
    started = time.monotonic()
    run_snakemake(*SLURM_ARGS, workdir=tmp_path)
    elapsed = time.monotonic() - started

    jobs = slurm_cluster.jobs(after=before)
    assert jobs, "no job went through SLURM"
    assert all(job.state == "COMPLETED" for job in jobs), jobs
    # All subjects' preprocessing in ceil(subjects / 20) submissions.
    preprocess = [job for job in jobs if job.comment.startswith("rule_preprocess_")]
    subjects = len(list((tiny_local_run / "results" / "preprocess").glob("sub-*")))
    assert len(preprocess) == math.ceil(subjects / COMPONENTS["preprocess"])
    # Training asks SLURM for a GPU (the profile's set-resources), other stages do not.
    train = [job for job in jobs if job.comment.startswith("rule_train_model")]
    assert train and all("gpu" in job.tres for job in train), train
    assert not any("gpu" in job.tres for job in jobs if job not in train)

    # Same seed, same config, CPU: the same bytes (cohort, folds, images, metrics, figures).
    differences = result_differences(
        expected=tiny_local_run / "results", actual=tmp_path / "results"
    )
    assert differences == [], f"SLURM run ({elapsed:.0f} s) differs from the local run"


@pytest.mark.slow
def test_a_job_cancelled_by_the_scheduler_is_retried(slurm_cluster, tmp_path):
    before = slurm_cluster.last_job_id()
    run = start_faults_run("done/nap.txt", workdir=tmp_path)

    def nap_running() -> bool:
        return any(job.state == "RUNNING" for job in slurm_cluster.jobs(after=before))

    wait_until(nap_running, timeout_s=60, what="the nap job to run")
    (first,) = slurm_cluster.jobs(after=before)
    subprocess.run(["scancel", str(first.job_id)], check=True)
    output = finish(run, workdir=tmp_path)

    assert run.returncode == 0, output
    jobs = slurm_cluster.jobs(after=before)
    assert [job.state for job in jobs] == ["CANCELLED", "COMPLETED"], jobs
    # The retry is attempt 2, and the profile's default memory grows with the attempt.
    assert (tmp_path / "done" / "nap.txt").read_text() == "2\n"
    assert [job.memory for job in jobs] == ["2000M", "4000M"]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_rerun_after_an_interrupt_redoes_only_unfinished_jobs(how, slurm_cluster, tmp_path):
    """SIGINT: Snakemake cancels its SLURM jobs and deletes their partial outputs.
    SIGKILL, then the job's node fails: the half-written output stays behind, marked
    incomplete, and the directory stays locked; after `--unlock` the rerun redoes that job
    (the profile's rerun-incomplete) and nothing else."""
    before = slurm_cluster.last_job_id()
    (tmp_path / "slow").touch()
    halves = tmp_path / "done" / "halves.txt"
    run = start_faults_run("done/first.txt", "done/halves.txt", workdir=tmp_path)
    wait_until(
        lambda: halves.exists() and "(Rule: first)" in (tmp_path / "snakemake.out").read_text(),
        timeout_s=120,
        what="first to finish and halves to write its first half",
    )
    first_written = (tmp_path / "done" / "first.txt").stat().st_mtime_ns
    if how == "sigint":
        run.send_signal(signal.SIGINT)
        output = finish(run, workdir=tmp_path, timeout_s=60)
        assert run.returncode != 0, output
        assert not halves.exists()
    else:
        run.kill()
        run.wait(timeout=10)
        # The orphaned job dies with its node: no process of it gets to clean up.
        (running,) = [job for job in slurm_cluster.jobs(after=before) if job.state == "RUNNING"]
        slurm_cluster.kill_job_processes(running.job_id)
        wait_until(
            lambda: slurm_cluster.jobs(after=running.job_id - 1)[0].state == "FAILED",
            timeout_s=30,
            what="the orphaned job to fail",
        )
        assert halves.read_text() == "first-half\n"
        finish(start_faults_run("--unlock", workdir=tmp_path), workdir=tmp_path)
    interrupted = slurm_cluster.jobs(after=before)
    states = {job.comment: job.state for job in interrupted}
    assert states == {"rule_first": "COMPLETED", "rule_halves": STATE_AFTER[how]}, interrupted

    (tmp_path / "slow").unlink()
    rerun = start_faults_run("done/first.txt", "done/halves.txt", workdir=tmp_path)
    output = finish(rerun, workdir=tmp_path)

    assert rerun.returncode == 0, output
    assert halves.read_text() == "first-half\nsecond-half\n"
    assert (tmp_path / "done" / "first.txt").stat().st_mtime_ns == first_written
    rerun_jobs = slurm_cluster.jobs(after=interrupted[-1].job_id)
    assert [job.comment for job in rerun_jobs] == ["rule_halves"], rerun_jobs
