#!/usr/bin/env bash
# base-images.sh [debian|python|all]
#
# Builds the base images that the offline path needs, without a container registry:
#   datastack/debian:bookworm        `debootstrap --variant=minbase` of Debian bookworm, imported
#                                    with `docker import` (apt works inside: the image carries the
#                                    Debian sources of images/base/debian/);
#   datastack/python:3.11-bookworm   Debian's python3 (3.11) + python3-venv + ca-certificates on
#                                    it (images/base/python/Dockerfile), the BASE_IMAGE our service
#                                    Dockerfiles take instead of python:3.11-slim-bookworm.
# Each image carries a label with the hash of its recipe; an image whose label matches is reused,
# so a warm run costs a `docker image inspect`. DEBIAN_MIRROR overrides the Debian mirror.
# Needs root (debootstrap) and a Docker engine (docker-engine.sh up).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEBIAN_IMAGE="${DATASTACK_DEBIAN_IMAGE:-datastack/debian:$DEBIAN_SUITE}"
PYTHON_IMAGE="${DATASTACK_PYTHON_IMAGE:-datastack/python:3.11-$DEBIAN_SUITE}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
LABEL=io.datastack.inputs

build_debian() {
    local hash
    hash=$(inputs_hash "$DEBIAN_SUITE $DEBIAN_MIRROR" "$IMAGES_DIR/base/debian")
    if [[ $(image_label "$DEBIAN_IMAGE" "$LABEL") == "$hash" ]]; then
        log "$DEBIAN_IMAGE is up to date"
        return 0
    fi
    need_root "debootstrap"
    apt_ensure debootstrap debian-archive-keyring
    local root
    root=$(mktemp -d "${TMPDIR:-/tmp}/datastack-rootfs.XXXXXX")
    # shellcheck disable=SC2064 # expand $root now: it is local to this function
    trap "rm -rf '$root'" EXIT
    log "debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR"
    debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR" >"$root.log" 2>&1 \
        || { tail -n 20 "$root.log" >&2; die "debootstrap failed (log: $root.log)"; }
    rm -f "$root.log"
    # Sources, apt and dpkg settings of the image; no host file leaks in.
    rm -f "$root/etc/apt/sources.list"
    sed "s#http://deb.debian.org/debian\$#$DEBIAN_MIRROR#" "$IMAGES_DIR/base/debian/debian.sources" \
        >"$root/etc/apt/sources.list.d/debian.sources"
    install -m 0644 "$IMAGES_DIR/base/debian/apt-slim.conf" "$root/etc/apt/apt.conf.d/90datastack-slim"
    install -m 0644 "$IMAGES_DIR/base/debian/dpkg-nodoc" "$root/etc/dpkg/dpkg.cfg.d/90datastack-nodoc"
    # What dpkg-nodoc keeps out of later installs, removed from debootstrap's own too.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
        "$root"/var/log/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/tmp/*
    find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    # A container's hostname and resolver are the engine's to set.
    : >"$root/etc/hostname"
    rm -f "$root/etc/resolv.conf"
    local old
    old=$(image_id "$DEBIAN_IMAGE")
    tar --numeric-owner -C "$root" -c . | docker import \
        --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change "ENV LANG=C.UTF-8" \
        --change 'CMD ["bash"]' \
        --change "LABEL $LABEL=$hash" \
        - "$DEBIAN_IMAGE" >/dev/null
    rm -rf "$root"
    trap - EXIT
    remove_if_dangling "$old"
    log "built $DEBIAN_IMAGE"
}

build_python() {
    local hash
    hash=$(inputs_hash "$(image_label "$DEBIAN_IMAGE" "$LABEL")" "$IMAGES_DIR/base/python")
    if [[ $(image_label "$PYTHON_IMAGE" "$LABEL") == "$hash" ]]; then
        log "$PYTHON_IMAGE is up to date"
        return 0
    fi
    local old
    old=$(image_id "$PYTHON_IMAGE")
    # --network host: apt inside the build reaches the Debian mirror the way the host does.
    docker build --force-rm --network host --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --label "$LABEL=$hash" \
        -t "$PYTHON_IMAGE" "$IMAGES_DIR/base/python" >&2
    remove_if_dangling "$old"
    log "built $PYTHON_IMAGE"
}

case ${1:-all} in
    debian) build_debian ;;
    python | all) build_debian; build_python ;;
    *) echo "usage: $0 [debian|python|all]" >&2; exit 2 ;;
esac
