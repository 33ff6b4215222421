#!/usr/bin/env bash
# A MongoDB wire-protocol server (SecantusDB, in its own venv .venv-mongo) on the loopback interface.
#   scripts/mongo-local.sh start [--port PORT] [--dir DIR] [--user USER]
#   scripts/mongo-local.sh stop  [--dir DIR]
#   scripts/mongo-local.sh status [--port PORT]
# DIR (default .phyneo/mongo) holds the data, server.pid and server.log; one server per DIR.
# --user USER provisions USER (password from $MONGO_LOCAL_PASSWORD, never from the command line, so it
# never shows in `ps`) with root rights on first start, then runs the server with --auth.
# Idempotent: start on a running server and stop on a stopped one do nothing. Listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=27017
DIR=$ROOT/.phyneo/mongo
USER_NAME=""
cmd=${1:-}
shift || true
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --user) USER_NAME=$2; shift 2 ;;
    *) echo "mongo-local: unknown option $1" >&2; exit 64 ;;
  esac
done
case "$PORT" in ''|*[!0-9]*) echo "mongo-local: --port must be a number" >&2; exit 64 ;; esac
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PY=$ROOT/.venv-mongo/bin/python
SERVER=$ROOT/.venv-mongo/bin/secantusd-py
PIDFILE=$DIR/server.pid
LOG=$DIR/server.log

running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# Answers a ping (any reply, even "unauthorized", means the server is up).
answers() {
  "$PY" - "$PORT" <<'PYEOF' >/dev/null 2>&1
import sys
import pymongo
from pymongo.errors import OperationFailure
c = pymongo.MongoClient("127.0.0.1", int(sys.argv[1]), directConnection=True, serverSelectionTimeoutMS=500)
try:
    c.admin.command("ping")
except OperationFailure:
    pass
PYEOF
}

launch() {  # launch [extra flags...]; waits until it answers
  setsid "$SERVER" --host 127.0.0.1 --port "$PORT" --storage-path "$DIR/data" --log-level WARNING "$@" \
    >>"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 80); do answers && return 0; running || break; sleep 0.25; done
  echo "mongo-local: server did not come up on 127.0.0.1:$PORT (see $LOG)" >&2
  return 1
}

halt() {
  running || { rm -f "$PIDFILE"; return 0; }
  local pid
  pid=$(cat "$PIDFILE")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$PIDFILE"
}

start() {
  [ -x "$SERVER" ] || { echo "mongo-local: $SERVER missing (run scripts/setup-cluster.sh)" >&2; exit 3; }
  if running; then echo "mongo-local: already running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"; return 0; fi
  if [ -n "$USER_NAME" ]; then
    [ -n "${MONGO_LOCAL_PASSWORD:-}" ] || { echo "mongo-local: --user needs MONGO_LOCAL_PASSWORD" >&2; exit 64; }
    if [ ! -f "$DIR/.user-$USER_NAME" ]; then
      launch
      MONGO_LOCAL_USER=$USER_NAME "$PY" - "$PORT" <<'PYEOF'
import os, sys
import pymongo
c = pymongo.MongoClient("127.0.0.1", int(sys.argv[1]), directConnection=True)
c.admin.command("createUser", os.environ["MONGO_LOCAL_USER"], pwd=os.environ["MONGO_LOCAL_PASSWORD"],
                roles=[{"role": "root", "db": "admin"}])
PYEOF
      touch "$DIR/.user-$USER_NAME"
      halt
    fi
    launch --auth
  else
    launch
  fi
  echo "mongo-local: up on 127.0.0.1:$PORT (data in $DIR/data)"
}

case "$cmd" in
  start) start ;;
  stop) halt; echo "mongo-local: stopped" ;;
  status) running && answers ;;
  *) echo "usage: $0 start|stop|status [--port PORT] [--dir DIR] [--user USER]" >&2; exit 64 ;;
esac
