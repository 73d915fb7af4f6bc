#!/usr/bin/env bash
# scripts/bench/compare.sh: roomio side by side with Node socket.io (docs/benchmarks.md, "Side by side
# with Node socket.io"). Not run by CI: it takes minutes and wants a quiet machine.
#
#   scripts/bench/compare.sh [SCENARIO...]       # default: fanout fanoutrate idle rooms
#   REPS=3 RATE=30 scripts/bench/compare.sh fanout fanoutrate
#   B_CMD='exec /tmp/roomio-new -addr 127.0.0.1:$PORT -log-level error -max-conns-per-ip -1 -event-rate 0 -api-addr ""' \
#     A_CMD='exec /tmp/roomio-old -addr 127.0.0.1:$PORT -log-level error -max-conns-per-ip -1 -event-rate 0 -api-addr ""' \
#     scripts/bench/compare.sh fanout                # two roomio builds against each other
#   scripts/bench/compare.sh 2>/dev/null | grep '^RATIO'
#
# A and B are two Socket.IO servers speaking the chat contract of roomio's built-in app (join(room) with
# an ack {ok:true,...}; say(room, payload) -> said {room, from, payload} to every member, sender
# included). By default:
#   A = Node socket.io 4.8.4 running scripts/bench/ref/chat-server.mjs (npm ci into $WORK_DIR/ref,
#       outside the repository), command `exec node $WORK_DIR/ref/chat-server.mjs`
#   B = this checkout's roomio node (go build ./cmd/roomio into $WORK_DIR/bin), command
#       `exec $WORK_DIR/bin/roomio -addr 127.0.0.1:$PORT -log-level error -max-conns-per-ip -1 -event-rate 0 -api-addr ""`
# A_CMD / B_CMD replace them: a shell command run with `bash -c` in the repository root, in a session of
# its own, with PORT and HOST=127.0.0.1 in its environment; it must serve /socket.io/ on 127.0.0.1:$PORT
# and answer 200 on GET /readyz (or, where /readyz is 404, on GET /healthz). Use `exec` so that the
# server is the session's process; every process of the session is sampled.
#
# The load generator is roomio-bench (cmd/roomio-bench), Socket.IO v5 over WebSocket. Scenarios:
#   fanout      FANOUT_CLIENTS (1000) in one room, the first of them publishing flat out (WINDOW emits in
#               flight), 64-byte payload, DURATION (10s)
#   fanoutrate  the same room at a fixed RATE (30) emits/s: cost and latency below saturation
#   idle        IDLE_CLIENTS (5000) connections spread over IDLE_ROOMS (500) rooms, held HOLD (10s): the
#               server's RSS growth per connection
#   rooms       ROOMS_CLIENTS (2000) clients over ROOMS (200) rooms, one of them a publisher in every room
#               emitting into them in turn, flat out, DURATION
#   roomsrate   the same rooms with the publisher at a fixed ROOMS_RATE (3000) emits/s, ~11 deliveries
#               each: cost and latency below saturation, at the same load on both sides (rooms measures
#               each side at its own throughput). Not in the default list.
#   cluster     three server processes as one: CLUSTER_CLIENTS (999) in one room spread round-robin over
#               the three, the first (on the first process) publishing flat out, DURATION. Not in the
#               default list. A = three Node reference processes sharing a redis-server through
#               @socket.io/redis-adapter (needs redis-server and redis-cli); B = three roomio nodes in one
#               cluster (gossip and remote on 127.0.0.1, a fresh cluster key per run). Node i serves
#               port PORT+100*i; every process of both sides, redis included, is sampled.
#               A_CLUSTER_CMD / B_CLUSTER_CMD replace the commands (see cluster_cmd below).
# Every run gets a freshly started server; runs alternate A B A B ..., REPS (2) times per scenario.
# roomio-bench samples the server's CPU time and RSS from /proc over the measured window (after every
# client connected and joined, until the last delivery arrived or the hold ended). The table on stdout
# gives per scenario the median [min .. max] of each side and B/A of the medians: server CPU µs per
# delivery and its system (kernel) part, deliveries/s, p50 and p99 latency (ms), server CPU % (100 = one
# core), the load generator's own CPU µs per delivery, RSS KiB per connection (idle), connects/s (idle); then WARN lines for runs with errors, losses or missing deliveries, and one
#   RATIO <scenario>.<metric> B/A=<x> (A=<median> B=<median>)
# line per metric. Progress and each run's summary go to stderr.
#
# Knobs (env): REPS=2 DURATION=10s HOLD=10s RATE=30 WINDOW=64 PAYLOAD=64 FANOUT_CLIENTS=1000
#   IDLE_CLIENTS=5000 IDLE_ROOMS=500 ROOMS_CLIENTS=2000 ROOMS=200 ROOMS_RATE=3000 CLUSTER_CLIENTS=999
#   CONCURRENCY=100
#   PROTOCOL=socketio (socketio-polling: HTTP long-polling without upgrade, for both sides)
#   RECOVERY_S (unset: each side's default, Node without connection state recovery, roomio with 2 min;
#   a number of seconds: both sides recover that long, 0: neither; the cluster scenario keeps defaults)
#   A_PORT=4201
#   B_PORT=4202 START_TIMEOUT=60 (seconds) WORK_DIR=${TMPDIR:-/tmp}/roomio-compare A_CMD B_CMD
# Results: one JSON document per run in $WORK_DIR/results/compare-<stamp>.json (labels A:<scenario>,
# B:<scenario>; `roomio-bench compare FILE` prints the table again), server output in
# compare-<stamp>-{A,B}.log. Exit status: non-zero if a server did not start or a run failed.
# Every process the script starts is stopped on exit (SIGTERM to its session, SIGKILL after 5 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK_DIR=${WORK_DIR:-${TMPDIR:-/tmp}/roomio-compare}
BIN_DIR=$WORK_DIR/bin
REF_DIR=$WORK_DIR/ref
OUT_DIR=$WORK_DIR/results
BENCH=$BIN_DIR/roomio-bench

