#!/bin/sh
# Install a single-node SLURM (slurmctld, slurmd, client tools) and munge for tests/test_cluster.py.
# Idempotent: exits at once when everything is already in place. Debian/Ubuntu, run as root.
# The test writes its own /etc/slurm/slurm.conf and starts and stops the daemons itself;
# this script only installs packages and makes sure a munge key exists.
set -eu
PATH="$PATH:/usr/sbin:/sbin"

have_all() {
    for tool in slurmctld slurmd sbatch squeue scancel sinfo scontrol munged munge unmunge; do
        command -v "$tool" >/dev/null 2>&1 || return 1
    done
}

if [ "$(id -u)" -ne 0 ]; then
    echo "install-slurm.sh: run as root (apt-get and /etc/slurm need it)" >&2
    exit 1
fi

if ! have_all; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # A policy-rc.d that says 101 keeps the packages from starting daemons: the test starts its own.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile /etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0600 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
echo "install-slurm.sh: $(slurmd -V) and munge $(munged --version 2>&1 | head -n 1) are ready"
