#!/usr/bin/env bash
# samba-dc.sh up|down DIR -- a throwaway Samba Active Directory domain
# controller (realm SAMBA.TEST, NetBIOS domain SAMBA) inside a network
# namespace of its own ($GATEHOUSE_DC_NS, default gatehouse-dc), so its
# ports (88, 389, 636, 445, 135…) collide with nothing. User carol /
# Carol-pw-1 in group Staff, itself a member of group Finance (a nested
# group); service account gatehouse-svc with SPN HTTP/localhost, allowed to
# delegate to HTTP/upstream (account gatehouse-up). LDAPS (636) with a
# certificate from a CA of its own (SANs localhost, 127.0.0.1), so Go
# clients accept it.
# Prints export lines: GATEHOUSE_DC_DIR, GATEHOUSE_NTLM_AUTH (a wrapper that
# runs ntlm_auth against this DC's winbindd: ntlm_auth hard-codes
# /run/samba/winbindd, so the wrapper mounts a private /run), and for LDAP
# GATEHOUSE_DC_LDAP_URL, GATEHOUSE_DC_CA, GATEHOUSE_DC_BIND_DN,
# GATEHOUSE_DC_BIND_PASSWORD_FILE.
set -euo pipefail
cmd="${1:?up|down}"; DIR="${2:-/tmp/gatehouse-dc}"
NS="${GATEHOUSE_DC_NS:-gatehouse-dc}"
log() { echo "samba-dc: $*" >&2; }

if [[ "$cmd" == down ]]; then
  if [[ -s "$DIR/samba.pid" ]]; then kill "$(cat "$DIR/samba.pid")" 2>/dev/null || true; fi
  ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  [[ "${3:-}" == --purge ]] && rm -rf "$DIR"
  exit 0
fi

need=()
for p in samba samba-ad-dc samba-ad-provision winbind smbclient iproute2; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  log "installing ${need[*]}"
  made=""
  [[ -e /usr/sbin/policy-rc.d ]] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made=1; }
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  if [[ -n "$made" ]]; then rm -f /usr/sbin/policy-rc.d; fi
fi

mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd)"
ip netns list | grep -qw "$NS" || ip netns add "$NS"
ip netns exec "$NS" ip link set lo up

if [[ ! -e "$DIR/etc/smb.conf" ]]; then
  log "provisioning SAMBA.TEST in $DIR"
  ip netns exec "$NS" samba-tool domain provision --targetdir="$DIR" --realm=SAMBA.TEST --domain=SAMBA \
    --server-role=dc --dns-backend=SAMBA_INTERNAL --adminpass='Admin-pw-1!' --use-rfc2307 \
    --host-ip=127.0.0.1 --option="interfaces=lo" --option="bind interfaces only=yes" >"$DIR/provision.log" 2>&1 || { log "provision failed:"; tail -5 "$DIR/provision.log" >&2; exit 1; }
  conf="$DIR/etc/smb.conf"
  sed -i '/dns forwarder/d' "$conf"
  mkdir -p "$DIR"/{log,run,winbindd,ncalrpc}
  sed -i "/^\[global\]/a\\
\tlog file = $DIR/log/%m.log\\
\tpid directory = $DIR/run\\
\tncalrpc dir = $DIR/ncalrpc\\
\twinbindd socket directory = $DIR/winbindd\\
\tserver services = -dns\\
\tdns update command = /bin/true\\
\tspn update command = /bin/true\\
\tntlm auth = mschapv2-and-ntlmv2-only" "$conf"
  # LDAPS with a certificate Go accepts (Samba's own has no SANs), from a
  # CA of our own; set before the first start. GSSAPI binds over TLS
  # without a SASL security layer (go-ldap has none; AD accepts them).
  mkdir -p "$DIR/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Gatehouse test DC CA" \
    -keyout "$DIR/tls/ca-key.pem" -out "$DIR/tls/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$DIR/tls/key.pem" -out "$DIR/tls/dc.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$DIR/tls/ext.cnf"
  openssl x509 -req -in "$DIR/tls/dc.csr" -CA "$DIR/tls/ca.pem" -CAkey "$DIR/tls/ca-key.pem" -CAcreateserial \
    -days 3650 -extfile "$DIR/tls/ext.cnf" -out "$DIR/tls/cert.pem" 2>/dev/null
  chmod 0600 "$DIR/tls/key.pem" "$DIR/tls/ca-key.pem"; chmod 0644 "$DIR/tls/ca.pem"
  sed -i "/^\[global\]/a\\
