#!/usr/bin/env bash
# A development CA and an edge certificate for Envoy's HTTPS listener (make stack).
#   bash scripts/dev-ca.sh DIR           CA (once) + a server certificate for localhost/127.0.0.1/::1
#   bash scripts/dev-ca.sh DIR --rotate  a new server certificate from the same CA
# Writes DIR/ca.pem, DIR/ca.key, DIR/edge.pem (server + CA chain), DIR/edge.key. The new pair is
# written beside the old and renamed into place, so the control plane (which serves it to Envoy
# over SDS) never reads half a file. Not for production: the CA key sits unencrypted in DIR.
set -euo pipefail
DIR=${1:?usage: dev-ca.sh DIR [--rotate]}
ROTATE=${2:-}
DAYS=${GIRU_DEV_CERT_DAYS:-30}
mkdir -p "$DIR"
chmod 700 "$DIR"
cd "$DIR"
if [ ! -s ca.pem ] || [ ! -s ca.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/O=Giru development/CN=Giru dev CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  chmod 600 ca.key
fi
if [ -s edge.pem ] && [ -s edge.key ] && [ "$ROTATE" != "--rotate" ]; then
  exit 0
fi
tmp=$(mktemp -d .edge.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/O=Giru development/CN=localhost" -keyout "$tmp/edge.key" -out "$tmp/edge.csr" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth" >"$tmp/ext.cnf"
openssl x509 -req -in "$tmp/edge.csr" -CA ca.pem -CAkey ca.key -days "$DAYS" \
  -set_serial "0x$(openssl rand -hex 16)" -extfile "$tmp/ext.cnf" -out "$tmp/edge.crt" 2>/dev/null
cat "$tmp/edge.crt" ca.pem >"$tmp/edge.pem"
chmod 600 "$tmp/edge.key"
mv -f "$tmp/edge.key" edge.key
mv -f "$tmp/edge.pem" edge.pem
echo "dev-ca: $(openssl x509 -in edge.pem -noout -serial) in $DIR/edge.pem (CA: $DIR/ca.pem)" >&2
