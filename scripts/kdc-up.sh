#!/usr/bin/env bash
# kdc-up.sh [DIR] -- start a throwaway MIT Kerberos KDC for the integration
# tests: realm EXAMPLE.TEST on 127.0.0.1:$KDC_PORT (default 18788), loopback
# only, everything (database, configs, logs, keytab, pid file) under DIR
# (default /tmp/gatehouse-kdc).
#
# Principals:  alice (alicepw), bob (bobpw), HTTP/localhost (random keys:
#              aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96,
#              aes256-cts-hmac-sha384-192), exported to DIR/http.keytab (0644:
#              a throwaway test key).
#
# Idempotent: packages are installed only when missing, the realm and the
# principals only when absent, the keytab is exported without changing keys
# (-norandkey, so the kvno stays put), and krb5kdc is started only when the pid
# file does not name a live krb5kdc. Progress goes to stderr; stdout is only
# the export lines, so use it as:   eval "$(scripts/kdc-up.sh)"
# The names match internal/testenv (GATEHOUSE_*). Stop with scripts/kdc-down.sh.
set -euo pipefail

DIR="${1:-/tmp/gatehouse-kdc}"
REALM="EXAMPLE.TEST"
KDC_PORT="${KDC_PORT:-18788}"
SPN="HTTP/localhost"
ENCTYPES="aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal aes256-cts-hmac-sha384-192:normal"
MASTER_PW="gatehouse-throwaway-master"

log() { echo "kdc-up: $*" >&2; }
die() { log "$*"; exit 1; }

# ---- packages, only when missing ------------------------------------------
missing=()
for p in krb5-kdc krb5-admin-server krb5-user; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; run as root or install them"
  log "installing ${missing[*]}"
  # Debian's postinst would start the system krb5kdc/kadmind: a policy-rc.d
  # that exits 101 forbids it. Only ever remove the one we created.
  made_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  trap 'if [[ -n "$made_policy" ]]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  [[ -n "$made_policy" ]] && rm -f /usr/sbin/policy-rc.d
  made_policy=""
  trap - EXIT
fi

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
KRB5_CONF="$DIR/krb5.conf"
KDC_CONF="$DIR/kdc.conf"
KEYTAB="$DIR/http.keytab"
PIDFILE="$DIR/krb5kdc.pid"
CCACHE="FILE:$DIR/alice.ccache"
# Every MIT tool below reads only these files, never /etc/krb5.conf (whose
# Debian default names public ATHENA.MIT.EDU KDCs).
export KRB5_CONFIG="$KRB5_CONF" KRB5_KDC_PROFILE="$KDC_CONF" KRB5RCACHEDIR="$DIR"

# ---- configuration (rewritten on each run so it follows KDC_PORT) ----------
cat >"$KRB5_CONF" <<CONF
# Client configuration of the throwaway realm written by scripts/kdc-up.sh.
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    forwardable = true
    ticket_lifetime = 10h
    renew_lifetime = 1d

[realms]
    $REALM = {
        kdc = 127.0.0.1:$KDC_PORT
        admin_server = 127.0.0.1:$((KDC_PORT + 1))
    }

[domain_realm]
    localhost = $REALM
    .localhost = $REALM
CONF

cat >"$KDC_CONF" <<CONF
# KDC configuration of the throwaway realm written by scripts/kdc-up.sh.
[kdcdefaults]
    kdc_listen = 127.0.0.1:$KDC_PORT
    kdc_tcp_listen = 127.0.0.1:$KDC_PORT

[realms]
    $REALM = {
        database_name = $DIR/principal
        key_stash_file = $DIR/stash
        acl_file = $DIR/kadm5.acl
        admin_keytab = FILE:$DIR/kadm5.keytab
        kdc_listen = 127.0.0.1:$KDC_PORT
        kdc_tcp_listen = 127.0.0.1:$KDC_PORT
        kadmind_listen = 127.0.0.1:$((KDC_PORT + 1))
        kpasswd_listen = 127.0.0.1:$((KDC_PORT + 2))
        supported_enctypes = $ENCTYPES
        max_life = 10h
        max_renewable_life = 1d
        default_principal_flags = +preauth
    }

