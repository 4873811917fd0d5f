#!/usr/bin/env bash
# docker-engine.sh up|down|env|status
#
# Gives the offline cluster scripts a Docker engine without taking over the machine's:
#   up      if an engine already answers (the user's DOCKER_HOST, or the default socket), use it
#           and change nothing. Otherwise start a PRIVATE dockerd (Debian's docker.io, installed
#           if missing) on its own socket under DATASTACK_RUN_DIR/docker, with its images under
#           DATASTACK_CACHE/docker so that built images survive between runs (the warm cache).
#           Prints the `export DOCKER_HOST=...` line to eval (nothing when the user's engine is used).
#   down    stop the private dockerd by its PID (never any other), then undo what it changed on the
#           host: iptables/ip6tables rules, net.ipv4.ip_forward, the docker0/br-*/veth links and
#           leftover mounts under its exec-root. Does nothing when the user's engine was used.
#   env     print the export line of the running private engine (nothing for the user's engine).
#   status  say which engine answers; exit 1 when none does.
# Both `up` and `down` are idempotent. On hosts whose capability bounding set lacks
# CAP_SYS_RESOURCE, the engine's default OCI runtime is runc-drop-sys-resource (see that file).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR="$DATASTACK_RUN_DIR/docker"
SOCK="$STATE_DIR/docker.sock"
PIDFILE="$STATE_DIR/dockerd.pid"
EXEC_ROOT="$STATE_DIR/exec"
DATA_ROOT="$DATASTACK_CACHE/docker"
HOST_BEFORE="$STATE_DIR/host-before"
LOG_FILE="$STATE_DIR/dockerd.log"
PRIVATE_HOST="unix://$SOCK"

answers() { # answers [DOCKER_HOST]: does an engine answer there (default: the default socket)?
    if [[ -n ${1:-} ]]; then
        DOCKER_HOST=$1 timeout 20 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1
    else
        env -u DOCKER_HOST timeout 20 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1
    fi
}

# The engine the user already has: their DOCKER_HOST (unless it is ours), else the default socket.
user_engine() {
    if [[ -n ${DOCKER_HOST:-} && $DOCKER_HOST != "$PRIVATE_HOST" ]]; then
        answers "$DOCKER_HOST" && echo "$DOCKER_HOST"
    else
        answers && echo "default"
    fi
}

