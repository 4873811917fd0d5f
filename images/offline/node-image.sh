#!/usr/bin/env bash
# node-image.sh [build|name]
#
# Builds the kind node image of the offline path, datastack/kind-node:<kubernetes version>, and
# prints its name. No registry is involved:
#   1. the Go binaries (binaries.sh) and the Debian base (base-images.sh);
#   2. the images a kubeadm cluster runs, tagged exactly as `kubeadm config images list` prints
#      them (registry.k8s.io/kube-apiserver:v1.34.4, ..., etcd, coredns, pause) plus the
#      local-path-provisioner image and its helper; each wraps one static binary in a minimal
#      image (`docker import`), except kube-proxy which needs iptables (images/kind-node/kube-proxy);
#   3. the node itself from images/kind-node/Dockerfile (kind's base recipe on Debian packages);
#   4. the preload, as `kind build node-image` does it: run the node image with only containerd,
#      `ctr -n k8s.io images import --label=io.cri-containerd.pinned=pinned ...` every image of 2.,
#      stop containerd, `docker commit` with the node's entrypoint.
# The node image carries a label with the hash of all its inputs (recipes, versions, binaries);
# when it matches, nothing is rebuilt and `build` takes a second. `name` prints the image name only.
# DATASTACK_NETPOL=kube-router (default) adds NetworkPolicy enforcement: kube-router's policy
# controller as the node's default "CNI" manifest (images/kind-node/kube-router); =none leaves
# the bridge network without it (saves its build, about a minute cold).
# Needs a Docker engine (docker-engine.sh up) and root for the first build (debootstrap).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE_IMAGE="${DATASTACK_NODE_IMAGE:-datastack/kind-node:$KUBERNETES_VERSION}"
DEBIAN_IMAGE="${DATASTACK_DEBIAN_IMAGE:-datastack/debian:$DEBIAN_SUITE}"
LOCAL_PATH_PROVISIONER_IMAGE="docker.io/datastack/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION"
# The helper pod only runs `sh`, `mkdir` and `rm`: the Debian base has them.
LOCAL_PATH_HELPER_IMAGE="docker.io/$DEBIAN_IMAGE"
LABEL=io.datastack.inputs
NODE_DIR="$IMAGES_DIR/kind-node"
KIND_BASE_FILES="$DATASTACK_CACHE/go/mod/sigs.k8s.io/kind@$KIND_VERSION/images/base/files"

# image reference -> "binary [entrypoint]" of the minimal images (kube-proxy is built apart).
declare -A STATIC_IMAGES=(
    ["registry.k8s.io/kube-apiserver:$KUBERNETES_VERSION"]="kubernetes/kube-apiserver"
    ["registry.k8s.io/kube-controller-manager:$KUBERNETES_VERSION"]="kubernetes/kube-controller-manager"
    ["registry.k8s.io/kube-scheduler:$KUBERNETES_VERSION"]="kubernetes/kube-scheduler"
    ["registry.k8s.io/etcd:${ETCD_VERSION#v}-0"]="etcd/etcd"
    ["registry.k8s.io/coredns/coredns:$COREDNS_VERSION"]="coredns/coredns /coredns"
    ["registry.k8s.io/pause:$PAUSE_VERSION"]="pause/pause /pause"
    ["$LOCAL_PATH_PROVISIONER_IMAGE"]="local-path-provisioner/local-path-provisioner"
)
KUBE_PROXY_IMAGE="registry.k8s.io/kube-proxy:$KUBERNETES_VERSION"
NETPOL="${DATASTACK_NETPOL:-kube-router}"
KUBE_ROUTER_IMAGE="docker.io/datastack/kube-router:$KUBE_ROUTER_VERSION"
# The kind base recipe's containerd config names this sandbox image.
PAUSE_SANDBOX_IMAGE="registry.k8s.io/pause:$PAUSE_SANDBOX_TAG"

bin_dir() { "$OFFLINE_DIR/binaries.sh" dir "$1" 2>/dev/null; }

# Every image kubeadm will ask for must be one we build, under exactly that name.
check_kubeadm_images() {
    local wanted image
    wanted=$("$(bin_dir kubernetes)/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" 2>/dev/null)
    for image in $wanted; do
        [[ -n ${STATIC_IMAGES[$image]:-} || $image == "$KUBE_PROXY_IMAGE" ]] \
            || die "kubeadm $KUBERNETES_VERSION wants $image, which versions.env does not build"
    done
}

