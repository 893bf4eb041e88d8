#!/usr/bin/env bash
# Reference-harness adapter for mailhost (contract: ../shared/bench/README.md).
# Usage: mailhost.sh layout|start|stop WORKDIR
#   ../shared/bench/bench.sh bench/mailhost.sh dovecot-fast
set -euo pipefail
cmd=${1:?layout|start|stop}; W=${2:?WORKDIR}
IMAP_PORT=${IMAP_PORT:-20143}; POP3_PORT=${POP3_PORT:-20110}; NUSERS=${NUSERS:-200}; NSTRONG=${NSTRONG:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${MAILHOST_PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$W"; W=$(cd "$W" && pwd)
case "$cmd" in
layout)
  echo "MAILDIR=$W/mail/%u/Maildir"
  echo "PROTOCOLS=imap pop3"
  echo "PASS_SCHEME=user*: {PLAIN} in a Dovecot passwd-file; suser*: {ARGON2ID} (argon2-cffi defaults), checked in a thread pool with a short success cache"
  ;;
start)
  mkdir -p "$W/mail" "$W/log"
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
  cat > "$W/mailhost.toml" <<TOML
[server]
hostname = "localhost"
data_dir = "$W"
active_sessions = ${ACTIVE_SESSIONS:-8}
[auth]
passwd_file = "$W/passwd"
allow_plaintext_auth = "always"
# user* must stay the cheapest check ({PLAIN}): no upgrade to Argon2id at login
rehash = false
[store]
maildir = "mail/%u/Maildir"
# every client of the harness comes from 127.0.0.1: no per-address or per-user caps
[pop3]
listen = ["tcp:$POP3_PORT:interface=127.0.0.1"]
listen_tls = []
stls = false
max_connections_per_ip = 0
max_connections_per_user = 0
[imap]
listen = ["tcp:$IMAP_PORT:interface=127.0.0.1"]
listen_tls = []
starttls = false
max_connections_per_ip = 0
max_connections_per_user = 0
TOML
  if [ ! -s "$W/passwd" ]; then
    "$PY" - "$W/passwd" "$NUSERS" "$NSTRONG" <<'PY'
import sys
from mailhost.auth.passwd import hash_password
path, nusers, nstrong = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
strong = hash_password("pass")
with open(path, "w") as fh:
    for i in range(1, nusers + 1):
        fh.write(f"user{i}:{{PLAIN}}pass::::::\n")
    for i in range(1, nstrong + 1):
        fh.write(f"suser{i}:{strong}::::::\n")
PY
  fi
  nohup "$PY" -m mailhost.cli serve --config "$W/mailhost.toml" > "$W/log/mailhost.log" 2>&1 &
  echo $! > "$W/server.pid"
  for _ in $(seq 1 300); do
    python3 -c "import socket; [socket.create_connection(('127.0.0.1', p), 0.5).close() for p in ($IMAP_PORT, $POP3_PORT)]" 2>/dev/null && break
    kill -0 "$(cat "$W/server.pid")" 2>/dev/null || { cat "$W/log/mailhost.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "PID=$(cat "$W/server.pid")"
  echo "MAILDIR=$W/mail/%u/Maildir"
  ;;
stop)
  if [ -s "$W/server.pid" ]; then
    pid=$(cat "$W/server.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$W/server.pid"
  fi
  ;;
*) echo "usage: $0 layout|start|stop WORKDIR" >&2; exit 2;;
esac
