#!/bin/sh
# Build SPM12 for GNU Octave (tests/test_preprocess_robex_spm.py) with the project's shared
# script ../shared/tools/spm12-octave.sh, next to the repository: it installs Debian's octave
# when missing (apt, as root) and builds SPM12's MEX files into a writable copy. Prints that
# folder on stdout; prints nothing (and a notice on stderr) when the shared script is absent.
# Idempotent: a built folder is reused. The folder: $GLA_SPM12_DEST or ~/.cache/spm12-octave.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
script="$repo/../shared/tools/spm12-octave.sh"
if [ ! -f "$script" ]; then
    echo "install-spm12.sh: $script is absent: no SPM12 on Octave here" >&2
    exit 0
fi
bash "$script" "${GLA_SPM12_DEST:-$HOME/.cache/spm12-octave}"