# import_static REF BINARY [ENTRYPOINT]: an image holding one static binary (and an empty /tmp).
import_static() {
    local ref=$1 binary=$2 entrypoint=${3:-} hash=$4 root
    root=$(mktemp -d)
    mkdir -p "$root/usr/local/bin" "$root/tmp"
    chmod 1777 "$root/tmp"
    cp "$(bin_dir "${binary%%/*}")/${binary#*/}" "$root/usr/local/bin/"
    [[ -z $entrypoint ]] || ln -s "usr/local/bin/${binary#*/}" "$root${entrypoint}"
    local changes=(--change "ENV PATH=/usr/local/bin" --change "LABEL $LABEL=$hash")
    [[ -z $entrypoint ]] || changes+=(--change "ENTRYPOINT [\"$entrypoint\"]")
    tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$root" -c . \
        | docker import "${changes[@]}" - "$ref" >/dev/null
    rm -rf "$root"
}

build_component_images() {
    local hash=$1 ref spec ctx
    for ref in "${!STATIC_IMAGES[@]}"; do
        [[ $(image_label "$ref" "$LABEL") == "$hash" ]] && continue
        read -r -a spec <<<"${STATIC_IMAGES[$ref]}"
        import_static "$ref" "${spec[0]}" "${spec[1]:-}" "$hash"
        log "built $ref"
    done
    docker tag "registry.k8s.io/pause:$PAUSE_VERSION" "$PAUSE_SANDBOX_IMAGE"
    build_iptables_image "$KUBE_PROXY_IMAGE" kube-proxy "$(bin_dir kubernetes)/kube-proxy" "$hash"
    if [[ $NETPOL == kube-router ]]; then
        build_iptables_image "$KUBE_ROUTER_IMAGE" kube-router "$(bin_dir kube-router)/kube-router" "$hash"
    fi
}

# build_iptables_image REF RECIPE BINARY HASH: kube-proxy and kube-router images (Debian + the
# iptables tools + iptables-wrapper + the binary).
build_iptables_image() {
    local ref=$1 recipe=$2 binary=$3 hash=$4 ctx
    [[ $(image_label "$ref" "$LABEL") != "$hash" ]] || return 0
    ctx=$(mktemp -d)
    cp "$NODE_DIR/$recipe/Dockerfile" "$NODE_DIR/kube-proxy/iptables-wrapper" "$binary" "$ctx/"
    docker build --force-rm --network host --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --label "$LABEL=$hash" \
        -t "$ref" "$ctx" >&2
    rm -rf "$ctx"
    log "built $ref"
}

