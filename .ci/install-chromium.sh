#!/bin/sh
# Install Debian's Chromium for the report test (tests/test_workflow.py opens report.html in
# it, headless, through playwright). Idempotent; Debian/Ubuntu, run as root.
set -eu
if command -v chromium >/dev/null 2>&1; then
    echo "install-chromium.sh: $(chromium --version 2>/dev/null) is ready"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium.sh: run as root (apt-get needs it)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install-chromium.sh: $(chromium --version 2>/dev/null) is ready"
