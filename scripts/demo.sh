#!/usr/bin/env bash
# `npm run demo`: the fastest way to see the relay work. Starts a private ActiveMQ, the relay
# (SQLite in a temp dir, http://127.0.0.1:$PORT, default 8000) and the testbed simulator
# (`swf-relay send --simulate`); prints the page URL, a token and commands to watch the stream.
# Ctrl-C stops everything and deletes the temp dir. Needs Node.js and Debian's activemq package
# (installed here if missing and we are root, or have passwordless sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-8000}
START_TIMEOUT_S=60   # broker and relay each
STOP_TIMEOUT_S=15    # per process, then SIGKILL

say() { echo "demo: $*"; }
source scripts/lib.sh

# --- prerequisites ----------------------------------------------------------------------------
activemq_present || say "ActiveMQ is missing ($ACTIVEMQ_JAR and java are needed)"
ensure_package activemq activemq_present || exit 1
[ -d node_modules ] || { say "installing npm dependencies"; npm install --no-audit --no-fund; }
say "building"
npm run --silent build

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if port_in_use "$PORT"; then
  say "port $PORT is already in use; choose another one: PORT=8080 npm run demo" >&2
  exit 1
fi
AMQ_PORT=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')

# --- processes, and stopping them -------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/swf-relay-demo.XXXXXX")
names=() pids=()
stop_all() {
  trap - EXIT INT TERM
  echo
  say "stopping"
  local i pid waited
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do   # newest first: simulator, relay, broker
    pid=${pids[i]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null || true
    for ((waited = 0; waited < STOP_TIMEOUT_S * 10; waited++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then say "${names[i]} did not stop within ${STOP_TIMEOUT_S} s; killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  say "stopped"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts a background process with its output in $work/NAME.log.
run() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  names+=("$name") pids+=($!)
}
# Fails with the tail of NAME's log when it is no longer running.
check_alive() {
  local i
  for i in "${!names[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      say "${names[i]} exited unexpectedly; last lines of $work/${names[i]}.log:" >&2
      tail -n 20 "$work/${names[i]}.log" >&2 || true
      exit 1
    fi
  done
}
# Polls CHECK (a command) every 0.2 s until it succeeds; WHAT names it in the error.
wait_for() {
  local what=$1 i
  shift
  for ((i = 0; i < START_TIMEOUT_S * 5; i++)); do
    "$@" && return 0
    check_alive
    sleep 0.2
  done
  say "timed out after ${START_TIMEOUT_S} s waiting for $what" >&2
  exit 1
}
stomp_ready() {
  local reply=''
  # In a group: a redirection on a bare `exec` would apply to the whole script.
  { exec 3<>"/dev/tcp/127.0.0.1/$AMQ_PORT"; } 2>/dev/null || return 1
  printf 'CONNECT\naccept-version:1.2\nhost:localhost\n\n\0' >&3 2>/dev/null || true
  IFS= read -r -t 2 reply <&3 || true
  exec 3>&- 3<&-
  [[ $reply == CONNECTED* ]]
}
relay_subscribed() {
  node -e '
    fetch(process.argv[1], { headers: { Authorization: `Token ${process.argv[2]}` } })
      .then((r) => r.json()).then((s) => process.exit(s.broker && s.broker.state === "connected" ? 0 : 1), () => process.exit(1));
  ' "http://127.0.0.1:$PORT/api/messages/stream/status/" "$TOKEN"
}

# --- broker, relay, simulator ----------------------------------------------------------------
say "starting a private ActiveMQ on 127.0.0.1:$AMQ_PORT"
run activemq bash scripts/private-activemq.sh "$work/activemq" "$AMQ_PORT"
wait_for "ActiveMQ to answer STOMP" stomp_ready

# The relay's settings; exported variables win over a .env file in this directory.
export DATABASE_URL="sqlite:$work/relay.db" HOST=127.0.0.1 PORT ACTIVEMQ_HOST=127.0.0.1 ACTIVEMQ_PORT="$AMQ_PORT" \
  ACTIVEMQ_USE_SSL=false ACTIVEMQ_HEARTBEAT_TOPIC=epictopic ACTIVEMQ_CLIENT_ID=swf-relay-demo LOG_LEVEL="${LOG_LEVEL:-info}"
TOKEN=$(node bin/swf-relay.js token create demo --create-user --name demo)
say "starting the relay on http://127.0.0.1:$PORT"
run relay node bin/swf-relay.js start
wait_for "the relay to subscribe to the broker" relay_subscribed
run simulator node bin/swf-relay.js send --simulate

url="http://127.0.0.1:$PORT"
cat <<INFO

  swf-relay demo is running — simulated testbed runs flow through ActiveMQ to the relay.

  page      $url/
  token     $TOKEN
  curl      curl -N -H "Authorization: Token $TOKEN" '$url/api/messages/stream/?msg_types=run_imminent,start_run,stf_gen,end_run'
  terminal  SWF_API_TOKEN=$TOKEN npx swf-relay receive $url
  python    SWF_API_TOKEN=$TOKEN PYTHONPATH=clients/python python3 -m swf_relay_client $url
  publish   ACTIVEMQ_PORT=$AMQ_PORT npx swf-relay send '{"msg_type":"hello","run_id":"1"}'
  logs      $work/{activemq,relay,simulator}.log

  Ctrl-C stops everything.

INFO
# Also stop when whoever started us is gone (e.g. `npm run demo` killed without its process group).
parent=$PPID
while kill -0 "$parent" 2>/dev/null; do
  check_alive
  sleep 1
done
say "the process that started the demo is gone"
