#!/usr/bin/env bash
# compare.sh -- Gatehouse against Apache httpd + mod_auth_gssapi, side by side
# in one run, with the anchors' load generator (../shared/anchors/loadgen)
# and the same settings for all. Two more servers run beside them: bare Go
# net/http (bench/floor, the floor for an anonymous request) in mode open,
# and gokrb5's own SPNEGO handler (../shared/anchors/gokrb5-server) in mode
# krb. Prints req/s, p50/p99 and server CPU per request for each (and the
# load generator's, lg_us/req: when it is near the server's, the load
# generator bounds req/s, not the server; and the failed requests, err),
# Gatehouse's
# req/s ratio to Apache, Gatehouse's CPU ratio to bare net/http (open) and
# to its own anonymous request (krb), and writes bench/results/<time>.txt.
#
# Two set-ups, as in the anchors:
#   shared : server and load generator share both cores, c=8, tokens built on the fly
#   pinned : server on core 0, load generator on core 1, c=32, tokens pre-built
# Env: D (10s), WARMUP (1s), SETUPS ("shared pinned"), MODES ("open krb sess")
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; TOP="$(cd "$HERE/.." && pwd)"
D="${D:-10s}"; WARMUP="${WARMUP:-1s}"; SETUPS="${SETUPS:-shared pinned}"; MODES="${MODES:-open krb sess ntlm-handshake ntlm-conn}"
WORK="${BENCH_DIR:-/tmp/gatehouse-bench}"; mkdir -p "$WORK" "$HERE/results"
OUT="$HERE/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
ANCHORS="${ANCHORS:-$TOP/../shared/anchors}"
GH_PORT=18190; AP_PORT=18180; FL_PORT=18191; GK_PORT=18192
log() { echo "bench: $*" >&2; }

[[ -d "$ANCHORS/loadgen" ]] || { log "no load generator at $ANCHORS/loadgen"; exit 1; }
(cd "$ANCHORS/loadgen" && go build -o "$WORK/loadgen" .)
(cd "$TOP" && go build -o "$WORK/gatehouse" ./cmd/gatehouse)
(cd "$TOP" && go build -o "$WORK/floor" ./bench/floor)
(cd "$ANCHORS/gokrb5-server" && go build -o "$WORK/gokrb5-server" .)

