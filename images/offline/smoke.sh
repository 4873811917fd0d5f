#!/usr/bin/env bash
# smoke.sh [--keep]
#
# Proves the offline cluster path end to end (until the pytest cluster tests take over):
#   - records the host (sysctls, iptables, ip6tables, links, mounts, Docker processes);
#   - `cluster.sh up` twice with a `down` in between (the second is the warm path) and checks
#     in the cluster: node Ready, CoreDNS Ready, a non-root image built on our Python base and
#     loaded with `kind load docker-image` runs as a Deployment behind a Service, a client pod
#     reaches it by DNS name, `kubectl logs` shows its JSON lines, a PVC is bound through
#     local-path-provisioner and written by a non-root pod (fsGroup), and a namespace enforcing
#     Pod Security "restricted" refuses a privileged pod, and (with kube-router in the node) a
#     NetworkPolicy lets only the labelled one of two client pods reach the Service;
#   - `cluster.sh down` and checks that nothing is left: no node container, no dockerd it
#     started, and sysctls, iptables, ip_forward, links and mounts exactly as before.
# Timings per step go to stderr and to $DATASTACK_TIMINGS (default: a file it names at the end).
# --keep leaves the second cluster running (for poking at it; run `cluster.sh down` after).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME=datastack-smoke
SMOKE_DIR="$OFFLINE_DIR/smoke"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datastack-smoke.XXXXXX")
export DATASTACK_TIMINGS="${DATASTACK_TIMINGS:-$WORK/timings.tsv}"
KEEP=${1:-}

fail() { log "SMOKE FAILED: $*"; exit 1; }

# Host facts that must come back unchanged. Volatile counters are left out of the sysctl list.
snapshot() {
    local dir=$1
    "$OFFLINE_DIR/host-state.sh" save "$dir" all
    sysctl -a 2>/dev/null | grep -Ev '^(fs\.(dentry|inode|file-nr|quota)|kernel\.(random|ns_last_pid|pty\.nr|sched_domain)|net\.netfilter\.nf_conntrack_count|vm\.stat)' \
        | grep -Ev '^net\.ipv(4|6)\.(conf|neigh)\.(veth|br-|docker0)' >"$dir/sysctl-all"
    ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort >"$dir/links"
    awk '{ print $2 }' /proc/self/mounts | sort >"$dir/mounts"
    { pgrep -a -x dockerd || true; pgrep -a -f containerd-shim || true; } | awk '{ print $1 }' | sort >"$dir/pids"
}

kubectl() { "$DATASTACK_CACHE/bin/kubernetes-$KUBERNETES_VERSION/kubectl" "$@"; }

kind_config() {
    cat >"$WORK/kind-config.yaml" <<'EOF'
# The smoke cluster: one control-plane node with kind's defaults (the node image needs no
# disableDefaultCNI: its default-cni.yaml is a placeholder beside a static bridge conflist).
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
EOF
}

build_smoke_image() {
    local old
    old=$(image_id datastack/smoke:latest)
    docker build -t datastack/smoke:latest \
        --build-arg "BASE_IMAGE=${DATASTACK_PYTHON_IMAGE:-datastack/python:3.11-$DEBIAN_SUITE}" \
        "$SMOKE_DIR" >/dev/null
    remove_if_dangling "$old"
}

