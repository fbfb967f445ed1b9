#!/usr/bin/env bash
# Third-party deps of mlgym-runtimes and of `mlgym bench --executor ray` (idempotent).
set -eu
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi
python -c "import docker" 2>/dev/null || pip install -q "docker>=7.0"
python -c "import ray" 2>/dev/null || pip install -q "ray>=2.9"
