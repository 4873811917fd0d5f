#!/bin/sh
# with-ca.sh COMMAND...: run a build step that downloads packages (pip, uv) trusting the CA bundle
# the build was given, if any: `docker build --secret id=ca_bundle,src=<bundle>` (make images passes
# $SSL_CERT_FILE when it is set). Behind a TLS-intercepting proxy pip and uv need it; the secret is
# mounted for that step only and never lands in a layer.
set -eu
if [ -s /run/secrets/ca_bundle ]; then
    export SSL_CERT_FILE=/run/secrets/ca_bundle PIP_CERT=/run/secrets/ca_bundle
fi
exec "$@"