private_pid() { # the PID of our dockerd, if it is alive
    local pid
    [[ -f $PIDFILE ]] || return 1
    pid=$(<"$PIDFILE")
    [[ -n $pid && -d /proc/$pid && $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] || return 1
    echo "$pid"
}

lacks_cap_sys_resource() { # bit 24 of the capability bounding set is CAP_SYS_RESOURCE
    local bnd
    bnd=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
    (((0x$bnd >> 24 & 1) == 0))
}

other_dockerd_running() { # another engine on this host shares the iptables and the links
    local pid mine
    mine=$(private_pid || true)
    for pid in $(pgrep -x dockerd || true); do
        [[ $pid == "$mine" ]] || return 0
    done
    return 1
}

cmd_up() {
    local existing
    if existing=$(user_engine); then
        log "using the Docker engine that already answers ($existing); nothing started"
        return 0
    fi
    if private_pid >/dev/null && answers "$PRIVATE_HOST"; then
        log "private Docker engine already running (pid $(private_pid))"
        echo "export DOCKER_HOST=$PRIVATE_HOST"
        return 0
    fi
    need_root "starting a private Docker engine"
    apt_ensure docker.io jq iptables
    mkdir -p "$STATE_DIR" "$DATA_ROOT"
    if private_pid >/dev/null; then
        log "private dockerd (pid $(private_pid)) does not answer yet; waiting for it"
    else
        # A snapshot left by a run that never reached `down` is older, hence closer to the
        # pristine host: keep it.
        if [[ ! -d $HOST_BEFORE ]]; then
            "$OFFLINE_DIR/host-state.sh" save "$HOST_BEFORE.tmp" all
            ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' >"$HOST_BEFORE.tmp/links"
            mv "$HOST_BEFORE.tmp" "$HOST_BEFORE"
        fi
        local args=(
            -H "$PRIVATE_HOST" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE"
            --log-level warn
        )
        if lacks_cap_sys_resource; then
            install -m 0755 "$OFFLINE_DIR/runc-drop-sys-resource" "$STATE_DIR/runc-drop-sys-resource"
            args+=(--add-runtime "datastack-runc=$STATE_DIR/runc-drop-sys-resource"
                --default-runtime datastack-runc)
            log "capability bounding set lacks CAP_SYS_RESOURCE: default runtime is runc-drop-sys-resource"
        fi
        log "starting a private dockerd at $PRIVATE_HOST (images in $DATA_ROOT)"
        # setsid: the engine outlives this script and ignores the caller's terminal signals;
        # it is stopped by `down`, by the PID it writes.
        setsid dockerd "${args[@]}" </dev/null >>"$LOG_FILE" 2>&1 &
    fi
    local i
    for ((i = 0; i < 120; i++)); do
        if answers "$PRIVATE_HOST"; then
            log "private Docker engine ready (pid $(private_pid))"
            echo "export DOCKER_HOST=$PRIVATE_HOST"
            return 0
        fi
        sleep 0.5
    done
    tail -n 30 "$LOG_FILE" >&2 || true
    die "the private dockerd did not answer within 60 s (log: $LOG_FILE)"
}

stop_private_dockerd() {
    local pid i
    pid=$(private_pid) || return 0
    log "stopping the private dockerd (pid $pid); it stops its containers first"
    kill -TERM "$pid"
    for ((i = 0; i < 120; i++)); do
        [[ -d /proc/$pid ]] || return 0
        sleep 0.5
    done
    log "dockerd (pid $pid) still running after 60 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# containerd shims of our engine name our exec-root on their command line; after a clean stop
# there are none, after a SIGKILL they are orphans that still hold container processes.
kill_orphan_shims() {
    local pid
    for pid in $(pgrep -f "containerd-shim.*$EXEC_ROOT" || true); do
        log "killing orphaned containerd shim $pid"
        kill -KILL "$pid" 2>/dev/null || true
    done
}

unmount_leftovers() { # network namespaces (nsfs) and overlays left under our roots
    local mnt
    awk -v a="$EXEC_ROOT" -v b="$DATA_ROOT" 'index($2, a) == 1 || index($2, b) == 1 { print $2 }' \
        /proc/self/mounts | sort -r | while read -r mnt; do
        if umount -l "$mnt" 2>/dev/null; then log "unmounted $mnt"; fi
    done
}

remove_links() { # the links dockerd created: those that were not there before it started
    local link
    [[ -f $HOST_BEFORE/links ]] || return 0
    for link in $(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
        [[ $link == docker0 || $link == br-* || $link == veth* ]] || continue
        grep -qx "$link" "$HOST_BEFORE/links" && continue
        if ip link delete "$link" 2>/dev/null; then log "deleted link $link"; fi
    done
}

cmd_down() {
    if [[ ! -d $STATE_DIR ]]; then
        log "no private Docker engine was started; nothing to stop"
        return 0
    fi
    need_root "stopping the private Docker engine"
    stop_private_dockerd
    kill_orphan_shims
    unmount_leftovers
    local what=all
    if other_dockerd_running; then
        # Its rules and links live in the same tables: restoring the snapshot would break it.
        log "another dockerd runs on this host: leaving iptables and links alone"
        what=sysctl
    else
        remove_links
    fi
    if [[ -d $HOST_BEFORE ]]; then
        "$OFFLINE_DIR/host-state.sh" restore "$HOST_BEFORE" "$what"
        log "restored the host settings saved before dockerd started ($what)"
    fi
    mkdir -p "$DATASTACK_CACHE/logs"
    [[ ! -f $LOG_FILE ]] || mv "$LOG_FILE" "$DATASTACK_CACHE/logs/dockerd-last.log"
    rm -rf "$STATE_DIR"
    rmdir --ignore-fail-on-non-empty "$DATASTACK_RUN_DIR"
    log "private Docker engine stopped; host restored"
}

cmd_env() {
    if private_pid >/dev/null && answers "$PRIVATE_HOST"; then
        echo "export DOCKER_HOST=$PRIVATE_HOST"
    elif ! user_engine >/dev/null; then
        die "no Docker engine answers: run $0 up"
    fi
}

cmd_status() {
    local existing
    if private_pid >/dev/null && answers "$PRIVATE_HOST"; then
        echo "private engine running (pid $(private_pid)) at $PRIVATE_HOST, images in $DATA_ROOT"
    elif existing=$(user_engine); then
        echo "using the existing engine ($existing)"
    else
        echo "no Docker engine answers"
        return 1
    fi
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    env) cmd_env ;;
    status) cmd_status ;;
    *) echo "usage: $0 up|down|env|status" >&2; exit 2 ;;
esac
