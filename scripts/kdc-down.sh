#!/usr/bin/env bash
# kdc-down.sh [DIR] [--purge] -- stop the krb5kdc that scripts/kdc-up.sh
# started in DIR (default /tmp/gatehouse-kdc). Only the pid in DIR/krb5kdc.pid
# is signalled, and only after /proc/PID/comm says it is a krb5kdc. With
# --purge (or PURGE=1) DIR is deleted as well.
set -euo pipefail

DIR="/tmp/gatehouse-kdc"
PURGE="${PURGE:-0}"
for a in "$@"; do
  case "$a" in
    --purge) PURGE=1 ;;
    -*) echo "usage: $0 [DIR] [--purge]" >&2; exit 2 ;;
    *) DIR="$a" ;;
  esac
done
PIDFILE="$DIR/krb5kdc.pid"
log() { echo "kdc-down: $*" >&2; }

if [[ -s "$PIDFILE" ]]; then
  pid="$(cat "$PIDFILE")"
  if [[ "$pid" =~ ^[0-9]+$ && "$(cat "/proc/$pid/comm" 2>/dev/null)" == krb5kdc ]]; then
    kill "$pid"
    for _ in $(seq 1 100); do [[ -e "/proc/$pid" ]] || break; sleep 0.05; done
    if [[ -e "/proc/$pid" ]]; then log "krb5kdc pid $pid did not exit"; exit 1; fi
    log "stopped krb5kdc pid $pid"
  else
    log "pid file names $pid, which is not a running krb5kdc; nothing to stop"
  fi
  rm -f "$PIDFILE"
else
  log "no pid file $PIDFILE; nothing to stop"
fi
if [[ "$PURGE" == 1 ]]; then
  # Refuse to remove something that is clearly not a realm directory.
  if [[ -d "$DIR" && ( -e "$DIR/kdc.conf" || -z "$(ls -A "$DIR")" ) ]]; then
    rm -rf -- "$DIR"
    log "removed $DIR"
  elif [[ -e "$DIR" ]]; then
    log "$DIR does not look like a kdc-up.sh directory; not removing it"
    exit 1
  fi
fi
