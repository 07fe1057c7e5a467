#!/usr/bin/env bash
# cfitsio's funpack for tests/test_compression.py: installs Debian's libcfitsio-bin when missing.
# Idempotent; needs root to install.
set -euo pipefail
if command -v funpack >/dev/null; then
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "funpack.sh: funpack missing; run as root to install libcfitsio-bin" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends libcfitsio-bin >&2 || {
    apt-get update >&2
    apt-get install -y --no-install-recommends libcfitsio-bin >&2
}
command -v funpack >/dev/null || { echo "funpack.sh: libcfitsio-bin installed but no funpack" >&2; exit 1; }
