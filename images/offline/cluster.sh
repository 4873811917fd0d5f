#!/usr/bin/env bash
# cluster.sh up|down|env|status [--name NAME] [--config KIND_CONFIG]
#
# The one entry point of the offline path to a real kind cluster (`make kind-up OFFLINE=1`, the
# pytest cluster fixture). Nothing is pulled from a registry:
#   up      1. a Docker engine: the user's, else a private dockerd (docker-engine.sh);
#           2. the pinned Kubernetes/etcd/CoreDNS/... binaries, the Debian and Python base images
#              and the kind node image, each built once and reused (binaries.sh, base-images.sh,
#              node-image.sh);
#           3. the host sysctls the node will change are saved (host-state.sh);
#           4. `kind create cluster --image <node> --config <config> --wait`; kind itself applies
#              the node's default StorageClass (local-path-provisioner); `up` then waits for it and
#              for CoreDNS.
#           Prints `export` lines (KUBECONFIG, PATH with the built kubectl and kind and, when the
#           docker on PATH cannot use BuildKit, Debian's docker CLI; DOCKER_HOST when the engine is
#           private) to eval. Reuses a cluster of that name that is running.
#   down    `kind delete cluster`, the saved sysctls restored, and the private engine stopped if
#           this cluster's `up` started it. Safe to run twice.
#   env     the export lines again; status: is the cluster up.
# Defaults: --name datastack (CLUSTER_NAME), --config none (KIND_CONFIG); the kubeconfig is
# $KUBECONFIG when set, else a private file under DATASTACK_RUN_DIR (~/.kube/config is left alone).
# Step timings go to stderr and, with DATASTACK_TIMINGS=<file>, into that file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLUSTER_NAME="${CLUSTER_NAME:-datastack}"
KIND_CONFIG="${KIND_CONFIG:-}"
WAIT_TIMEOUT="${CLUSTER_WAIT_TIMEOUT:-300s}"

usage() { echo "usage: $0 up|down|env|status [--name NAME] [--config KIND_CONFIG]" >&2; exit 2; }

action=${1:-}
shift || usage
while (($#)); do
    case $1 in
        --name) CLUSTER_NAME=${2:?}; shift 2 ;;
        --config) KIND_CONFIG=${2:?}; shift 2 ;;
        *) usage ;;
    esac
done

STATE="$DATASTACK_RUN_DIR/cluster-$CLUSTER_NAME"
export KUBECONFIG="${KUBECONFIG:-$STATE/kubeconfig}"
K8S_BIN="$DATASTACK_CACHE/bin/kubernetes-$KUBERNETES_VERSION"
KIND_BIN="$DATASTACK_CACHE/bin/kind-$KIND_VERSION"

env_lines() {
    "$OFFLINE_DIR/docker-engine.sh" env
    echo "export PATH=$(docker_cli_dir)$K8S_BIN:$KIND_BIN:\$PATH"
    echo "export KUBECONFIG=$KUBECONFIG"
}

# Our image builds need BuildKit (`RUN --mount`). A docker CLI of 23 or later builds with BuildKit
# only through its buildx plugin and refuses DOCKER_BUILDKIT=1 without it; Debian's docker.io CLI
# (20.10, installed with the private engine) has BuildKit built in. When the docker on PATH lacks
# buildx and Debian's is there, put a directory holding a `docker` link to it first on PATH.
docker_cli_dir() {
    docker buildx version >/dev/null 2>&1 && return 0
    [[ -x /usr/bin/docker && $(command -v docker) != /usr/bin/docker ]] || return 0
    local dir="$DATASTACK_CACHE/bin/docker-cli"
    mkdir -p "$dir"
    ln -sfn /usr/bin/docker "$dir/docker"
    echo "$dir:"
}

# (Output captured before grep: `cmd | grep -q` can fail under pipefail when grep stops early.)
cluster_exists() {
    [[ -x $KIND_BIN/kind ]] && grep -qx "$CLUSTER_NAME" <<<"$("$KIND_BIN/kind" get clusters 2>/dev/null)"
}

cluster_running() {
    cluster_exists \
        && [[ $(docker inspect -f '{{.State.Running}}' "$CLUSTER_NAME-control-plane" 2>/dev/null) == true ]]
}

ensure_engine() {
    if ! "$OFFLINE_DIR/docker-engine.sh" status >/dev/null 2>&1; then
        mkdir -p "$STATE"
        touch "$STATE/engine-started"
    fi
    eval "$("$OFFLINE_DIR/docker-engine.sh" up)"
}

ensure_images() {
    "$OFFLINE_DIR/node-image.sh" build >/dev/null
    timed base-python "$OFFLINE_DIR/base-images.sh" python
}

