#!/usr/bin/env bash
# compat/security/gen-certs.sh DIR — the certificates of the `security` suite, made fresh at
# test time with the openssl CLI (EC P-256 keys: quick to make, quick to handshake).
#
#   ca.pem ca.key                 the test CA (trusted by the brokers and the clients)
#   server.pem server.key         localhost / 127.0.0.1, signed by the CA (serverAuth)
#   client.pem client.key         CN=client, signed by the CA (clientAuth): the mTLS client
#   expired.pem expired.key       CN=expired, signed by the CA, validity ended a day ago
#   other-ca.pem other-ca.key     a CA nobody trusts
#   intruder.pem intruder.key     CN=intruder, signed by other-ca (an untrusted client cert)
#   truststore.p12                ca.pem as a PKCS12 truststore (password "changeit") for Java,
#                                 when keytool is on the PATH
#
# Invariant: every file is made anew in DIR (nothing is reused between runs), and the whole
# thing takes well under a second.
set -euo pipefail
D="$1"
mkdir -p "$D"
cd "$D"
# PKCS#8 keys ("BEGIN PRIVATE KEY"), the form every TLS stack reads.
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
ca() { # name subject
    newkey "$1"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name subject ca days ext-lines...
    local name="$1" subj="$2" ca="$3" days="$4"
    shift 4
    newkey "$name"
    openssl req -new -key "$name.key" -out "$name.csr" -subj "$subj"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "$@" >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
        -days "$days" -extfile "$name.ext" -out "$name.pem" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
}
ca ca "/CN=runnel-compat-ca"
ca other-ca "/CN=runnel-compat-untrusted-ca"
leaf server "/CN=localhost" ca 2 "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1"
leaf client "/CN=client" ca 2 "extendedKeyUsage=clientAuth"
# -days -1: notAfter is a day before notBefore (now), so the certificate has expired.
leaf expired "/CN=expired" ca -1 "extendedKeyUsage=clientAuth"
leaf intruder "/CN=intruder" other-ca 2 "extendedKeyUsage=clientAuth"
if command -v keytool >/dev/null; then
    rm -f truststore.p12
    keytool -importcert -noprompt -alias ca -file ca.pem -keystore truststore.p12 \
        -storetype PKCS12 -storepass changeit >/dev/null 2>&1
fi
rm -f ./*.srl
chmod 600 ./*.key
