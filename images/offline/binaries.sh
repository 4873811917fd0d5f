#!/usr/bin/env bash
# binaries.sh build [COMPONENT...] | dir COMPONENT | env | prune
#
# Builds the Go programs the offline cluster needs from the Go module proxy, at the versions of
# versions.env, into DATASTACK_CACHE/bin/<component>-<version>/ (built once; a warm run only checks
# a stamp). Components:
#   kubernetes   kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler
#                kube-proxy, through the wrapper module go/kubernetes (k8s.io/kubernetes cannot be
#                `go install`ed) with the version ldflags that `kubectl version` and /version report
#   etcd         go/etcd (etcd's root module has replace directives)
#   pause        go/pause (the pod sandbox program)
#   coredns      go/coredns: CoreDNS without its cloud and tracing plugins (a third of the build)
#   local-path-provisioner kind            `go install <module>@<version>`
#   metrics-server kube-router             same; only when asked for (not in `build`'s default)
# `dir C` prints a component's directory (building it if needed); `env` prints an export line that
# puts the built kubectl and kind first on PATH; `prune` deletes the Go module and build caches
# (5+ GB) and keeps the built binaries (about 0.7 GB): a later version bump then builds cold.
# The go.sum files of the wrapper modules are committed: the build then resolves nothing, and the
# checksums pin exactly the sources that were reviewed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN_ROOT="$DATASTACK_CACHE/bin"
DEFAULT_COMPONENTS=(kubernetes etcd pause coredns local-path-provisioner kind)
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-proxy kube-scheduler kubeadm kubectl kubelet)

version_of() {
    case $1 in
        kubernetes) echo "$KUBERNETES_VERSION" ;;
        etcd) echo "$ETCD_VERSION" ;;
        pause) echo "$PAUSE_VERSION" ;;
        coredns) echo "$COREDNS_VERSION" ;;
        local-path-provisioner) echo "$LOCAL_PATH_PROVISIONER_VERSION" ;;
        kind) echo "$KIND_VERSION" ;;
        metrics-server) echo "$METRICS_SERVER_VERSION" ;;
        kube-router) echo "$KUBE_ROUTER_VERSION" ;;
        *) die "unknown component: $1" ;;
    esac
}

dir_of() { echo "$BIN_ROOT/$1-$(version_of "$1")"; }

# What a component's build depends on besides its version: the wrapper module's files.
stamp_of() {
    local module="$OFFLINE_DIR/go/$1"
    if [[ -d $module ]]; then
        inputs_hash "$1 $(version_of "$1") $(go_version)" "$module"
    else
        inputs_hash "$1 $(version_of "$1") $(go_version)" /dev/null
    fi
}

go_version() { go env GOVERSION; }

k8s_ldflags() {
    local v=$KUBERNETES_VERSION minor date pkg flags="-s -w"
    minor=${v#v*.}
    minor=${minor%%.*}
    # The release's publication time, as the module proxy records it: reproducible build dates.
    date=$(cd "$OFFLINE_DIR/go/kubernetes" && go mod download -json "k8s.io/kubernetes@$v" | jq -r .Time)
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=${v:1:1} -X $pkg.gitMinor=$minor"
        flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
    done
    echo "$flags"
}

build_one() {
    local c=$1 dir tmp stamp
    dir=$(dir_of "$c")
    stamp=$(stamp_of "$c")
    if [[ -f $dir/.inputs && $(<"$dir/.inputs") == "$stamp" ]]; then
        return 0
    fi
    tmp="$dir.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    log "building $c $(version_of "$c") (cold: minutes; cached afterwards)"
    build_cmd "$c" "$tmp" >"$tmp.log" 2>&1 || { tail -n 30 "$tmp.log" >&2; die "building $c failed (log: $tmp.log)"; }
    rm -f "$tmp.log"
    echo "$stamp" >"$tmp/.inputs"
    rm -rf "$dir"
    mv "$tmp" "$dir"
}

# build_cmd COMPONENT DIR: build COMPONENT's programs into DIR.
build_cmd() {
    local c=$1 tmp=$2
    case $c in
        kubernetes)
            local pkgs=("${K8S_COMMANDS[@]/#/k8s.io/kubernetes/cmd/}")
            (cd "$OFFLINE_DIR/go/kubernetes" && go build -ldflags "$(k8s_ldflags)" -o "$tmp/" "${pkgs[@]}")
            ;;
        etcd | pause | coredns)
            (cd "$OFFLINE_DIR/go/$c" && go build -ldflags "-s -w" -o "$tmp/$c" .)
            ;;
        local-path-provisioner)
            GOBIN=$tmp go install -ldflags "-s -w -X main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION" \
                "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION"
            ;;
        kind)
            GOBIN=$tmp go install -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION"
            ;;
        metrics-server)
            GOBIN=$tmp go install -ldflags "-s -w" \
                "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
            ;;
        kube-router)
            GOBIN=$tmp go install -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
                "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
            ;;
    esac
}

cmd_build() {
    local c
    (($# > 0)) || set -- "${DEFAULT_COMPONENTS[@]}"
    go_env
    for c in "$@"; do
        timed "go-build-$c" build_one "$c"
    done
}

case ${1:-build} in
    build) shift || true; cmd_build "$@" ;;
    dir) [[ -n ${2:-} ]] || die "usage: $0 dir COMPONENT"; go_env; build_one "$2" >&2; dir_of "$2" ;;
    env) go_env; build_one kubernetes >&2; build_one kind >&2; echo "export PATH=$(dir_of kubernetes):$(dir_of kind):\$PATH" ;;
    prune) go_env; go clean -cache -modcache; log "pruned $GOCACHE and $GOMODCACHE" ;;
    *) echo "usage: $0 build [COMPONENT...] | dir COMPONENT | env | prune" >&2; exit 2 ;;
esac