REPS=${REPS:-2}
DURATION=${DURATION:-10s}
HOLD=${HOLD:-10s}
RATE=${RATE:-30}
ROOMS_RATE=${ROOMS_RATE:-3000}
WINDOW=${WINDOW:-64}
PAYLOAD=${PAYLOAD:-64}
FANOUT_CLIENTS=${FANOUT_CLIENTS:-1000}
IDLE_CLIENTS=${IDLE_CLIENTS:-5000}
IDLE_ROOMS=${IDLE_ROOMS:-500} # 10 per room: in one shared room every join is announced to all earlier members
ROOMS_CLIENTS=${ROOMS_CLIENTS:-2000}
ROOMS=${ROOMS:-200}
CLUSTER_CLIENTS=${CLUSTER_CLIENTS:-999}
CONCURRENCY=${CONCURRENCY:-100}
PROTOCOL=${PROTOCOL:-socketio} # roomio-bench -protocol: socketio (WebSocket) or socketio-polling
A_PORT=${A_PORT:-4201}
B_PORT=${B_PORT:-4202}
START_TIMEOUT=${START_TIMEOUT:-60}

# RECOVERY_S unset: each side's default (Node: no connection state recovery; roomio: 2 min). Set, both
# sides recover for that many seconds (0: neither), so that the two do the same work per packet.
REF_ENV="" ROOMIO_RECOVERY=""
if [ -n "${RECOVERY_S:-}" ]; then
  case $RECOVERY_S in *[!0-9]*) echo "compare.sh: RECOVERY_S must be a number of seconds" >&2; exit 2 ;; esac
  REF_ENV="RECOVERY_MS=$((RECOVERY_S * 1000)) " ROOMIO_RECOVERY=" -recovery ${RECOVERY_S}s"
fi
REF_CMD="${REF_ENV}exec node $REF_DIR/chat-server.mjs"
ROOMIO_CMD="exec $BIN_DIR/roomio -addr 127.0.0.1:\$PORT -log-level error -max-conns-per-ip -1 -event-rate 0 -api-addr ''$ROOMIO_RECOVERY"
A_CMD=${A_CMD:-$REF_CMD}
B_CMD=${B_CMD:-$ROOMIO_CMD}
# The cluster scenario's sides: one session holding every process; node i on port PORT+100*i.
REF_CLUSTER_CMD="R=\$((PORT+300)); redis-server --port \$R --bind 127.0.0.1 --save '' --appendonly no & \
until redis-cli -p \$R ping >/dev/null 2>&1; do sleep 0.1; done; \
for i in 0 1 2; do PORT=\$((PORT+100*i)) REDIS_URL=redis://127.0.0.1:\$R node $REF_DIR/chat-server.mjs & done; wait"
ROOMIO_CLUSTER_CMD="K=\$(head -c 32 /dev/urandom | base64); for i in 0 1 2; do \
$BIN_DIR/roomio -addr 127.0.0.1:\$((PORT+100*i)) -cluster-addr 127.0.0.1:\$((PORT+400+100*i)) \
-remote-addr 127.0.0.1:\$((PORT+700+100*i)) -cluster-key \$K \$([ \$i = 0 ] || echo -join 127.0.0.1:\$((PORT+400))) \
-log-level error -max-conns-per-ip -1 -event-rate 0 -api-addr '' & done; wait"
A_CLUSTER_CMD=${A_CLUSTER_CMD:-$REF_CLUSTER_CMD}
B_CLUSTER_CMD=${B_CLUSTER_CMD:-$ROOMIO_CLUSTER_CMD}

