#!/usr/bin/env bash
# test-env.sh -- install the real peers the tests talk to (Debian packages),
# only those missing. Idempotent and quiet when everything is there.
# Never starts a system service: packages are installed with a policy-rc.d
# that refuses, and each test starts its own private instance.
set -euo pipefail

PKGS=(
  curl                      # curl --basic/--digest/--ntlm/--negotiate
  python3-requests          # requests HTTPDigestAuth/HTTPBasicAuth (Debian's /usr/bin/python3)
  nginx-light caddy         # front ends calling forward auth (auth_request, forward_auth)
  python3-jwt python3-cryptography  # PyJWT: the app behind them verifies the identity token (ES256)
  ca-certificates
  krb5-user                 # kinit/kvno for the throwaway realm (scripts/kdc-up.sh adds the KDC)
  python3-gssapi            # MIT GSSAPI from Python: Kerberos and (with gss-ntlmssp) NTLM initiators
  python3-requests-kerberos # requests HTTPKerberosAuth
  python3-requests-ntlm     # requests HttpNtlmAuth
  gss-ntlmssp               # NTLM mechanism for MIT GSSAPI
  chromium-headless-shell   # a real browser: Negotiate and NTLM
  apache2 libapache2-mod-auth-gssapi  # reference servers for the client (bench/apache.sh)
  squid apache2-utils       # an authenticating forward proxy (Basic, Negotiate) and htpasswd
  openssl                   # openssl ocsp: an OCSP responder for client certificates
  redis-server              # shared state of several instances (cluster.redis)
  systemd                   # systemd-analyze verify dist/gatehouse.service
  slapd                     # OpenLDAP: a directory that is not AD (memberOf, groupOfNames)
  man-db                    # man, which systemd-analyze verify runs for Documentation=man:
  haproxy                   # a balancer in front of two instances (interop, docs/SCALING.md)
)

log() { echo "test-env: $*" >&2; }

need=()
for p in "${PKGS[@]}" "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing packages ${need[*]}; run as root or install them"; exit 1
  fi
  log "installing ${need[*]}"
  tmp_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    tmp_policy=1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  if [[ -n "$tmp_policy" ]]; then rm -f /usr/sbin/policy-rc.d; fi
fi
log "peers installed"