[logging]
    kdc = FILE:$DIR/kdc.log
    admin_server = FILE:$DIR/kadmin.log
    default = FILE:$DIR/krb5lib.log
CONF
[[ -e "$DIR/kadm5.acl" ]] || echo "*/admin@$REALM *" >"$DIR/kadm5.acl"

# ---- realm, principals, keytab (only what is absent) -----------------------
if [[ ! -e "$DIR/principal" ]]; then
  log "creating realm $REALM in $DIR"
  kdb5_util -r "$REALM" create -s -P "$MASTER_PW" >/dev/null 2>&1 || die "kdb5_util create failed"
fi
kadm() { kadmin.local -r "$REALM" -q "$1" 2>&1; }
has_princ() { kadm "getprinc $1" | grep -q "^Principal: $1@$REALM\$"; }
for up in alice:alicepw bob:bobpw; do
  u="${up%%:*}" pw="${up#*:}"
  if ! has_princ "$u"; then
    kadm "addprinc -e \"$ENCTYPES\" -pw $pw $u" >/dev/null
    has_princ "$u" || die "could not create $u"
    log "created $u@$REALM"
  fi
done
if ! has_princ "$SPN"; then
  kadm "addprinc -e \"$ENCTYPES\" -randkey $SPN" >/dev/null
  has_princ "$SPN" || die "could not create $SPN"
  log "created $SPN@$REALM"
fi
if [[ ! -s "$KEYTAB" ]]; then
  kadm "ktadd -norandkey -k $KEYTAB $SPN" >/dev/null
  [[ -s "$KEYTAB" ]] || die "could not export $KEYTAB"
  log "exported $KEYTAB"
fi
chmod 0644 "$KEYTAB"
# A second service, HTTP/elsewhere, with its own keytab: a server holding
# only it must refuse tickets for HTTP/localhost. The KDC marks it
# ok-as-delegate ("trusted for delegation"), HTTP/localhost not: clients
# with delegation policy "policy" delegate to the one and not the other.
OTHER_KEYTAB="$DIR/elsewhere.keytab"
if ! has_princ HTTP/elsewhere; then
  kadm "addprinc -e \"$ENCTYPES\" -randkey HTTP/elsewhere" >/dev/null
fi
kadm "modprinc +ok_as_delegate HTTP/elsewhere" >/dev/null
if [[ ! -s "$OTHER_KEYTAB" ]]; then
  kadm "ktadd -norandkey -k $OTHER_KEYTAB HTTP/elsewhere" >/dev/null
  [[ -s "$OTHER_KEYTAB" ]] || die "could not export $OTHER_KEYTAB"
fi
chmod 0644 "$OTHER_KEYTAB"

# ---- krb5kdc, only when ours is not already running ------------------------
ours_running() {
  [[ -s "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == krb5kdc ]]
}
if ours_running; then
  log "krb5kdc already running, pid $(cat "$PIDFILE")"
else
  rm -f "$PIDFILE"
  krb5kdc -r "$REALM" -P "$PIDFILE"   # forks into the background, writes the pid file
  for _ in $(seq 1 100); do ours_running && break; sleep 0.05; done
  ours_running || die "krb5kdc did not start; see $DIR/kdc.log"
  log "krb5kdc started, pid $(cat "$PIDFILE"), 127.0.0.1:$KDC_PORT"
fi
up=""
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$KDC_PORT") 2>/dev/null; then up=1; break; fi
  sleep 0.05
done
[[ -n "$up" ]] || die "krb5kdc is not answering on 127.0.0.1:$KDC_PORT"

cat <<ENV
export KRB5_CONFIG='$KRB5_CONF'
export GATEHOUSE_KDC_DIR='$DIR'
export GATEHOUSE_KRB5_CONFIG='$KRB5_CONF'
export GATEHOUSE_KEYTAB='$KEYTAB'
export GATEHOUSE_OTHER_KEYTAB='$OTHER_KEYTAB'
export GATEHOUSE_REALM='$REALM'
export GATEHOUSE_KRB_USER='alice'
export GATEHOUSE_KRB_PASSWORD='alicepw'
export GATEHOUSE_SPN='$SPN'
export KRB5CCNAME='$CCACHE'
ENV