\ttls enabled = yes\\
\ttls keyfile = $DIR/tls/key.pem\\
\ttls certfile = $DIR/tls/cert.pem\\
\ttls cafile = $DIR/tls/ca.pem\\
\tldap server require strong auth = allow_sasl_over_tls" "$conf"
  # tdb/ldb files written before start must stay ours
fi
if [[ ! -s "$DIR/samba.pid" ]] || ! kill -0 "$(cat "$DIR/samba.pid")" 2>/dev/null; then
  ip netns exec "$NS" samba -i -M single -s "$DIR/etc/smb.conf" >"$DIR/log/samba.out" 2>&1 &
  echo $! >"$DIR/samba.pid"
  for _ in $(seq 1 150); do
    [[ -S "$DIR/winbindd/pipe" ]] && ip netns exec "$NS" bash -c '(exec 3<>/dev/tcp/127.0.0.1/389)' 2>/dev/null && break
    sleep 0.2
  done
  [[ -S "$DIR/winbindd/pipe" ]] || { log "samba did not start; see $DIR/log"; exit 1; }
  sleep 1
fi
if ! ip netns exec "$NS" samba-tool user show carol -s "$DIR/etc/smb.conf" >/dev/null 2>&1; then
  ip netns exec "$NS" samba-tool user add carol 'Carol-pw-1' -s "$DIR/etc/smb.conf" >/dev/null
  ip netns exec "$NS" samba-tool group add Staff -s "$DIR/etc/smb.conf" >/dev/null 2>&1 || true
  ip netns exec "$NS" samba-tool group addmembers Staff carol -s "$DIR/etc/smb.conf" >/dev/null
fi
# A nested group: Staff is a member of Finance, so carol is in Finance
# only through Staff (tokenGroups and the PAC list it, memberOf does not).
if ! ip netns exec "$NS" samba-tool group show Finance -s "$DIR/etc/smb.conf" >/dev/null 2>&1; then
  ip netns exec "$NS" samba-tool group add Finance -s "$DIR/etc/smb.conf" >/dev/null
  ip netns exec "$NS" samba-tool group addmembers Finance Staff -s "$DIR/etc/smb.conf" >/dev/null
fi
# A service account for Kerberos: HTTP/localhost on gatehouse-svc, AES
# tickets (msDS-SupportedEncryptionTypes 24, as an admin sets it; AD
# defaults to RC4), its keys exported under the account name (Samba 4.17
# exports only RC4 for an SPN; tests relabel the entries, as ktpass or
# msktutil would write them).
if ! ip netns exec "$NS" samba-tool user show gatehouse-svc -s "$DIR/etc/smb.conf" >/dev/null 2>&1; then
  ip netns exec "$NS" samba-tool user add gatehouse-svc 'Svc-pw-12345!' -s "$DIR/etc/smb.conf" >/dev/null
  ip netns exec "$NS" samba-tool spn add HTTP/localhost gatehouse-svc -s "$DIR/etc/smb.conf" >/dev/null
  printf '#!/bin/sh\nsed -i "/^dn:/a msDS-SupportedEncryptionTypes: 24" "$1"\n' >"$DIR/enctypes-editor"
  chmod +x "$DIR/enctypes-editor"
  ip netns exec "$NS" env EDITOR="$DIR/enctypes-editor" samba-tool user edit gatehouse-svc -s "$DIR/etc/smb.conf" >/dev/null
  rm -f "$DIR/svc.keytab"