die() { echo "compare.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(fanout fanoutrate idle rooms)
for s in "${SCENARIOS[@]}"; do
  case $s in fanout | fanoutrate | idle | rooms | roomsrate | cluster) ;; *) die "unknown scenario '$s' (fanout, fanoutrate, idle, rooms, roomsrate, cluster)" ;; esac
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS=$REPS: want a positive integer"
for tool in go curl ps ss; do command -v $tool >/dev/null || die "$tool not found"; done

# ---- processes: at most one server (a session) and one roomio-bench at a time ----
SRV_PID="" # the server's session (and process group) leader
BENCH_PID=""
session_alive() { ps -o stat= -s "$1" 2>/dev/null | grep -qv '^Z'; }
stop_server() {
  [ -n "$SRV_PID" ] || return 0
  local i
  kill -TERM -- "-$SRV_PID" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    session_alive "$SRV_PID" || break
    sleep 0.1
  done
  kill -KILL -- "-$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}
cleanup() {
  if [ -n "$BENCH_PID" ]; then
    kill "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
    BENCH_PID=""
  fi
  stop_server
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Thousands of sockets on each side of loopback, in this shell's children.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
need_fds=$((2 * ${IDLE_CLIENTS} + 2 * ${ROOMS_CLIENTS} + 256))
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$need_fds" ] ||
  log "warning: ulimit -n is $(ulimit -n); the larger scenarios may need $need_fds"

port_in_use() { [ -n "$(ss -ltnH "( sport = :$1 )" 2>/dev/null)" ]; }
http_code() { curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$1$2" || true; }
# ready PORT: /readyz 200, or /healthz 200 on a server without /readyz.
ready() {
  local r
  r=$(http_code "$1" /readyz)
  [ "$r" = 200 ] && return 0
  [ "$r" = 404 ] && [ "$(http_code "$1" /healthz)" = 200 ]
}

# start_server CMD PORT LOG [NODES]: starts CMD in a session of its own, waits until it is ready on PORT
# (and, with NODES > 1, on PORT+100, PORT+200, ...); sets SRV_PID and SRV_PIDS (the session's processes,
# comma-separated, for roomio-bench -pid).
all_ready() {
  local k
  for ((k = 0; k < $2; k++)); do ready $(($1 + 100 * k)) || return 1; done
}
start_server() {
  local i nodes=${4:-1}
  for ((i = 0; i < 50; i++)); do port_in_use "$2" || break; sleep 0.1; done
  port_in_use "$2" && die "port $2 is in use (A_PORT/B_PORT move the servers)"
  (cd "$ROOT" && PORT=$2 HOST=127.0.0.1 exec setsid bash -c "$1") >>"$3" 2>&1 &
  SRV_PID=$!
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    all_ready "$2" "$nodes" && break
    kill -0 "$SRV_PID" 2>/dev/null || { tail -20 "$3" >&2; die "server exited before it was ready (log $3)"; }
    sleep 0.1
  done
  [ "$i" -lt $((START_TIMEOUT * 10)) ] || { tail -20 "$3" >&2; die "not ready on :$2 within ${START_TIMEOUT}s (log $3)"; }
  SRV_PIDS=$(ps -o pid= -s "$SRV_PID" | tr -d ' ' | paste -sd, -)
  [ -n "$SRV_PIDS" ] || die "no process in the server's session $SRV_PID"
}

# ---- build and install ----
mkdir -p "$BIN_DIR" "$OUT_DIR"
log "building roomio-bench -> $BENCH"
(cd "$ROOT" && go build -o "$BENCH" ./cmd/roomio-bench)
if [ "$A_CMD" = "$ROOMIO_CMD" ] || [ "$B_CMD" = "$ROOMIO_CMD" ] || [[ " ${SCENARIOS[*]} " == *" cluster "* ]]; then
  log "building roomio -> $BIN_DIR/roomio"
  (cd "$ROOT" && go build -o "$BIN_DIR/roomio" ./cmd/roomio)
fi
if [ "$A_CMD" = "$REF_CMD" ] || [ "$B_CMD" = "$REF_CMD" ] || [[ " ${SCENARIOS[*]} " == *" cluster "* ]]; then
  command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed for the reference server"
  mkdir -p "$REF_DIR"
  fresh=1
  for f in chat-server.mjs package.json package-lock.json; do
    cmp -s "$ROOT/scripts/bench/ref/$f" "$REF_DIR/$f" || { cp "$ROOT/scripts/bench/ref/$f" "$REF_DIR/$f"; fresh=0; }
  done
  if [ $fresh = 0 ] || [ ! -d "$REF_DIR/node_modules/socket.io" ]; then
    log "npm ci in $REF_DIR"
    (cd "$REF_DIR" && npm ci --no-audit --no-fund >&2)
  fi
fi

# ---- runs ----
STAMP=$(date -u +%Y%m%d-%H%M%S)
RESULTS=$OUT_DIR/compare-$STAMP.json
RUN_JSON=$OUT_DIR/compare-$STAMP.run.json
: >"$RESULTS"
scenario_args() { # scenario -> roomio-bench arguments
  case $1 in
    fanout) echo -scenario fanout -clients "$FANOUT_CLIENTS" -publishers 1 -rate 0 -window "$WINDOW" -payload "$PAYLOAD" -duration "$DURATION" ;;
    fanoutrate) echo -scenario fanout -clients "$FANOUT_CLIENTS" -publishers 1 -rate "$RATE" -payload "$PAYLOAD" -duration "$DURATION" ;;
    idle) echo -scenario idle -clients "$IDLE_CLIENTS" -rooms "$IDLE_ROOMS" -duration "$HOLD" ;;
    rooms) echo -scenario rooms -clients "$ROOMS_CLIENTS" -rooms "$ROOMS" -publishers 1 -rate 0 -window "$WINDOW" -payload "$PAYLOAD" -duration "$DURATION" ;;
    roomsrate) echo -scenario rooms -clients "$ROOMS_CLIENTS" -rooms "$ROOMS" -publishers 1 -rate "$ROOMS_RATE" -payload "$PAYLOAD" -duration "$DURATION" ;;
    cluster) echo -scenario fanout -clients "$CLUSTER_CLIENTS" -publishers 1 -rate 0 -window "$WINDOW" -payload "$PAYLOAD" -duration "$DURATION" ;;
  esac
}
FAILED=0
for s in "${SCENARIOS[@]}"; do
  read -ra args <<<"$(scenario_args "$s")"
  for ((i = 1; i <= REPS; i++)); do
    for side in A B; do
      if [ $side = A ]; then cmd=$A_CMD port=$A_PORT; else cmd=$B_CMD port=$B_PORT; fi
      nodes=1 url="http://127.0.0.1:$port"
      if [ "$s" = cluster ]; then
        if [ $side = A ]; then cmd=$A_CLUSTER_CMD; else cmd=$B_CLUSTER_CMD; fi
        nodes=3 url="$url,http://127.0.0.1:$((port + 100)),http://127.0.0.1:$((port + 200))"
      fi
      log "$side $s run $i/$REPS ($(date -u +%T))"
      start_server "$cmd" "$port" "$OUT_DIR/compare-$STAMP-$side.log" "$nodes"
      rm -f "$RUN_JSON"
      "$BENCH" "${args[@]}" -url "$url" -protocol "$PROTOCOL" -concurrency "$CONCURRENCY" -q \
        -pid "$SRV_PIDS" -label "$side:$s" -json "$RUN_JSON" >&2 &
      BENCH_PID=$!
      if wait "$BENCH_PID" && [ -s "$RUN_JSON" ]; then
        cat "$RUN_JSON" >>"$RESULTS"
      else
        FAILED=$((FAILED + 1))
        log "FAILED: $side $s run $i"
      fi
      BENCH_PID=""
      stop_server
    done
  done
done
rm -f "$RUN_JSON"

echo "A: $A_CMD (port $A_PORT)"
echo "B: $B_CMD (port $B_PORT)"
echo "scenarios ${SCENARIOS[*]}; PROTOCOL=$PROTOCOL RECOVERY_S=${RECOVERY_S:-default} REPS=$REPS DURATION=$DURATION HOLD=$HOLD RATE=$RATE ROOMS_RATE=$ROOMS_RATE WINDOW=$WINDOW PAYLOAD=$PAYLOAD" \
  "FANOUT_CLIENTS=$FANOUT_CLIENTS IDLE_CLIENTS=$IDLE_CLIENTS IDLE_ROOMS=$IDLE_ROOMS ROOMS_CLIENTS=$ROOMS_CLIENTS ROOMS=$ROOMS"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //'), $(date -u +%F)"
echo "results: $RESULTS"
if [ -s "$RESULTS" ]; then
  "$BENCH" compare "$RESULTS"
fi
echo "ELAPSED ${SECONDS}s"
[ "$FAILED" = 0 ] || die "$FAILED run(s) failed"