cleanup() {
  [[ -n "${ghpid:-}" ]] && kill "$ghpid" 2>/dev/null || true
  [[ -n "${flpid:-}" ]] && kill "$flpid" 2>/dev/null || true
  [[ -n "${gkpid:-}" ]] && kill "$gkpid" 2>/dev/null || true
  "$HERE/apache.sh" down "$WORK/apache" || true
  "$TOP/scripts/kdc-down.sh" "$WORK/kdc" >/dev/null 2>&1 || true
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
KDC_PORT="${KDC_PORT:-18888}"
while ! port_free "$KDC_PORT" || ! port_free $((KDC_PORT + 1)); do KDC_PORT=$((KDC_PORT + 3)); done
export KDC_PORT
eval "$("$TOP/scripts/kdc-up.sh" "$WORK/kdc")"
"$HERE/apache.sh" up "$WORK/apache" "$GATEHOUSE_KEYTAB" "$AP_PORT"

# Gatehouse: same three locations, same 3-byte body.
mkdir -p "$WORK/gh/htdocs"; printf 'ok\n' >"$WORK/gh/htdocs/ok"
cat >"$WORK/gh/gatehouse.yaml" <<CONF
state_dir: $WORK/gh/state
accounts: $WORK/gh/gatehouse.db
log: {level: warn}
listen: [{addr: 127.0.0.1:$GH_PORT}]
kerberos: {keytab: $GATEHOUSE_KEYTAB}
sites:
  - {path: /, auth: [anonymous], handler: static, root: $WORK/gh/htdocs/ok}
  - {path: /krb, auth: [negotiate], handler: static, root: $WORK/gh/htdocs/ok}
  - {path: /sess, auth: [negotiate], sessions: true, handler: static, root: $WORK/gh/htdocs/ok}
  - {path: /ntlm, auth: [ntlm], handler: static, root: $WORK/gh/htdocs/ok}
ntlm: {domain: EXAMPLE}
CONF
rm -f "$WORK/gh/gatehouse.db"
echo alicepw | "$WORK/gatehouse" accounts add alice --password-stdin --db "$WORK/gh/gatehouse.db"

start_gatehouse() { # $1: taskset prefix
  [[ -n "${ghpid:-}" ]] && { kill "$ghpid"; wait "$ghpid" 2>/dev/null || true; }
  $1 "$WORK/gatehouse" serve --config "$WORK/gh/gatehouse.yaml" 2>"$WORK/gh/serve.log" &
  ghpid=$!; echo "$ghpid" >"$WORK/gh/pid"
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$GH_PORT") 2>/dev/null && return; sleep 0.1; done
  log "gatehouse did not start"; cat "$WORK/gh/serve.log" >&2; exit 1
}

wait_port() { for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; log "nothing on port $1"; exit 1; }
start_others() { # $1: taskset prefix; bare net/http and gokrb5 under the same pinning
  for p in ${flpid:-} ${gkpid:-}; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  $1 "$WORK/floor" -addr "127.0.0.1:$FL_PORT" -pidfile "$WORK/floor.pid" 2>"$WORK/floor.log" & flpid=$!
  $1 "$WORK/gokrb5-server" -addr "127.0.0.1:$GK_PORT" -keytab "$GATEHOUSE_KEYTAB" -pidfile "$WORK/gokrb5.pid" 2>"$WORK/gokrb5.log" & gkpid=$!
  wait_port "$FL_PORT"; wait_port "$GK_PORT"
}

{
  echo "# Gatehouse vs Apache httpd + mod_auth_gssapi, $(date -u +%FT%TZ), $(nproc) cores"
  echo "# rerun: D=$D SETUPS='$SETUPS' MODES='$MODES' bench/compare.sh"
  printf '%-7s %-5s %-10s %10s %9s %9s %12s %10s %6s\n' setup mode server req/s p50_ms p99_ms cpu_us/req lg_us/req err
} | tee "$OUT"

for setup in $SETUPS; do
  gh_open_cpu=""
  if [[ $setup == pinned ]]; then srvset="taskset -c 0"; lgset="taskset -c 1"; conc=32; pregen="-pregen 400000"
  else srvset=""; lgset=""; conc=8; pregen=""; fi
  # Apache is restarted under the same pinning
  "$HERE/apache.sh" down "$WORK/apache"
  $srvset "$HERE/apache.sh" up "$WORK/apache" "$GATEHOUSE_KEYTAB" "$AP_PORT"
  start_gatehouse "$srvset"
  start_others "$srvset"
  for mode in $MODES; do
    lmode=$mode; extra=""; path=$mode
    [[ $mode == krb ]] && extra="$pregen"
    [[ $mode == sess ]] && lmode=session
    [[ $mode == ntlm-* ]] && path=ntlm
    declare -A rps=() cpus=()
    servers="apache gatehouse"
    [[ $mode == open ]] && servers="apache net/http gatehouse"
    [[ $mode == krb ]] && servers="apache gokrb5 gatehouse"
    for server in $servers; do
      case $server in
        apache) port=$AP_PORT; pidf="$WORK/apache/run/httpd.pid"; p=$path ;;
        net/http) port=$FL_PORT; pidf="$WORK/floor.pid"; p=$path ;;
        gokrb5) port=$GK_PORT; pidf="$WORK/gokrb5.pid"; p=krb ;;
        *) port=$GH_PORT; pidf="$WORK/gh/pid"; p=$path ;;
      esac
      res=$($lgset "$WORK/loadgen" -mode "$lmode" -c "$conc" -d "$D" -warmup "$WARMUP" $extra \
 -url "http://localhost:$port/$p" -server-pidfile "$pidf" -json 2>/dev/null | tail -1)
      line=$(python3 - "$res" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
def g(*ks):
    for k in ks:
        if k in r: return r[k]
    return float("nan")
rps = g("rps")
cpu = g("server_cpu_pct") / 100 * 1e6 / rps if rps else float("nan")
lg = g("loadgen_cpu_pct") / 100 * 1e6 / rps if rps else float("nan")
print("%.0f %.2f %.2f %.1f %.1f %d" % (rps, g("p50_ms"), g("p99_ms"), cpu, lg, r.get("errors", -1)))
PY
)
      read -r r p50 p99 cpu lg err <<<"$line"
      rps[$server]=$r; cpus[$server]=$cpu
      [[ $mode == open && $server == gatehouse ]] && gh_open_cpu=$cpu
      printf '%-7s %-5s %-10s %10s %9s %9s %12s %10s %6s\n' "$setup" "$mode" "$server" "$r" "$p50" "$p99" "$cpu" "$lg" "$err" | tee -a "$OUT"
    done
    python3 -c "import sys; a,g=float(sys.argv[1]),float(sys.argv[2]); print('%-7s %-5s ratio      %10.2fx' % (sys.argv[3], sys.argv[4], g/a if a else float('nan')))" \
      "${rps[apache]}" "${rps[gatehouse]}" "$setup" "$mode" | tee -a "$OUT"
    if [[ $mode == open ]]; then
      python3 -c "import sys; b,g=float(sys.argv[1]),float(sys.argv[2]); print('%-7s %-5s cpu/bare   %10.2fx' % (sys.argv[3], sys.argv[4], g/b if b else float('nan')))" \
        "${cpus[net/http]}" "${cpus[gatehouse]}" "$setup" "$mode" | tee -a "$OUT"
    elif [[ $mode != open && -n "${gh_open_cpu:-}" ]]; then
      python3 -c "import sys; o,g=float(sys.argv[1]),float(sys.argv[2]); print('%-7s %-5s cpu/anon   %10.2fx' % (sys.argv[3], sys.argv[4], g/o if o else float('nan')))" \
        "$gh_open_cpu" "${cpus[gatehouse]}" "$setup" "$mode" | tee -a "$OUT"
    fi
  done
done
log "results in $OUT"