fi
[[ -s "$DIR/svc.keytab" ]] || ip netns exec "$NS" samba-tool domain exportkeytab "$DIR/svc.keytab" --principal=gatehouse-svc -s "$DIR/etc/smb.conf" >/dev/null
chmod 0644 "$DIR/svc.keytab"
# gatehouse-svc's password, for a simple LDAP bind as that account
printf '%s\n' 'Svc-pw-12345!' >"$DIR/svc.pw"; chmod 0644 "$DIR/svc.pw"
# ldap/localhost on the DC's account, for GSSAPI binds to ldap(s)://localhost
dcname="$(sed -n 's/^[[:space:]]*netbios name = //p' "$DIR/etc/smb.conf" | head -1)"
if ! ip netns exec "$NS" samba-tool spn list "${dcname}\$" -s "$DIR/etc/smb.conf" 2>/dev/null | grep -qi 'ldap/localhost$'; then
  ip netns exec "$NS" samba-tool spn add ldap/localhost "${dcname}\$" -s "$DIR/etc/smb.conf" >/dev/null || true
fi
# An upstream service, HTTP/upstream on gatehouse-up, to which gatehouse-svc
# may delegate (constrained delegation, msDS-AllowedToDelegateTo).
if ! ip netns exec "$NS" samba-tool user show gatehouse-up -s "$DIR/etc/smb.conf" >/dev/null 2>&1; then
  ip netns exec "$NS" samba-tool user add gatehouse-up 'Up-pw-12345!' -s "$DIR/etc/smb.conf" >/dev/null
  ip netns exec "$NS" samba-tool spn add HTTP/upstream gatehouse-up -s "$DIR/etc/smb.conf" >/dev/null
  ip netns exec "$NS" env EDITOR="$DIR/enctypes-editor" samba-tool user edit gatehouse-up -s "$DIR/etc/smb.conf" >/dev/null
  ip netns exec "$NS" samba-tool delegation add-service gatehouse-svc HTTP/upstream -s "$DIR/etc/smb.conf" >/dev/null
  # protocol transition (S4U2Self with a forwardable ticket)
  ip netns exec "$NS" samba-tool delegation for-any-protocol gatehouse-svc on -s "$DIR/etc/smb.conf" >/dev/null
  rm -f "$DIR/up.keytab"
fi
[[ -s "$DIR/up.keytab" ]] || ip netns exec "$NS" samba-tool domain exportkeytab "$DIR/up.keytab" --principal=gatehouse-up -s "$DIR/etc/smb.conf" >/dev/null
chmod 0644 "$DIR/up.keytab"
# Kerberos clients inside the namespace
cat >"$DIR/krb5.conf" <<KRB
[libdefaults]
    default_realm = SAMBA.TEST
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    forwardable = true
[realms]
    SAMBA.TEST = {
        kdc = 127.0.0.1
    }
[domain_realm]
    localhost = SAMBA.TEST
KRB
cat >"$DIR/ntlm_auth" <<WRAP
#!/bin/sh
# ntlm_auth against the throwaway DC: a private /run with its winbindd socket
exec unshare -m sh -c 'mount -t tmpfs tmpfs /run && mkdir -p /run/samba/winbindd && mount --bind "$DIR/winbindd" /run/samba/winbindd && exec /usr/bin/ntlm_auth --configfile="$DIR/etc/smb.conf" "\$@"' ntlm_auth "\$@"
WRAP
chmod 0755 "$DIR/ntlm_auth"
cat <<ENV
export GATEHOUSE_DC_DIR='$DIR'
export GATEHOUSE_NTLM_AUTH='$DIR/ntlm_auth'
export GATEHOUSE_DC_NETNS='$NS'
export GATEHOUSE_DC_KRB5_CONFIG='$DIR/krb5.conf'
export GATEHOUSE_DC_SVC_KEYTAB='$DIR/svc.keytab'
export GATEHOUSE_DC_UP_KEYTAB='$DIR/up.keytab'
ENV
# A DC provisioned by an older version of this script has no LDAPS certificate.
if [[ -s "$DIR/tls/ca.pem" ]]; then
  cat <<ENV
export GATEHOUSE_DC_LDAP_URL='ldaps://localhost:636'
export GATEHOUSE_DC_CA='$DIR/tls/ca.pem'
export GATEHOUSE_DC_BIND_DN='CN=gatehouse-svc,CN=Users,DC=samba,DC=test'
export GATEHOUSE_DC_BIND_PASSWORD_FILE='$DIR/svc.pw'
ENV
fi
