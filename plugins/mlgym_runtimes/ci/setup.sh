#!/usr/bin/env bash
# What pip cannot install for mlgym-runtimes: the Docker engine and debootstrap (apt). Its Python
# dependencies (docker SDK; Ray for `mlgym bench --executor ray`) are in pyproject ([test] extra).
# Idempotent. A failure here only makes the docker tests skip (they say why), so it never stops CI.
set -u
say() { echo "[mlgym-runtimes setup] $*"; }
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap) \
            >/dev/null 2>&1 || say "warning: apt-get install docker.io debootstrap failed: docker tests will skip"
    else
        say "warning: not root or no apt-get: install docker.io and debootstrap by hand for the docker tests"
    fi
fi
exit 0
