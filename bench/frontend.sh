#!/usr/bin/env bash
# frontend.sh -- the cost of forward auth: Kerberos requests to one site
# served by Gatehouse directly, against the same site behind nginx
# (auth_request to Gatehouse's forward_auth, the app being bench/floor), one
# run each with the anchors' load generator. Prints req/s, p50/p99 and
# Gatehouse's CPU per request (the load generator reads the CPU time of the
# process in -server-pidfile: Gatehouse in both rows), plus nginx in front of
# bench/floor without authentication for the front end's own cost.
#
# Uses the realm of GATEHOUSE_KEYTAB/GATEHOUSE_KRB5_CONFIG when set (source
# the test environment), else starts one with scripts/kdc-up.sh.
# Env: D (5s), WARMUP (1s), C (8 connections), TOKEN (on: identity_token).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; TOP="$(cd "$HERE/.." && pwd)"
D="${D:-5s}"; WARMUP="${WARMUP:-1s}"; C="${C:-8}"; TOKEN="${TOKEN:-on}"
WORK="${BENCH_DIR:-/tmp/gatehouse-bench-frontend}"; mkdir -p "$WORK" "$HERE/results"
OUT="$HERE/results/frontend-$(date -u +%Y%m%dT%H%M%SZ).txt"
ANCHORS="${ANCHORS:-$TOP/../shared/anchors}"
GH_PORT=18290; NG_PORT=18291; FL_PORT=18292
log() { echo "bench: $*" >&2; }

[[ -d "$ANCHORS/loadgen" ]] || { log "no load generator at $ANCHORS/loadgen"; exit 1; }
command -v nginx >/dev/null || { log "nginx not installed (nginx-light)"; exit 1; }
(cd "$ANCHORS/loadgen" && go build -o "$WORK/loadgen" .)
(cd "$TOP" && go build -o "$WORK/gatehouse" ./cmd/gatehouse)
(cd "$TOP" && go build -o "$WORK/floor" ./bench/floor)

cleanup() {
  for p in ${ghpid:-} ${flpid:-}; do kill "$p" 2>/dev/null || true; done
  [[ -f "$WORK/nginx/nginx.pid" ]] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
  [[ -n "${ownkdc:-}" ]] && "$TOP/scripts/kdc-down.sh" "$WORK/kdc" >/dev/null 2>&1 || true
}
trap cleanup EXIT
wait_port() { for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; log "nothing on port $1"; exit 1; }

if [[ -z "${GATEHOUSE_KEYTAB:-}" || -z "${GATEHOUSE_KRB5_CONFIG:-}" ]]; then
  eval "$("$TOP/scripts/kdc-up.sh" "$WORK/kdc")"; ownkdc=1
fi

mkdir -p "$WORK/gh/htdocs"; printf 'ok\n' >"$WORK/gh/htdocs/ok"
token=""; [[ $TOKEN == on ]] && token="identity_token: {}"
cat >"$WORK/gh/gatehouse.yaml" <<CONF
state_dir: $WORK/gh/state
accounts: $WORK/gh/gatehouse.db
log: {level: warn}
listen: [{addr: 127.0.0.1:$GH_PORT}]
kerberos: {keytab: $GATEHOUSE_KEYTAB}
forward_auth: {path: /_gatehouse/auth, trusted_proxies: [127.0.0.1]}
$token
sites:
  - {path: /, auth: [anonymous], handler: static, root: $WORK/gh/htdocs/ok}
  - {path: /krb, auth: [negotiate], handler: static, root: $WORK/gh/htdocs/ok}
CONF
"$WORK/gatehouse" serve --config "$WORK/gh/gatehouse.yaml" 2>"$WORK/gh/serve.log" & ghpid=$!
echo "$ghpid" >"$WORK/gh/pid"
"$WORK/floor" -addr "127.0.0.1:$FL_PORT" -pidfile "$WORK/floor.pid" 2>"$WORK/floor.log" & flpid=$!

N="$WORK/nginx"; mkdir -p "$N"
cat >"$N/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $N/nginx.pid;
error_log $N/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $N/client_body; proxy_temp_path $N/proxy;
  fastcgi_temp_path $N/fastcgi; uwsgi_temp_path $N/uwsgi; scgi_temp_path $N/scgi;
  upstream gatehouse { server 127.0.0.1:$GH_PORT; keepalive 32; }
  upstream app { server 127.0.0.1:$FL_PORT; keepalive 32; }
  server {
    listen 127.0.0.1:$NG_PORT;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location = /_gatehouse/auth {
      internal;
      proxy_pass http://gatehouse/_gatehouse/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";
      proxy_set_header X-Original-URI \$request_uri;
      proxy_set_header X-Original-Method \$request_method;
      proxy_set_header X-Original-Proto \$scheme;
      proxy_set_header X-Original-Host \$http_host;
    }
    location /open { proxy_pass http://app; }
    location / {
      auth_request /_gatehouse/auth;
      auth_request_set \$gh_user \$upstream_http_x_remote_user;
      auth_request_set \$gh_jwt \$upstream_http_x_gatehouse_jwt_assertion;
      auth_request_set \$gh_www \$upstream_http_www_authenticate;
      add_header WWW-Authenticate \$gh_www;
      proxy_set_header Authorization "";
      proxy_set_header X-Remote-User \$gh_user;
      proxy_set_header X-Gatehouse-Jwt-Assertion \$gh_jwt;
      proxy_pass http://app;
    }
  }
}
CONF
nginx -p "$N" -c "$N/nginx.conf" -e "$N/error.log"
wait_port "$GH_PORT"; wait_port "$NG_PORT"; wait_port "$FL_PORT"

{
  echo "# forward auth vs direct, $(date -u +%FT%TZ), $(nproc) cores, c=$C, D=$D, identity_token $TOKEN"
  echo "# rerun: D=$D C=$C TOKEN=$TOKEN bench/frontend.sh"
  echo "# cpu_us/req: Gatehouse's CPU per request; on the nginx -> floor line, bench/floor's"
  printf '%-32s %10s %9s %9s %14s\n' case req/s p50_ms p99_ms cpu_us/req
} | tee "$OUT"
one() { # label mode url pidfile
  res=$("$WORK/loadgen" -mode "$2" -c "$C" -d "$D" -warmup "$WARMUP" -url "$3" -spn HTTP/localhost \
    -krb5conf "$GATEHOUSE_KRB5_CONFIG" -server-pidfile "$4" -json 2>/dev/null | tail -1)
  python3 - "$1" "$res" <<'PY' | tee -a "$OUT"
import json, sys
r = json.loads(sys.argv[2])
rps = r.get("rps", 0)
cpu = r.get("server_cpu_pct", float("nan")) / 100 * 1e6 / rps if rps else float("nan")
print("%-32s %10.0f %9.2f %9.2f %14.1f" % (sys.argv[1], rps, r.get("p50_ms", float("nan")), r.get("p99_ms", float("nan")), cpu))
PY
}
one "gatehouse direct, anonymous" open "http://localhost:$GH_PORT/open" "$WORK/gh/pid"
one "gatehouse direct, kerberos" krb "http://localhost:$GH_PORT/krb" "$WORK/gh/pid"
one "nginx -> floor, no auth" open "http://localhost:$NG_PORT/open" "$WORK/floor.pid"
one "nginx auth_request, kerberos" krb "http://localhost:$NG_PORT/krb" "$WORK/gh/pid"
log "results in $OUT"
