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
cleanup() {
  if [[ -x scripts/kdc-down.sh && -d "$GATEHOUSE_TEST_DIR/kdc" ]]; then
    scripts/kdc-down.sh "$GATEHOUSE_TEST_DIR/kdc" --purge >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
if [[ -x scripts/kdc-up.sh ]]; then
  eval "$(scripts/kdc-up.sh "$GATEHOUSE_TEST_DIR/kdc")"
fi

go vet ./...
go test -count=1 -timeout 20m ./...