# The node image's build context: kind's files, ours (placeholders filled in), the node binaries.
stage_context() {
    local ctx=$1 k8s
    k8s=$(bin_dir kubernetes)
    mkdir -p "$ctx/kind-files/usr/local/bin" "$ctx/kind-files/kind" "$ctx/kind-files/etc" "$ctx/bin"
    if [[ ! -d $KIND_BASE_FILES ]]; then # the module cache was pruned (binaries.sh prune)
        (go_env && cd "$OFFLINE_DIR/go/pause" && go mod download "sigs.k8s.io/kind@$KIND_VERSION")
    fi
    [[ -d $KIND_BASE_FILES ]] || die "kind's base files are missing from $KIND_BASE_FILES"
    # Same layout and modes as kind's Dockerfile COPY lines (scripts 0755, other files 0644).
    cp -r "$KIND_BASE_FILES/usr/local/bin/." "$ctx/kind-files/usr/local/bin/"
    cp -r "$KIND_BASE_FILES/kind/." "$ctx/kind-files/kind/"
    cp -r "$KIND_BASE_FILES/etc/." "$ctx/kind-files/etc/"
    find "$ctx/kind-files" -type d -exec chmod 0755 {} +
    find "$ctx/kind-files" -type f -exec chmod 0644 {} +
    chmod 0755 "$ctx"/kind-files/usr/local/bin/* "$ctx"/kind-files/kind/bin/*
    cp -r "$NODE_DIR/files" "$ctx/files"
    if [[ $NETPOL == kube-router ]]; then
        cp "$NODE_DIR/kube-router/kube-router.yaml" "$ctx/files/kind/manifests/default-cni.yaml"
    fi
    sed -i -e "s#@LOCAL_PATH_PROVISIONER_IMAGE@#$LOCAL_PATH_PROVISIONER_IMAGE#g" \
        -e "s#@LOCAL_PATH_HELPER_IMAGE@#$LOCAL_PATH_HELPER_IMAGE#g" \
        -e "s#@KUBE_ROUTER_IMAGE@#$KUBE_ROUTER_IMAGE#g" \
        "$ctx/files/kind/manifests/"*.yaml
    cp "$k8s/kubelet" "$k8s/kubeadm" "$k8s/kubectl" "$ctx/bin/"
    cp "$NODE_DIR/Dockerfile" "$ctx/Dockerfile"
}

# preload IMAGE_REFS...: import the images into the node's containerd and commit the node image.
preload_and_commit() {
    local base=$1 hash=$2
    shift 2
    local name="datastack-node-build-$$"
    docker rm -f "$name" >/dev/null 2>&1 || true
    # seccomp=unconfined as kind does; not privileged: containerd only fills its content store.
    docker run -d --name "$name" --entrypoint=sleep --security-opt seccomp=unconfined "$base" infinity >/dev/null
    # shellcheck disable=SC2064 # expand $name now
    trap "docker rm -f '$name' >/dev/null 2>&1 || true" EXIT
    docker exec "$name" bash -c 'nohup containerd >/dev/null 2>&1 &'
    docker exec "$name" bash -c 'for i in $(seq 1 50); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.2; done; ctr version >/dev/null'
    docker save "$@" | docker exec -i "$name" ctr --namespace=k8s.io images import \
        --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - >/dev/null
    docker exec "$name" ctr --namespace=k8s.io images list -q | grep -v '^sha256:' >&2
    # `sleep` (PID 1 here) reaps nothing: a stopped containerd stays as a zombie (state Z).
    docker exec "$name" bash -c 'pkill -x containerd; while ps -o stat= -C containerd | grep -qv Z; do sleep 0.2; done'
    docker commit \
        --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
        --change "LABEL $LABEL=$hash" \
        "$name" "$NODE_IMAGE" >/dev/null
    docker rm -f "$name" >/dev/null
    trap - EXIT
}

cmd_build() {
    local components=(kubernetes etcd pause coredns local-path-provisioner kind) c stamps="" hash
    case $NETPOL in
        kube-router) components+=(kube-router) ;;
        none) ;;
        *) die "DATASTACK_NETPOL must be kube-router or none, not $NETPOL" ;;
    esac
    "$OFFLINE_DIR/binaries.sh" build "${components[@]}"
    timed base-debian "$OFFLINE_DIR/base-images.sh" debian
    for c in "${components[@]}"; do
        stamps+="$c=$(<"$(bin_dir "$c")/.inputs") "
    done
    hash=$(inputs_hash "$(cat "$OFFLINE_DIR/versions.env") $(image_label "$DEBIAN_IMAGE" "$LABEL") $stamps $NETPOL" \
        "$NODE_DIR" "$OFFLINE_DIR/node-image.sh")
    if [[ $(image_label "$NODE_IMAGE" "$LABEL") == "$hash" ]]; then
        log "$NODE_IMAGE is up to date"
        echo "$NODE_IMAGE"
        return 0
    fi
    check_kubeadm_images
    local ref old_ids=()
    for ref in "${!STATIC_IMAGES[@]}" "$KUBE_PROXY_IMAGE" "$KUBE_ROUTER_IMAGE" "$NODE_IMAGE-base" "$NODE_IMAGE"; do
        old_ids+=("$(image_id "$ref")")
    done
    timed component-images build_component_images "$hash"
    local ctx
    ctx=$(mktemp -d)
    stage_context "$ctx"
    timed node-base-image docker build --force-rm --network host --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
        --build-arg "KUBERNETES_VERSION=$KUBERNETES_VERSION" -t "$NODE_IMAGE-base" "$ctx" >&2
    rm -rf "$ctx"
    local preload=("${!STATIC_IMAGES[@]}" "$KUBE_PROXY_IMAGE" "$PAUSE_SANDBOX_IMAGE" "$DEBIAN_IMAGE")
    [[ $NETPOL != kube-router ]] || preload+=("$KUBE_ROUTER_IMAGE")
    timed node-preload preload_and_commit "$NODE_IMAGE-base" "$hash" "${preload[@]}"
    for ref in "${old_ids[@]}"; do
        remove_if_dangling "$ref"
    done
    log "built $NODE_IMAGE"
    echo "$NODE_IMAGE"
}

case ${1:-build} in
    build) cmd_build ;;
    name) echo "$NODE_IMAGE" ;;
    *) echo "usage: $0 [build|name]" >&2; exit 2 ;;
esac
