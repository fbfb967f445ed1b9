#!/usr/bin/env bash
# Stop the dockerd started by .ci/docker.sh, by its pid; remove leftover mlgym containers first.
set -u
PIDFILE=${MLGYM_DOCKER_PIDFILE:-/run/mlgym-dockerd.pid}
SOCK=${MLGYM_DOCKER_SOCK:-/var/run/docker.sock}
export DOCKER_HOST="unix://$SOCK"
[ -f "$PIDFILE" ] || { echo "[stop-docker.sh] no dockerd pidfile"; exit 0; }
PID=$(cat "$PIDFILE")
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    LEFT=$(docker ps -aq --filter label=mlgym.owner_pid)
    [ -n "$LEFT" ] && { echo "[stop-docker.sh] removing leftover containers: $LEFT"; docker rm -f $LEFT >/dev/null; }
fi
kill -TERM "$PID" 2>/dev/null || { echo "[stop-docker.sh] dockerd $PID not running"; rm -f "$PIDFILE"; exit 0; }
for _ in $(seq 40); do kill -0 "$PID" 2>/dev/null || break; sleep 0.5; done
kill -0 "$PID" 2>/dev/null && kill -KILL "$PID"
rm -f "$PIDFILE"
echo "[stop-docker.sh] dockerd $PID stopped"
