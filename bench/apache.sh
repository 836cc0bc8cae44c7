#!/usr/bin/env bash
# apache.sh up|down DIR KEYTAB PORT -- a private Apache httpd (mpm_event) with
# mod_auth_gssapi, the reference Gatehouse is measured against:
#   /krb   Negotiate, Kerberos only, no sessions, not connection-bound
#   /sess  the same with GssapiUseSessions (mod_session_cookie + crypto)
#   /ntlm  NTLM through gss-ntlmssp, connection-bound (user EXAMPLE\alice)
#   /digest mod_auth_digest, MD5, qop=auth (alice / alicepw)
#   /open  no authentication
# Each returns "ok\n". Everything lives under DIR; no system service is
# touched (packages are installed with a policy-rc.d that refuses starts).
set -euo pipefail
cmd="${1:?up|down}"; DIR="${2:?DIR}"; KT="${3:-}"; PORT="${4:-18180}"
MODS=/usr/lib/apache2/modules
log() { echo "bench/apache: $*" >&2; }

if [[ "$cmd" == down ]]; then
  if [[ -s "$DIR/run/httpd.pid" ]]; then
    pid=$(cat "$DIR/run/httpd.pid")
    if grep -q apache2 "/proc/$pid/comm" 2>/dev/null; then kill "$pid"; fi
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  exit 0
fi

need=()
for p in apache2 libapache2-mod-auth-gssapi gss-ntlmssp; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  log "installing ${need[*]}"
  made=""
  [[ -e /usr/sbin/policy-rc.d ]] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made=1; }
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  if [[ -n "$made" ]]; then rm -f /usr/sbin/policy-rc.d; fi
fi

mkdir -p "$DIR"/{logs,run,htdocs,rcache}
DIR="$(cd "$DIR" && pwd)"
for f in krb sess open ntlm digest; do printf 'ok\n' >"$DIR/htdocs/$f"; done
# htdigest line for /digest: alice in realm "bench-digest", MD5 (what mod_auth_digest does)
printf 'alice:bench-digest:%s\n' "$(printf 'alice:bench-digest:alicepw' | md5sum | cut -d' ' -f1)" >"$DIR/htdigest"
chown www-data:www-data "$DIR/htdigest"; chmod 0400 "$DIR/htdigest"
# gss-ntlmssp's user file (DOMAIN:user:password) for /ntlm
printf 'EXAMPLE:alice:alicepw\n' >"$DIR/ntlm.users"
chown www-data:www-data "$DIR/ntlm.users"; chmod 0400 "$DIR/ntlm.users"
install -m 0400 -o www-data -g www-data "$KT" "$DIR/http.keytab"
chown www-data:www-data "$DIR/rcache"; chmod 0700 "$DIR/rcache"
[[ -s "$DIR/session.key" ]] || head -c 32 /dev/urandom | base64 >"$DIR/session.key"
[[ -s "$DIR/session.pass" ]] || head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$DIR/session.pass"

cat >"$DIR/httpd.conf" <<CONF
ServerRoot "$DIR"
ServerName localhost
Listen 127.0.0.1:$PORT
PidFile "$DIR/run/httpd.pid"
DefaultRuntimeDir "$DIR/run"
Mutex file:$DIR/run default
ErrorLog "$DIR/logs/error.log"
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module   $MODS/mod_mpm_event.so
LoadModule authn_core_module  $MODS/mod_authn_core.so
LoadModule authz_core_module  $MODS/mod_authz_core.so
LoadModule authz_user_module  $MODS/mod_authz_user.so
LoadModule auth_gssapi_module $MODS/mod_auth_gssapi.so
LoadModule session_module        $MODS/mod_session.so
LoadModule session_cookie_module $MODS/mod_session_cookie.so
LoadModule session_crypto_module $MODS/mod_session_crypto.so
LoadModule mime_module        $MODS/mod_mime.so
LoadModule auth_digest_module $MODS/mod_auth_digest.so
LoadModule authn_file_module  $MODS/mod_authn_file.so
TypesConfig /etc/mime.types
SessionCryptoDriver openssl
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
DocumentRoot "$DIR/htdocs"
<Directory "$DIR/htdocs">
    AllowOverride None
    Require all granted
</Directory>
<Location /krb>
    AuthType GSSAPI
    AuthName "bench"
    GssapiCredStore keytab:$DIR/http.keytab
    GssapiAllowedMech krb5
    Require valid-user
</Location>
<Location /digest>
    AuthType Digest
    AuthName "bench-digest"
    AuthDigestProvider file
    AuthUserFile $DIR/htdigest
    AuthDigestQop auth
    Require valid-user
</Location>
<Location /ntlm>
    AuthType GSSAPI
    AuthName "bench-ntlm"
    GssapiAllowedMech ntlmssp
    GssapiConnectionBound On
    GssapiBasicAuth Off
    Require valid-user
</Location>
<Location /sess>
    AuthType GSSAPI
    AuthName "bench"
    GssapiCredStore keytab:$DIR/http.keytab
    GssapiAllowedMech krb5
    GssapiUseSessions On
    GssapiSessionKey key:$(cat "$DIR/session.key")
    Session On
    SessionCookieName gssapi_session path=/sess;httponly
    SessionCryptoPassphrase $(cat "$DIR/session.pass")
    Require valid-user
</Location>
CONF
"$0" down "$DIR" 2>/dev/null || true
NTLM_USER_FILE="$DIR/ntlm.users" KRB5RCACHEDIR="$DIR/rcache" KRB5_CONFIG="${KRB5_CONFIG:-/etc/krb5.conf}" apache2 -f "$DIR/httpd.conf" -k start
for _ in $(seq 50); do [[ -s "$DIR/run/httpd.pid" ]] && break; sleep 0.1; done
log "httpd up on 127.0.0.1:$PORT (pid $(cat "$DIR/run/httpd.pid"))"
