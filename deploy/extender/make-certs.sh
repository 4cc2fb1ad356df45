#!/bin/sh
# The GPU-share extender's certificates without cert-manager (certificates.yaml does the same
# with it): a CA of its own, the extender's serving certificate (the Service's names) and
# kube-scheduler's client certificate (CN tidewise-scheduler, the extender's --client-name),
# ECDSA P-256, with openssl.
#
#   deploy/extender/make-certs.sh [FOLDER] [NAMESPACE]      (default ./tidewise-extender-certs,
#                                                            tidewise-system; DAYS=365)
#
# Then, as it prints: the extender's Secret, and the scheduler's three files on each
# control-plane node (docs/kubernetes.md). Rerun before DAYS pass; the extender reloads its
# certificate files when they change.
set -eu
folder=${1:-./tidewise-extender-certs}
namespace=${2:-tidewise-system}
days=${DAYS:-365}
service=tidewise-extender
umask 077
mkdir -p "$folder"
cd "$folder"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

key ca.key
openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=tidewise-extender-ca" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt

# sign NAME SUBJECT EXTENSIONS: NAME.crt for NAME.key, signed by the CA
sign() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
    -days "$days" -extfile "$1.ext" -out "$1.crt"
  rm -f "$1.csr" "$1.ext"
}

names="DNS:$service,DNS:$service.$namespace,DNS:$service.$namespace.svc"
names="$names,DNS:$service.$namespace.svc.cluster.local"
sign server "/CN=$service" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$names"
sign client "/CN=tidewise-scheduler" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
rm -f ca.srl
chmod 644 ca.crt server.crt client.crt

cat <<DONE
Made in $folder: ca.crt ca.key server.crt server.key client.crt client.key
The extender's Secret (keep ca.key offline):
  kubectl -n $namespace create secret generic $service-tls \\
    --from-file=tls.crt=$folder/server.crt --from-file=tls.key=$folder/server.key \\
    --from-file=ca.crt=$folder/ca.crt
kube-scheduler's files, on each control-plane node (deploy/scheduler/kube-scheduler-config.yaml):
  /etc/kubernetes/tidewise-extender/client.crt, client.key, ca.crt
DONE
