#!/usr/bin/env bash
# test.sh -- install what the tests need, start the throwaway services, and
# run every test. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="$PATH:/usr/local/go/bin"
fi

scripts/test-env.sh

# Throwaway services live under one directory and are stopped on exit.
export GATEHOUSE_TEST_DIR="${GATEHOUSE_TEST_DIR:-$(mktemp -d /tmp/gatehouse-test.XXXXXX)}"
# Peers that drop privileges (Apache's www-data children, Squid's proxy
# user) read krb5.conf under it.
chmod 0755 "$GATEHOUSE_TEST_DIR"
cleanup() {
  if [[ -x scripts/kdc-down.sh && -d "$GATEHOUSE_TEST_DIR/kdc" ]]; then
    scripts/kdc-down.sh "$GATEHOUSE_TEST_DIR/kdc" --purge >/dev/null 2>&1 || true
  fi
  scripts/samba-dc.sh down "$GATEHOUSE_TEST_DIR/dc" --purge >/dev/null 2>&1 || true
}
trap cleanup EXIT
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A private KDC on the first free port pair from 18788 (another realm, a
# developer's or a benchmark's, may hold the default).
KDC_PORT="${KDC_PORT:-18788}"
while ! port_free "$KDC_PORT" || ! port_free $((KDC_PORT + 1)); do KDC_PORT=$((KDC_PORT + 3)); done
export KDC_PORT
eval "$(scripts/kdc-up.sh "$GATEHOUSE_TEST_DIR/kdc")"
# A Samba AD domain controller in its own network namespace, for NTLM
# pass-through (ntlm.verifier: winbind).
eval "$(scripts/samba-dc.sh up "$GATEHOUSE_TEST_DIR/dc")"

go vet ./...
go test -count=1 -timeout 20m ./...
