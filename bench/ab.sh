#!/usr/bin/env bash
# `make bench-ab BASE=<commit>`: this worker against another commit's build, paired. Both release
# builds (and the floor) are served by Miniflare side by side, and the load generator measures
# them in turns, the order rotated every round, so that drift in a noisy machine's speed falls on
# all of them alike; it prints each round and the medians. `make bench` compares with the floor
# in one run; this says whether a change moved the worker itself.
#   BASE (default: origin/main, else HEAD~1), ROUNDS (6), ROOMS (100), SECS (5), PROTO (edge, or
#   peerjs: the PeerJS endpoint, ROOMS pairs of ids; the floor speaks only rooms, so it is left out)
#   MODE=join: rounds of JOINS (500) sequential joins instead of relay runs, each with the CPU
#   time its workerd used per join (/proc: user + system), steadier than the latency on two cores
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${BASE:-$(git rev-parse --verify -q origin/main || git rev-parse HEAD~1)}"
ROUNDS="${ROUNDS:-6}"
ROOMS="${ROOMS:-100}"
SECS="${SECS:-5}"
PROTO="${PROTO:-edge}"
MODE="${MODE:-relay}"
JOINS="${JOINS:-500}"
dir=target/bench-ab
mkdir -p "$dir"

# The base's build, in a worktree of its own (its compiled files under $dir/target).
rm -rf "$dir/base"
git worktree prune
git worktree add --detach -q "$dir/base" "$BASE"
trap 'git worktree remove --force "$dir/base" 2>/dev/null || true; pkill -f "bench/serve.mjs .* 91[0-9][0-9]" || true' EXIT
# Only its build runs there (never npm): node_modules is this checkout's.
ln -s "$PWD/node_modules" "$dir/base/node_modules"
echo "bench-ab: building $BASE" >&2
(cd "$dir/base" && CARGO_TARGET_DIR="$PWD/../target" bash scripts/build.sh > ../base-build.log 2>&1) \
  || { tail -n 20 "$dir/base-build.log"; exit 1; }
echo "bench-ab: building HEAD (and the working tree)" >&2
bash scripts/build.sh > "$dir/head-build.log" 2>&1 || { tail -n 20 "$dir/head-build.log"; exit 1; }
cargo build --release --quiet -p loadgen

declare -A port=([base]=9101 [head]=9102 [floor]=9103) server
node bench/serve.mjs edge 9101 "$dir/base/build" > "$dir/base.log" 2>&1 & server[base]=$!
node bench/serve.mjs edge 9102 > "$dir/head.log" 2>&1 & server[head]=$!
node bench/serve.mjs floor 9103 > "$dir/floor.log" 2>&1 & server[floor]=$!
for t in base head floor; do
  # serve.mjs names the build's modules (index.js, index_bg.wasm): a BASE built otherwise stops.
  until grep -q ready "$dir/$t.log" 2>/dev/null; do
    kill -0 "${server[$t]}" 2>/dev/null || { echo "bench-ab: $t did not start:" >&2; cat "$dir/$t.log" >&2; exit 1; }
    sleep 0.2
  done
done

# The workerd each serve.mjs started ("ready <port> <pid>"), whose CPU time MODE=join reports.
declare -A pid
for t in base head floor; do pid[$t]=$(awk '/^ready/ {print $3; exit}' "$dir/$t.log"); done

lg=target/release/loadgen
names=(base head floor)
path=""
if [ "$PROTO" = peerjs ]; then names=(base head); path=/peerjs; fi
out="$dir/results.txt"
: > "$out"
for ((round = 0; round < ROUNDS; round++)); do
  for ((k = 0; k < ${#names[@]}; k++)); do
    t=${names[$(((k + round) % ${#names[@]}))]}
    if [ "$MODE" = join ]; then
      r=$($lg join --url "ws://127.0.0.1:${port[$t]}$path" --proto "$PROTO" --count "$JOINS" --pid "${pid[$t]}")
      echo "$t join $r" | tee -a "$out"
    else
      r=$($lg relay --url "ws://127.0.0.1:${port[$t]}$path" --proto "$PROTO" --rooms "$ROOMS" --secs "$SECS")
      echo "$t relay $r" | tee -a "$out"
    fi
  done
done
if [ "$MODE" != join ]; then
  for t in "${names[@]}"; do
    r=$($lg join --url "ws://127.0.0.1:${port[$t]}$path" --proto "$PROTO" --count 1000)
    echo "$t join $r" | tee -a "$out"
  done
fi
python3 - "$out" "$BASE" "$ROOMS" "$PROTO" "$MODE" "$JOINS" <<'PY'
import json, statistics, sys
rows = [line.split(" ", 2) for line in open(sys.argv[1])]
if sys.argv[5] == "join":
    print(f"\nbench-ab: medians over rounds of {sys.argv[6]} sequential joins (base = {sys.argv[2]}, {sys.argv[4]})")
    print("| target | join p50 ms | workerd CPU per join ms |")
    print("|---|---:|---:|")
    for t in ("base", "head", "floor"):
        joins = [json.loads(r[2]) for r in rows if r[0] == t]
        if joins:
            p50 = statistics.median(x["p50_ms"] for x in joins)
            cpu = statistics.median(x["cpu_ms_per_join"] for x in joins)
            print(f"| {t} | {p50:.2f} | {cpu:.2f} |")
    sys.exit(0)
print(f"\nbench-ab: medians (base = {sys.argv[2]}, {sys.argv[4]} relay with {sys.argv[3]} rooms)")
print("| target | relay p50 ms | relay msgs/s | join p50 ms |")
print("|---|---:|---:|---:|")
for t in ("base", "head", "floor"):
    if not any(r[0] == t for r in rows):
        continue
    rel = [json.loads(r[2]) for r in rows if r[0] == t and r[1] == "relay"]
    join = [json.loads(r[2]) for r in rows if r[0] == t and r[1] == "join"][0]
    p50 = statistics.median(x["p50_ms"] for x in rel)
    rate = statistics.median(x["messages_per_sec"] for x in rel)
    print(f"| {t} | {p50:.2f} | {rate:.0f} | {join['p50_ms']:.2f} |")
PY
