#!/usr/bin/env bash
# cluster.sh -- per-request Kerberos with the replay cache in Redis
# (cluster.redis) against the in-memory one, side by side in one run, with
# the anchors' load generator (../shared/anchors/loadgen): req/s and server
# CPU per request of each (Gatehouse's and redis-server's), their ratio, and
# Redis's memory per replay entry. Writes bench/results/<time>-cluster.txt.
# Env: D (10s), WARMUP (1s), C (32), PIN (1: Gatehouse on core 0, load
# generator and Redis on core 1).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; TOP="$(cd "$HERE/.." && pwd)"
D="${D:-10s}"; WARMUP="${WARMUP:-1s}"; C="${C:-32}"; PIN="${PIN:-1}"
WORK="${BENCH_DIR:-/tmp/gatehouse-bench-cluster}"; mkdir -p "$WORK" "$HERE/results"
OUT="$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)-cluster.txt"
ANCHORS="${ANCHORS:-$TOP/../shared/anchors}"
GH_PORT=18390; REDIS_PORT=18391
log() { echo "bench: $*" >&2; }
[[ -d "$ANCHORS/loadgen" ]] || { log "no load generator at $ANCHORS/loadgen (set ANCHORS)"; exit 1; }
(cd "$ANCHORS/loadgen" && go build -o "$WORK/loadgen" .)
(cd "$TOP" && go build -o "$WORK/gatehouse" ./cmd/gatehouse)
srvset=""; lgset=""
if [[ $PIN == 1 ]]; then srvset="taskset -c 0"; lgset="taskset -c 1"; fi

cleanup() {
  [[ -n "${ghpid:-}" ]] && kill "$ghpid" 2>/dev/null || true
  [[ -n "${rpid:-}" ]] && kill "$rpid" 2>/dev/null || true
  "$TOP/scripts/kdc-down.sh" "$WORK/kdc" >/dev/null 2>&1 || true
}
trap cleanup EXIT
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; log "nothing on $1"; exit 1; }
KDC_PORT="${KDC_PORT:-18988}"
while ! port_free "$KDC_PORT" || ! port_free $((KDC_PORT + 1)); do KDC_PORT=$((KDC_PORT + 3)); done
export KDC_PORT
eval "$("$TOP/scripts/kdc-up.sh" "$WORK/kdc")"

$lgset redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
rpid=$!; echo "$rpid" >"$WORK/redis.pid"; wait_port "$REDIS_PORT"
mem0=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')

start_gatehouse() { # $1: extra YAML
  [[ -n "${ghpid:-}" ]] && { kill "$ghpid"; wait "$ghpid" 2>/dev/null || true; }
  mkdir -p "$WORK/gh/htdocs"; printf 'ok\n' >"$WORK/gh/htdocs/ok"
  cat >"$WORK/gh/gatehouse.yaml" <<CONF
state_dir: $WORK/gh/state
accounts: $WORK/gh/gatehouse.db
log: {level: warn}
listen: [{addr: 127.0.0.1:$GH_PORT}]
kerberos: {keytab: $GATEHOUSE_KEYTAB}
sites:
  - {path: /krb, auth: [negotiate], handler: static, root: $WORK/gh/htdocs/ok}
$1
CONF
  $srvset "$WORK/gatehouse" serve --config "$WORK/gh/gatehouse.yaml" 2>"$WORK/gh/serve.log" &
  ghpid=$!; echo "$ghpid" >"$WORK/gh/pid"; wait_port "$GH_PORT"
}
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

{
  echo "# Kerberos per request: replay cache in Redis vs in memory, $(date -u +%FT%TZ), $(nproc) cores, c=$C, pinned=$PIN"
  echo "# rerun: D=$D C=$C PIN=$PIN bench/cluster.sh"
  printf '%-8s %10s %9s %9s %12s %14s\n' cache req/s p50_ms p99_ms gh_cpu_us redis_cpu_us
} | tee "$OUT"
declare -A rps=() cpu=()
for cache in memory redis; do
  extra=""; [[ $cache == redis ]] && extra="cluster: {redis: redis://127.0.0.1:$REDIS_PORT/0}"
  start_gatehouse "$extra"
  r0=$(cpu_ticks "$rpid")
  res=$($lgset "$WORK/loadgen" -mode krb -c "$C" -d "$D" -warmup "$WARMUP" -pregen 400000 \
    -url "http://localhost:$GH_PORT/krb" -server-pidfile "$WORK/gh/pid" -json 2>/dev/null | tail -1)
  r1=$(cpu_ticks "$rpid")
  line=$(python3 - "$res" "$((r1 - r0))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); ticks = int(sys.argv[2]); hz = int(sys.argv[3])
rps = r.get("rps", 0); n = r.get("requests", 0) or 1
cpu = r.get("server_cpu_pct", 0) / 100 * 1e6 / rps if rps else float("nan")
rcpu = ticks / hz * 1e6 / n if n else float("nan")
print("%.0f %.2f %.2f %.1f %.1f %d" % (rps, r.get("p50_ms", 0), r.get("p99_ms", 0), cpu, rcpu, r.get("errors", 0)))
PY
)
  read -r r p50 p99 c rc errs <<<"$line"
  rps[$cache]=$r; cpu[$cache]=$c
  printf '%-8s %10s %9s %9s %12s %14s  errors=%s\n' "$cache" "$r" "$p50" "$p99" "$c" "$( [[ $cache == redis ]] && echo "$rc" || echo -)" "$errs" | tee -a "$OUT"
done
keys=$(redis-cli -p "$REDIS_PORT" dbsize)
mem=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
python3 -c "import sys; m,k=float(sys.argv[1])-float(sys.argv[3]),float(sys.argv[2]); print('redis: %d keys, %.0f bytes per replay entry (growth of used_memory / keys)' % (k, m/k if k else 0))" "$mem" "$keys" "$mem0" | tee -a "$OUT"
python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('gatehouse cpu per request, redis/memory: %.2fx; req/s redis/memory: %.2fx' % (b/a, float(sys.argv[4])/float(sys.argv[3])))" "${cpu[memory]}" "${cpu[redis]}" "${rps[memory]}" "${rps[redis]}" | tee -a "$OUT"
log "results in $OUT"
