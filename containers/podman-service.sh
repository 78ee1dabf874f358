#!/usr/bin/env bash
# Make a Docker-compatible container engine answer, and print how to reach it.
#
#   eval "$(containers/podman-service.sh)"     # sets DOCKER_HOST for this shell
#
# * If DOCKER_HOST (or /var/run/docker.sock) already answers the Docker API, print that and stop.
# * Otherwise install podman + runc if missing (apt-get), write a containers.conf that suits
#   containers-in-a-container hosts (no default ulimits, runc runtime), start
#   `podman system service` on a unix socket (if not already running), wait until it answers,
#   and print `export DOCKER_HOST=unix://<socket>`.
#
# Idempotent: a second run finds the service answering and only prints the export line.
# Only the export line goes to stdout; progress and errors go to stderr.
#
# Environment:
#   ENVGYM_PODMAN_DIR   where the socket, config, pid file and log live
#                       (default /run/envgym as root, else $XDG_RUNTIME_DIR/envgym or /tmp/envgym-$UID)
#   ENVGYM_FORCE_PODMAN=1  ignore a reachable Docker daemon and use podman anyway
set -euo pipefail

log() { echo "podman-service: $*" >&2; }

# Does the Docker API answer at this DOCKER_HOST-style address (unix:// or tcp://)?
answers() {
    python3 - "$1" <<'PY' >/dev/null 2>&1
import socket, sys
url = sys.argv[1]
try:
    if url.startswith("unix://"):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(3)
        s.connect(url[len("unix://"):])
    elif url.startswith("tcp://"):
        host, _, port = url[len("tcp://"):].rstrip("/").rpartition(":")
        s = socket.create_connection((host, int(port)), timeout=3)
    else:
        sys.exit(1)
    s.sendall(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
    reply = s.recv(64)
    sys.exit(0 if b" 200 " in reply else 1)
except OSError:
    sys.exit(1)
PY
}

if [ "${ENVGYM_FORCE_PODMAN:-0}" != "1" ]; then
    if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then
        echo "export DOCKER_HOST=$DOCKER_HOST"
        exit 0
    fi
    if [ -z "${DOCKER_HOST:-}" ] && [ -S /var/run/docker.sock ] && answers unix:///var/run/docker.sock; then
        echo "export DOCKER_HOST=unix:///var/run/docker.sock"
        exit 0
    fi
fi

if [ "$(id -u)" = 0 ]; then
    default_dir=/run/envgym
    SUDO=""
else
    default_dir="${XDG_RUNTIME_DIR:-/tmp/envgym-$(id -u)}/envgym"
    SUDO="sudo"
fi
DIR="${ENVGYM_PODMAN_DIR:-$default_dir}"
SOCK="$DIR/podman.sock"
CONF="$DIR/containers.conf"
mkdir -p "$DIR"
# One starter at a time (parallel test workers run this concurrently).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$DIR/start.lock"
    flock 9
fi

if answers "unix://$SOCK"; then
    echo "export DOCKER_HOST=unix://$SOCK"
    exit 0
fi

if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
    log "installing podman and runc (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >&2
    $SUDO apt-get install -y -qq podman runc >&2
fi

cat >"$CONF" <<'CONF'
# Written by containers/podman-service.sh.
[containers]
# Hosts that are themselves containers often refuse raising ulimits; take the host's.
default_ulimits = []

[engine]
runtime = "runc"
CONF

# A stale socket from a dead service would make podman refuse to bind.
if [ -S "$SOCK" ]; then rm -f "$SOCK"; fi
log "starting podman system service on unix://$SOCK (log: $DIR/podman-service.log)"
# Run from $DIR: conmon drops bookkeeping files (e.g. "oom") into the service's working directory,
# which must not be the caller's checkout.
cd "$DIR"
CONTAINERS_CONF="$CONF" nohup setsid podman system service --time=0 "unix://$SOCK" \
    >"$DIR/podman-service.log" 2>&1 </dev/null 9>&- &
echo $! >"$DIR/podman-service.pid"

for _ in $(seq 1 300); do
    if answers "unix://$SOCK"; then
        echo "export DOCKER_HOST=unix://$SOCK"
        exit 0
    fi
    if ! kill -0 "$(cat "$DIR/podman-service.pid")" 2>/dev/null; then
        log "the podman service exited; its log follows"
        tail -n 30 "$DIR/podman-service.log" >&2 || true
        exit 1
    fi
    sleep 0.1
done
log "the podman service did not answer on unix://$SOCK within 30 s; its log follows"
tail -n 30 "$DIR/podman-service.log" >&2 || true
exit 1
