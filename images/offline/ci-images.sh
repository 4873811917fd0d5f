#!/usr/bin/env bash
# ci-images.sh [kafka|postgres|all|names]
#
# Builds the stand-in images of helmfile's `ci` environment (charts/ci-kafka, charts/ci-postgres),
# which replace the Strimzi and CloudNativePG operators where their images cannot be pulled:
#   datastack/ci-kafka:<kafka version>   Apache Kafka from the Maven Central jars `make infra-up`
#                                        fetches (services.infra.kafka.fetch_kafka, needs the venv of
#                                        `make setup`) on Debian's Java 17 (../ci/kafka)
#   datastack/ci-postgres:15             Debian's PostgreSQL 15 + the CloudNativePG stand-in (../ci/postgres)
# Both build on datastack/debian:bookworm (base-images.sh). Each carries the hash of its recipe (and,
# for Kafka, of the jars) as a label and is rebuilt only when that changes. `names` prints the image
# references, for `kind load`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEBIAN_IMAGE="${DATASTACK_DEBIAN_IMAGE:-datastack/debian:$DEBIAN_SUITE}"
POSTGRES_IMAGE=datastack/ci-postgres:15
LABEL=io.datastack.inputs
PYTHON="${DATASTACK_PYTHON:-$REPO_ROOT/.venv/bin/python}"

# "<version> <libs dir>" of the Kafka jars, fetched once into the user cache like `make infra-up` does.
kafka_jars() {
    [[ -x $PYTHON ]] || die "$PYTHON is missing: run \`make setup\` (the Kafka jars come from services.infra.kafka)"
    (cd "$REPO_ROOT" && "$PYTHON" -c 'from services.infra.kafka import KAFKA_VERSION, fetch_kafka; print(KAFKA_VERSION, fetch_kafka())')
}

# build IMAGE HASH CONTEXT: docker build unless IMAGE already carries HASH.
build() {
    local image=$1 hash=$2 ctx=$3 old
    if [[ $(image_label "$image" "$LABEL") == "$hash" ]]; then
        log "$image is up to date"
        return 0
    fi
    old=$(image_id "$image")
    docker build --force-rm --network host --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --label "$LABEL=$hash" -t "$image" "$ctx" >&2
    remove_if_dangling "$old"
    log "built $image"
}

build_kafka() {
    local version libs hash ctx
    read -r version libs <<<"$(kafka_jars)"
    hash=$(inputs_hash "$version $(image_label "$DEBIAN_IMAGE" "$LABEL")" "$IMAGES_DIR/ci/kafka" "$libs")
    ctx=$(mktemp -d)
    # shellcheck disable=SC2064 # expand $ctx now
    trap "rm -rf '$ctx'" RETURN
    cp -r "$IMAGES_DIR/ci/kafka/." "$ctx/"
    mkdir "$ctx/libs"
    cp "$libs"/*.jar "$ctx/libs/"
    build "datastack/ci-kafka:$version" "$hash" "$ctx"
}

build_postgres() {
    local hash
    hash=$(inputs_hash "$(image_label "$DEBIAN_IMAGE" "$LABEL")" "$IMAGES_DIR/ci/postgres")
    build "$POSTGRES_IMAGE" "$hash" "$IMAGES_DIR/ci/postgres"
}

names() {
    local version _libs
    read -r version _libs <<<"$(kafka_jars)"
    echo "datastack/ci-kafka:$version $POSTGRES_IMAGE"
}

case ${1:-all} in
    kafka) build_kafka ;;
    postgres) build_postgres ;;
    all) timed ci-image-kafka build_kafka; timed ci-image-postgres build_postgres ;;
    names) names ;;
    *) echo "usage: $0 [kafka|postgres|all|names]" >&2; exit 2 ;;
esac
