#!/usr/bin/env bash
# Third-party deps of mlgym-runtimes (Docker engine, debootstrap, docker SDK) and of
# `mlgym bench --executor ray` (Ray). Idempotent. A failure here only makes the docker/Ray
# tests skip (they say why), so it never stops CI.
set -u
PY=${PYTHON:-python3}
say() { echo "[mlgym-runtimes setup] $*"; }
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap) \
            >/dev/null 2>&1 || say "warning: apt-get install docker.io debootstrap failed: docker tests will skip"
    else
        say "warning: not root or no apt-get: install docker.io and debootstrap by hand for the docker tests"
    fi
fi
"$PY" -c "import docker" 2>/dev/null || "$PY" -m pip install -q "docker>=7.0" || say "warning: pip install docker failed"
"$PY" -c "import ray" 2>/dev/null || "$PY" -m pip install -q "ray>=2.9" || say "warning: pip install ray failed: Ray tests will skip"
exit 0
