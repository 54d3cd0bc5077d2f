#!/bin/sh
# Writes the TLS fixtures of the callback tests (Tests/ServiceTests/Fixtures/tls): a test CA, and
# a certificate it signed for hooks.test (a name only) with its key. Test use only: the key is
# public. Valid for 100 years, so the tests do not expire.
set -eu
out=${1:-Tests/ServiceTests/Fixtures/tls}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
    -subj "/CN=segserve test CA" -keyout "$work/ca.key" -out "$out/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=hooks.test" \
    -keyout "$out/hooks.key" -out "$work/hooks.csr"
printf 'subjectAltName=DNS:hooks.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$work/ext"
openssl x509 -req -in "$work/hooks.csr" -CA "$out/ca.pem" -CAkey "$work/ca.key" -CAserial "$work/ca.srl" -CAcreateserial -days 36500 \
    -extfile "$work/ext" -out "$out/hooks.pem"
