#!/usr/bin/env bash
# Start a Docker engine for the docker runtime's tests and build the mlgym agent image.
# Idempotent: a running engine and existing images are reused; the debootstrap base is cached
# in $MLGYM_DOCKER_CACHE. It never fails CI: when no engine can start it says why and exits 0,
# and the docker tests then skip with that reason (written to $MLGYM_DOCKER_STATUS).
set -u
CACHE=${MLGYM_DOCKER_CACHE:-/var/cache/mlgym-docker}
DATA=${MLGYM_DOCKER_DATA:-/var/lib/mlgym-docker}
EXEC=${MLGYM_DOCKER_EXEC:-/run/mlgym-docker}
PIDFILE=${MLGYM_DOCKER_PIDFILE:-/run/mlgym-dockerd.pid}
LOG=${MLGYM_DOCKER_LOG:-/var/log/mlgym-dockerd.log}
SOCK=${MLGYM_DOCKER_SOCK:-/var/run/docker.sock}
STATUS=${MLGYM_DOCKER_STATUS:-/tmp/mlgym-docker-status}
BASE=${MLGYM_DOCKER_BASE:-mlgym-base:bookworm}
IMAGE=${MLGYM_IMAGE:-mlgym-agent:latest}
MIRROR=${MLGYM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
HERE=$(cd "$(dirname "$0")/.." && pwd)
DOCKERFILE_DIR="$HERE/plugins/mlgym_runtimes/mlgym_runtimes/image"

say() { echo "[docker.sh] $*"; }
give_up() { say "NO DOCKER ENGINE: $*"; echo "unavailable: $*" > "$STATUS"; exit 0; }

export DOCKER_HOST="unix://$SOCK"
echo "starting" > "$STATUS"
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    say "installing docker.io and debootstrap"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap) >/dev/null 2>&1 \
        || give_up "apt-get install docker.io debootstrap failed"
fi
DOCKER=$(command -v docker) || give_up "no docker client"

if "$DOCKER" info >/dev/null 2>&1; then
    say "engine already running at $SOCK"
else
    mkdir -p "$DATA" "$EXEC" "$(dirname "$LOG")"
    if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then rm -f "$PIDFILE"; fi
    say "starting dockerd (data $DATA, log $LOG)"
    nohup dockerd --iptables=false --ip6tables=false --bridge=none --data-root "$DATA" --exec-root "$EXEC" \
        --pidfile "$PIDFILE" -H "unix://$SOCK" >"$LOG" 2>&1 </dev/null &
    for _ in $(seq 60); do
        "$DOCKER" info >/dev/null 2>&1 && break
        kill -0 $! 2>/dev/null || break
        sleep 0.5
    done
    "$DOCKER" info >/dev/null 2>&1 || give_up "dockerd did not start: $(tail -n 3 "$LOG" | tr '\n' ' ')"
    say "dockerd up (pid $(cat "$PIDFILE" 2>/dev/null))"
fi

if ! "$DOCKER" image inspect "$BASE" >/dev/null 2>&1; then
    mkdir -p "$CACHE"
    TAR="$CACHE/bookworm.tar"
    if [ ! -s "$TAR" ]; then
        ROOT="$CACHE/rootfs"
        rm -rf "$ROOT"
        say "debootstrap bookworm into $ROOT (cached as $TAR)"
        debootstrap --variant=minbase \
            --include=python3,python-is-python3,python3-pip,python3-venv,flake8,procps,ca-certificates \
            bookworm "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
            || give_up "debootstrap failed: $(tail -n 3 "$CACHE/debootstrap.log" | tr '\n' ' ')"
        rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
        tar -C "$ROOT" -cf "$TAR.part" . && mv "$TAR.part" "$TAR" || give_up "tar of the rootfs failed"
        rm -rf "$ROOT"
    fi
    say "docker import $TAR -> $BASE"
    "$DOCKER" import "$TAR" "$BASE" >/dev/null || give_up "docker import failed"
fi

HASH=$(cat "$DOCKERFILE_DIR"/* | sha256sum | cut -c1-16)
if [ "$("$DOCKER" image inspect -f '{{index .Config.Labels "mlgym.dockerfile"}}' "$IMAGE" 2>/dev/null)" != "$HASH" ]; then
    mkdir -p "$CACHE"; say "docker build $IMAGE from $BASE"
    "$DOCKER" build -q --network host --build-arg "BASE=$BASE" --label "mlgym.dockerfile=$HASH" \
        -t "$IMAGE" "$DOCKERFILE_DIR" >"$CACHE/build.log" 2>&1 || give_up "docker build of $IMAGE failed: $(tail -n 3 "$CACHE/build.log" | tr "\n" " ")"
fi
say "ready: engine at $SOCK, image $IMAGE"
echo "ready" > "$STATUS"