check_workloads() {
    kubectl wait --for=condition=Ready node --all --timeout=60s
    kubectl -n kube-system wait --for=condition=Ready pod -l k8s-app=kube-dns --timeout=120s
    timed smoke-image build_smoke_image
    timed kind-load "$DATASTACK_CACHE/bin/kind-$KIND_VERSION/kind" load docker-image \
        --name "$NAME" datastack/smoke:latest
    kubectl apply -f "$SMOKE_DIR/manifests.yaml"
    timed deployment-ready kubectl -n smoke rollout status deployment/hello --timeout=120s
    timed client-done kubectl -n smoke wait --for=jsonpath='{.status.phase}'=Succeeded pod/client --timeout=120s
    kubectl -n smoke logs pod/client | tee "$WORK/client.log"
    grep -q '"event": "fetched", "body": {"hello": "datastack", "uid": 10001}' "$WORK/client.log" \
        || fail "the client did not reach the Service by DNS name"
    # Logs go to a file first: `kubectl logs | grep -q` fails under pipefail when grep stops early.
    kubectl -n smoke logs deploy/hello >"$WORK/hello.log"
    grep -q '"uid": 10001, "event": "serving"' "$WORK/hello.log" || fail "kubectl logs deploy/hello lacks the JSON line"
    timed pvc-written kubectl -n smoke wait --for=condition=Ready pod/writer --timeout=120s
    [[ $(kubectl -n smoke get pvc data -o jsonpath='{.status.phase}') == Bound ]] || fail "PVC not Bound"
    [[ $(kubectl -n smoke get pvc data -o jsonpath='{.spec.storageClassName}') == standard ]] \
        || fail "PVC not provisioned by the default StorageClass"
    local i
    for ((i = 0; i < 30; i++)); do
        kubectl -n smoke logs pod/writer >"$WORK/writer.log"
        grep -q '"event": "wrote"' "$WORK/writer.log" && break
        sleep 1
    done
    grep '"content": "persisted by uid 10001"' "$WORK/writer.log" || fail "the non-root pod could not write its PVC"
    if kubectl apply -f "$SMOKE_DIR/privileged-pod.yaml" 2>"$WORK/privileged.err"; then
        fail "a privileged pod was admitted into a restricted namespace"
    fi
    grep -q 'violates PodSecurity "restricted' "$WORK/privileged.err" || fail "unexpected refusal: $(cat "$WORK/privileged.err")"
    log "privileged pod refused: $(head -c 160 "$WORK/privileged.err")"
    if kubectl -n kube-system get daemonset kube-router >/dev/null 2>&1; then
        check_network_policy
    else
        log "no NetworkPolicy controller in this node image (DATASTACK_NETPOL=none): policy check skipped"
    fi
    kubectl get nodes -o wide
    kubectl get pods -A
}

# Only a labelled client may reach "hello" once the policy is in place: the other one is refused.
check_network_policy() {
    kubectl -n kube-system rollout status daemonset/kube-router --timeout=120s
    kubectl apply -f "$SMOKE_DIR/netpol.yaml"
    timed netpol-granted kubectl -n smoke wait --for=jsonpath='{.status.phase}'=Succeeded pod/client-granted --timeout=120s
    timed netpol-denied kubectl -n smoke wait --for=jsonpath='{.status.phase}'=Failed pod/client-denied --timeout=120s
    kubectl -n smoke logs pod/client-denied | tee "$WORK/denied.log"
    grep -q '"event": "fetched"' "$WORK/denied.log" && fail "the NetworkPolicy let an unlabelled pod through"
    [[ $(grep -c '"event": "retry"' "$WORK/denied.log") == 3 ]] || fail "the denied client failed for another reason"
    # kube-router rejects (connection refused) rather than drops; the same unlabelled client got an
    # answer before the policy existed (check_workloads), so the policy is what refuses it now.
    log "NetworkPolicy enforced: the labelled client got an answer, the unlabelled one was refused 3 times"
}

check_host_restored() {
    snapshot "$WORK/after"
    local rc=0 f
    for f in sysctl.conf iptables.rules ip6tables.rules sysctl-all links mounts pids; do
        diff -u --label "before/$f" --label "after/$f" "$WORK/before/$f" "$WORK/after/$f" || rc=1
    done
    ((rc == 0)) || fail "the host is not as it was before (diff above)"
    if grep -q "^$NAME-" <<<"$(docker ps -a --format '{{.Names}}' 2>/dev/null || true)"; then
        fail "a node container of $NAME is left"
    fi
    log "host restored: sysctls, iptables, ip6tables, links, mounts and Docker processes as before"
}

# A failed check must not leave a cluster (or an engine) behind.
trap 'rc=$?; if ((rc != 0)); then "$OFFLINE_DIR/cluster.sh" down --name "$NAME" || true; fi' EXIT
kind_config
snapshot "$WORK/before"
log "cold-or-warm run 1 (caches as they are)"
exports=$(timed cluster-up-1 "$OFFLINE_DIR/cluster.sh" up --name "$NAME" --config "$WORK/kind-config.yaml")
eval "$exports"
check_workloads
timed cluster-down-1 "$OFFLINE_DIR/cluster.sh" down --name "$NAME"
check_host_restored
log "warm run 2"
exports=$(timed cluster-up-2 "$OFFLINE_DIR/cluster.sh" up --name "$NAME" --config "$WORK/kind-config.yaml")
eval "$exports"
kubectl wait --for=condition=Ready node --all --timeout=60s
kubectl -n kube-system wait --for=condition=Ready pod -l k8s-app=kube-dns --timeout=120s
if [[ $KEEP == --keep ]]; then
    log "cluster $NAME kept running: $OFFLINE_DIR/cluster.sh down --name $NAME"
    exit 0
fi
timed cluster-down-2 "$OFFLINE_DIR/cluster.sh" down --name "$NAME"
check_host_restored
log "SMOKE PASSED; timings in $DATASTACK_TIMINGS:"
column -t "$DATASTACK_TIMINGS" >&2