create_cluster() {
    "$KIND_BIN/kind" create cluster --name "$CLUSTER_NAME" --image "$("$OFFLINE_DIR/node-image.sh" name)" \
        --kubeconfig "$KUBECONFIG" --wait "$WAIT_TIMEOUT" --config "$(node_config)" >&2
}

# The kind config given (or kind's default) plus what only our node image provides: kubeadm patches
# (/kind/patches, ../kind-node/files) that lower the control plane's CPU requests from 650m to 250m.
# On CI's two cores the scheduler counts requests, not use: the control plane, the whole stack and a
# Dagster run pod must fit. (Relative hostPaths in the config resolve from the working directory,
# not from the config's, so the copy behaves like the original.)
node_config() {
    local out="$STATE/kind-config.yaml"
    if [[ -n $KIND_CONFIG ]] && grep -q '^kubeadmConfigPatches:' "$KIND_CONFIG"; then
        die "$KIND_CONFIG has kubeadmConfigPatches: merge the offline node's (images/offline/cluster.sh node_config) into it"
    fi
    {
        if [[ -n $KIND_CONFIG ]]; then
            cat "$KIND_CONFIG"
        else
            printf 'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n'
        fi
        printf '%s\n' '# Added by images/offline/cluster.sh for its node image.' 'kubeadmConfigPatches:' \
            '  - |' '    kind: InitConfiguration' '    patches:' '      directory: /kind/patches'
    } >"$out"
    echo "$out"
}

# kind --wait covers the control-plane node; the tests also need DNS and the default StorageClass.
wait_addons() {
    local kubectl="$K8S_BIN/kubectl"
    # One node, one CoreDNS: kind's second replica only takes 100m of the node's CPU requests, which
    # on CI's two cores are the scarce resource (the whole stack and a Dagster run pod must fit).
    "$kubectl" -n kube-system scale deployment/coredns --replicas=1 >&2
    "$kubectl" -n kube-system rollout status deployment/coredns --timeout="$WAIT_TIMEOUT" >&2
    "$kubectl" -n local-path-storage rollout status deployment/local-path-provisioner \
        --timeout="$WAIT_TIMEOUT" >&2
    "$kubectl" get storageclass standard >/dev/null
}

cmd_up() {
    timed engine ensure_engine
    if cluster_running; then
        log "cluster $CLUSTER_NAME is already running; reusing it"
        env_lines
        return 0
    fi
    ensure_images
    mkdir -p "$STATE" "$(dirname "$KUBECONFIG")"
    # Keep the oldest snapshot: an earlier `up` without `down` saved the host as it really was.
    [[ -f $STATE/host-before/sysctl.conf ]] || "$OFFLINE_DIR/host-state.sh" save "$STATE/host-before" sysctl
    if cluster_exists; then
        log "cluster $CLUSTER_NAME exists but is not running: recreating it"
        "$KIND_BIN/kind" delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG" >&2
    fi
    timed kind-create create_cluster
    timed addons-ready wait_addons
    env_lines
}

cmd_down() {
    if "$OFFLINE_DIR/docker-engine.sh" status >/dev/null 2>&1; then
        eval "$("$OFFLINE_DIR/docker-engine.sh" env)"
        if cluster_exists; then
            timed kind-delete "$KIND_BIN/kind" delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG" >&2
        fi
    fi
    if [[ -f $STATE/host-before/sysctl.conf ]]; then
        if ! "$OFFLINE_DIR/host-state.sh" diff "$STATE/host-before" sysctl >/dev/null; then
            # Only root can write them back (the node, privileged, could write them).
            [[ $(id -u) == 0 ]] || die "the node changed host sysctls; restore them with: sudo $OFFLINE_DIR/host-state.sh restore $STATE/host-before"
            "$OFFLINE_DIR/host-state.sh" restore "$STATE/host-before" sysctl
        fi
        log "host sysctls are as before the cluster started"
    fi
    if [[ -f $STATE/engine-started ]]; then
        timed engine-down "$OFFLINE_DIR/docker-engine.sh" down
    fi
    rm -rf "$STATE"
    [[ ! -d $DATASTACK_RUN_DIR ]] || rmdir --ignore-fail-on-non-empty "$DATASTACK_RUN_DIR"
}

case $action in
    up) cmd_up ;;
    down) cmd_down ;;
    env) env_lines ;;
    status)
        if "$OFFLINE_DIR/docker-engine.sh" status >/dev/null 2>&1 && eval "$("$OFFLINE_DIR/docker-engine.sh" env)" \
            && cluster_running; then
            echo "cluster $CLUSTER_NAME is running (KUBECONFIG=$KUBECONFIG)"
        else
            echo "cluster $CLUSTER_NAME is not running"
            exit 1
        fi
        ;;
    *) usage ;;
esac
