#!/usr/bin/env bash
# Build the registry-free base image `envgym/base-debian:bookworm` (Debian bookworm minbase with
# python3, python3-venv and ca-certificates) with debootstrap, and import it into the engine.
#
#   containers/bootstrap-base.sh            # no-op when the image is already there
#   containers/bootstrap-base.sh --force    # rebuild
#
# Hosts that can pull from a registry do not need this: set ENVGYM_BASE_IMAGE=python:3.11-slim
# (docker.io/library/python:3.11-slim under podman) and the recipes build FROM it instead.
#
# The engine is reached with the `podman` CLI when present, else the `docker` CLI (DOCKER_HOST).
# The rootfs tarball is kept in $ENVGYM_CACHE_DIR (default ~/.cache/envgym) so CI can cache it and a
# later import skips debootstrap (~90 s).
#
# Environment: ENVGYM_BASE_TAG (default envgym/base-debian:bookworm), ENVGYM_DEBIAN_MIRROR,
#              ENVGYM_CACHE_DIR.
set -euo pipefail

log() { echo "bootstrap-base: $*" >&2; }

TAG="${ENVGYM_BASE_TAG:-envgym/base-debian:bookworm}"
MIRROR="${ENVGYM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${ENVGYM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/envgym}"
TARBALL="$CACHE/base-debian-bookworm.tar"
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
if command -v podman >/dev/null 2>&1; then ENGINE=podman
elif command -v docker >/dev/null 2>&1; then ENGINE=docker
else
    log "neither podman nor docker is installed; run containers/podman-service.sh first"
    exit 1
fi

mkdir -p "$CACHE"
# One bootstrap at a time (parallel test workers run this concurrently).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/bootstrap.lock"
    flock 9
fi

if [ "$FORCE" = 0 ] && $ENGINE image inspect "$TAG" >/dev/null 2>&1; then
    log "$TAG is present"
    exit 0
fi
if [ "$FORCE" = 1 ] || [ ! -s "$TARBALL" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq >&2
        $SUDO apt-get install -y -qq debootstrap >&2
    fi
    ROOTFS="$(mktemp -d "${TMPDIR:-/tmp}/envgym-rootfs.XXXXXX")"
    trap '$SUDO rm -rf "$ROOTFS"' EXIT
    log "debootstrap bookworm into $ROOTFS (takes about 90 s)"
    $SUDO debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$ROOTFS" "$MIRROR" >&2
    # Slim it: package caches, apt lists (images run `apt-get update` when they need apt), docs.
    $SUDO rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
        "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
        "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old
    $SUDO find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} +
    $SUDO tar -C "$ROOTFS" -cf "$TARBALL.partial" .
    mv "$TARBALL.partial" "$TARBALL"
fi

log "importing $TARBALL as $TAG ($ENGINE)"
$ENGINE import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$TAG" <"$TARBALL" >&2
log "done: $TAG"
