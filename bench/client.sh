#!/usr/bin/env bash
# client.sh [N] -- wall time of N sequential `gatehouse get --negotiate` runs
# against N sequential `curl --negotiate` runs, same server (Gatehouse with
# Kerberos), same ticket cache, side by side in one run; and the token
# build cost from the Go benchmark. Env: N (200).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; TOP="$(cd "$HERE/.." && pwd)"
N="${1:-${N:-200}}"; WORK="${BENCH_DIR:-/tmp/gatehouse-bench-client}"; PORT=18290
mkdir -p "$WORK"
(cd "$TOP" && go build -o "$WORK/gatehouse" ./cmd/gatehouse)
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
KDC_PORT="${KDC_PORT:-18894}"
while ! port_free "$KDC_PORT" || ! port_free $((KDC_PORT + 1)); do KDC_PORT=$((KDC_PORT + 3)); done
export KDC_PORT
eval "$("$TOP/scripts/kdc-up.sh" "$WORK/kdc")"
cat >"$WORK/gh.yaml" <<CONF
state_dir: $WORK/state
accounts: $WORK/gh.db
log: {level: warn}
listen: [{addr: 127.0.0.1:$PORT}]
kerberos: {keytab: $GATEHOUSE_KEYTAB}
sites: [{path: /, auth: [negotiate]}]
CONF
"$WORK/gatehouse" serve --config "$WORK/gh.yaml" 2>"$WORK/serve.log" & pid=$!
trap 'kill $pid 2>/dev/null; "$TOP/scripts/kdc-down.sh" "$WORK/kdc" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
echo "$GATEHOUSE_KRB_PASSWORD" | kinit "$GATEHOUSE_KRB_USER" >/dev/null
url="http://localhost:$PORT/"
t0=$(date +%s.%N)
for _ in $(seq "$N"); do curl -sf --negotiate -u : -o /dev/null "$url"; done
t1=$(date +%s.%N)
for _ in $(seq "$N"); do "$WORK/gatehouse" get --negotiate --implicit-allow localhost -o /dev/null "$url"; done
t2=$(date +%s.%N)
python3 - "$N" "$t0" "$t1" "$t2" <<'PY'
import sys
n, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:])
c, g = (t1 - t0) / n * 1000, (t2 - t1) / n * 1000
print(f"{n} sequential runs: curl --negotiate {c:.1f} ms/run, gatehouse get --negotiate {g:.1f} ms/run, ratio {g/c:.2f}")
PY
(cd "$TOP" && go test -run='^$' -bench=NegotiateToken -cpu=1 -count=3 ./client | grep Benchmark)
