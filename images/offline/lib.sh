# shellcheck shell=bash
# Shared helpers of the offline cluster scripts (sourced, never run): where the caches live, logging
# with step timings, the Go toolchain settings, and "install this Debian package if missing".
#
# Everything that is expensive to make (Go module and build caches, built binaries, the private
# Docker engine's images) lives under one directory, DATASTACK_CACHE, so CI caches a single path and
# a warm machine rebuilds nothing. Run-time state (sockets, PID files, saved host state) lives under
# DATASTACK_RUN_DIR, which is meant to vanish at reboot.

OFFLINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGES_DIR="$(dirname "$OFFLINE_DIR")"
REPO_ROOT="$(dirname "$IMAGES_DIR")"
export DATASTACK_CACHE="${DATASTACK_CACHE:-$HOME/.cache/datastack}"
export DATASTACK_RUN_DIR="${DATASTACK_RUN_DIR:-/run/datastack}"
# shellcheck source=versions.env
source "$OFFLINE_DIR/versions.env"

log() { printf '[offline] %s\n' "$*" >&2; }
die() { printf '[offline] error: %s\n' "$*" >&2; exit 1; }

# timed NAME CMD...: run CMD, then log (and append to $DATASTACK_TIMINGS, if set) how long it took.
# The timings file is how the smoke run and CI report cold/warm numbers per step. CMD runs as a
# plain command (not in an `||` list, where bash would switch errexit off inside functions): a
# failure ends the calling script right there, without a timing line.
timed() {
    local name=$1 start secs
    shift
    start=$(date +%s.%N)
    "$@"
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    log "step ${name}: ${secs}s"
    if [[ -n "${DATASTACK_TIMINGS:-}" ]]; then
        printf '%s\t%s\n' "$name" "$secs" >>"$DATASTACK_TIMINGS"
    fi
}

# need_root WHAT: the private engine, debootstrap and sysctls need root; say so instead of failing
# half-way through.
need_root() {
    [[ $(id -u) == 0 ]] || die "$1 needs root (run it with sudo)"
}

# apt_ensure PKG...: install the Debian packages that are missing (one apt-get update per call).
apt_ensure() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    need_root "installing ${missing[*]}"
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# go_env: the Go toolchain and caches used for every build here. GOTOOLCHAIN=local keeps Go from
# downloading another toolchain; the module and build caches sit in DATASTACK_CACHE.
go_env() {
    if ! command -v go >/dev/null; then
        [[ -x /usr/local/go/bin/go ]] || die "Go is required (https://go.dev/dl or /usr/local/go)"
        PATH="/usr/local/go/bin:$PATH"
    fi
    export GOMODCACHE="$DATASTACK_CACHE/go/mod"
    export GOCACHE="$DATASTACK_CACHE/go/build"
    export GOFLAGS="-modcacherw -buildvcs=false -trimpath"
    export GOTOOLCHAIN=local
    export CGO_ENABLED=0
}

# inputs_hash TEXT PATH...: a short hash of TEXT (versions, settings) and of the content of the
# recipe files under PATH..., used as an image label so that an image is rebuilt exactly when its
# recipe or its pinned versions change.
inputs_hash() {
    local text=$1
    shift
    {
        printf '%s\n' "$text"
        find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sed "s#  $REPO_ROOT/#  #"
    } | sha256sum | cut -c1-16
}

# image_label IMAGE LABEL: print a label of a local image, empty when the image is missing.
image_label() {
    docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# remove_if_dangling IMAGE_ID: after a rebuild moved a tag to a new image, drop the old one (only
# when no tag and no container uses it any more), so that the warm cache does not grow forever.
remove_if_dangling() {
    [[ -n ${1:-} ]] || return 0
    [[ $(docker image inspect --format '{{len .RepoTags}}' "$1" 2>/dev/null) == 0 ]] || return 0
    docker image rm "$1" >/dev/null 2>&1 || true
}

# image_id IMAGE: the ID of a local image, empty when missing.
image_id() {
    docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true
}
