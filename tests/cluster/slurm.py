"""A private single-node SLURM cluster on this machine, started and stopped by the tests.

The node is declared larger than the machine (`SlurmdParameters=config_overrides`) and with
GPU GRES backed by plain files, so the SLURM profile's requests (`--cpus-per-task`, `--mem`,
`--gpus=1`) are accepted as written and jobs run on the CPU. Accounting is off, so Snakemake
polls job status with squeue; MinJobAge keeps finished jobs visible to it (and to the tests)
for an hour.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
GRES_CONF = Path("/etc/slurm/gres.conf")
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_SOCKET_DIR = Path("/run/munge")
MARKER = "# written by tests/cluster/slurm.py; removed when the test session ends"
NODE_CPUS = 8
NODE_MEMORY_MB = 128_000
NODE_GPUS = 2
INSTALL_HINT = "run .ci/install-slurm.sh as root"
REQUIRED_TOOLS = (
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "scancel",
    "sinfo",
    "munged",
    "munge",
    "unmunge",
)


@dataclass(frozen=True)
class SlurmJob:
    """One job as squeue shows it; Snakemake puts the rule (or group) in the comment.

    `tres` is what the job asked for per job, e.g. "gres:gpu:1" for `--gpus=1`, else "N/A".
    """

    job_id: int
    state: str
    memory: str
    tres: str
    comment: str


@dataclass(frozen=True)
class SlurmCluster:
    """A running cluster: its node name and where its state and daemon logs live."""

    node: str
    state_dir: Path

    def jobs(self, *, after: int = 0) -> list[SlurmJob]:
        """Jobs with an id above `after`, finished ones included (MinJobAge keeps them an hour)."""
        fields = "JobID:20,State:20,MinMemory:20,tres-per-job:60,Comment:300"
        out = _run(["squeue", "--states=all", "--noheader", f"--Format={fields}"])
        jobs = []
        for line in out.splitlines():
            job_id, state, memory, tres, comment = line.split()
            if int(job_id) > after:
                jobs.append(SlurmJob(int(job_id), state, memory, tres, comment))
        return sorted(jobs, key=lambda job: job.job_id)

    def kill_job_processes(self, job_id: int) -> None:
        """SIGKILL every process of a job at once, as a node failure would: nothing cleans up."""
        out = _run(["scontrol", "listpids", str(job_id)])
        pids = [int(line.split()[0]) for line in out.splitlines()[1:] if line.strip()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def last_job_id(self) -> int:
        """The highest job id so far (0 before the first job)."""
        return max((job.job_id for job in self.jobs()), default=0)

    def daemon_logs(self) -> str:
        """The tail of each daemon log, for assertion messages."""
        parts = []
        for log in sorted((self.state_dir / "log").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-20:]
            parts.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(parts)


def unavailable_reason() -> str | None:
    """Why a private cluster cannot be started here, or None when it can."""
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd and writing /etc/slurm/slurm.conf needs root"
    missing = [tool for tool in REQUIRED_TOOLS if _which(tool) is None]
    if missing:
        return f"SLURM/munge tools missing ({', '.join(missing)}); {INSTALL_HINT}"
    if not MUNGE_KEY.exists():
        return f"{MUNGE_KEY} missing; {INSTALL_HINT}"
    for conf in (SLURM_CONF, GRES_CONF):
        if conf.exists() and MARKER not in conf.read_text(errors="replace"):
            return f"{conf} belongs to a real SLURM installation; not overwriting it"
    return None


@contextlib.contextmanager
def running_cluster(*, state_dir: Path, startup_timeout_s: float = 30.0) -> Iterator[SlurmCluster]:
    """Start munged (unless one already answers), slurmctld and slurmd; stop them by PID after."""
    node = socket.gethostname().split(".")[0]
    log_dir = state_dir / "log"
    for sub in ("ctld", "spool", "log"):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(_slurm_conf(node=node, state_dir=state_dir))
    gpu_files = [state_dir / f"gpu{index}" for index in range(NODE_GPUS)]
    for gpu_file in gpu_files:
        gpu_file.touch()
    GRES_CONF.write_text(
        MARKER + "\n" + "".join(f"NodeName={node} Name=gpu File={f}\n" for f in gpu_files)
    )
    daemons: dict[str, subprocess.Popen] = {}
    try:
        if not _munge_answers():
            daemons["munged"] = _start_munged(log_dir=log_dir)
            _wait_for(_munge_answers, timeout_s=startup_timeout_s, what="munged to answer")
        for daemon in ("slurmctld", "slurmd"):
            with (log_dir / f"{daemon}.out").open("w") as out:
                daemons[daemon] = subprocess.Popen(
                    [_which(daemon), "-D"], stdout=out, stderr=subprocess.STDOUT
                )
        cluster = SlurmCluster(node=node, state_dir=state_dir)
        _wait_for(
            lambda: _node_state(node) == "idle",
            timeout_s=startup_timeout_s,
            what=f"node {node} to be idle",
            details=cluster.daemon_logs,
        )
        yield cluster
    finally:
        if "slurmctld" in daemons and daemons["slurmctld"].poll() is None:
            subprocess.run(["scancel", f"--nodelist={node}"], capture_output=True, check=False)
        for name in ("slurmd", "slurmctld", "munged"):
            if name in daemons:
                _stop(daemons[name])
        SLURM_CONF.unlink(missing_ok=True)
        GRES_CONF.unlink(missing_ok=True)


def _slurm_conf(*, node: str, state_dir: Path) -> str:
    return f"""{MARKER}
ClusterName=glatest
SlurmctldHost={node}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state_dir / "ctld"}
SlurmdSpoolDir={state_dir / "spool"}
SlurmctldPidFile={state_dir / "slurmctld.pid"}
SlurmdPidFile={state_dir / "slurmd.pid"}
SlurmctldLogFile={state_dir / "log" / "slurmctld.log"}
SlurmdLogFile={state_dir / "log" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MinJobAge=3600
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
GresTypes=gpu
NodeName={node} CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} Gres=gpu:{NODE_GPUS} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def _start_munged(*, log_dir: Path) -> subprocess.Popen:
    MUNGE_SOCKET_DIR.mkdir(mode=0o755, exist_ok=True)
    shutil.chown(MUNGE_SOCKET_DIR, user="munge", group="munge")
    with (log_dir / "munged.out").open("w") as out:
        return subprocess.Popen(
            [_which("munged"), "--foreground"],
            user="munge",
            group="munge",
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _munge_answers() -> bool:
    cred = subprocess.run(["munge", "-n"], capture_output=True, check=False)
    if cred.returncode != 0:
        return False
    check = subprocess.run(["unmunge"], input=cred.stdout, capture_output=True, check=False)
    return check.returncode == 0


def _node_state(node: str) -> str:
    result = subprocess.run(
        ["sinfo", "--noheader", f"--nodes={node}", "--format=%T"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def _wait_for(predicate, *, timeout_s: float, what: str, details=lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}\n{details()}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
