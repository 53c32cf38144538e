#!/usr/bin/env bash
# Runs the seed's counter application (examples/hono-counter: hono, the
# Counter Durable Object, `await stub.increment()` over RPC) on
# Cloudflare's open-source runtime workerd, and the same application on
# a local three-node dobj, with the same load generator and client
# counts, and prints ops/s at 64 clients and p50 at 1 client for each.
#
#   bash bench/workerd.sh [--duration 8s] [--warmup 2s] [--rounds 1] [--storage disk|memory|both] [--serve-args ARGS] [--keep]
#
# Rows (1000 counters, POST /<name>/increment, `dobj bench`):
#   workerd disk     one workerd process, the Durable Objects' SQLite
#                    storage on local disk (durableObjectStorage localDisk)
#   workerd memory   the same with in-memory storage (lost on exit)
#   dobj worker      dobj bench --op worker-increment: the application
#                    through the three nodes' Worker listeners, each
#                    Worker calling the object on the leader, replicated
#   dobj class       dobj bench --op class-increment: the same increment
#                    as a direct class call through the API
# Every row is a fresh server, primed with one unmeasured run over its
# counters: workerd with empty storage (creating a counter's database
# costs workerd a file), and a three-node dobj (an SQLite-backed
# counter's first call creates its database on every node). With
# --rounds N the table has each row's median and the rounds' values.
#
# It installs, with npm, workerd, esbuild and the example's own
# dependencies (hono) in bench/.workerd (git ignores it; WORKERD_DIR
# chooses another), bundles src/index.ts as wrangler would (one ES
# module, cloudflare:workers left to the runtime) and writes workerd's
# config there. Debian's nodejs and npm are installed when missing.
# Environment: DURATION, WARMUP, DOBJ (a dobj binary to use instead of
# building ./cmd/dobj), DOBJ_BASE_PORT (default 8080: the API on
# base+1..3, Worker listeners on base+707..709), WORKERD_PORT (default
# 8790), WORKERD_VERSION (the npm package's version; default
# 1.20261123.1, the one measured in bench/README.md).
set -euo pipefail

duration=${DURATION:-8s}
warmup=${WARMUP:-2s}
rounds=1
storage=both
keep=""
dobj_serve_args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) duration=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--storage) storage=$2; shift 2 ;;
	--serve-args) read -r -a dobj_serve_args <<<"$2"; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "workerd.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case "$rounds" in "" | *[!0-9]* | 0*) echo "workerd.sh: --rounds wants a positive integer" >&2; exit 2 ;; esac
case "$storage" in disk) modes=(disk) ;; memory) modes=(memory) ;; both) modes=(disk memory) ;;
*) echo "workerd.sh: --storage disk, memory or both" >&2; exit 2 ;; esac

repo=$(cd "$(dirname "$0")/.." && pwd)
base_port=${DOBJ_BASE_PORT:-8080}
wport=${WORKERD_PORT:-8790}
version=${WORKERD_VERSION:-1.20261123.1}
work=${WORKERD_DIR:-$repo/bench/.workerd}
ports_hint="set WORKERD_PORT"
. "$(dirname "$0")/lib.sh"
bench_init workerd.sh # workerd, once started, is the one process in pids

# ---- tools and the application ----------------------------------------

missing=()
command -v npm >/dev/null || missing+=(nodejs npm)
command -v jq >/dev/null || missing+=(jq)
command -v curl >/dev/null || missing+=(curl)
command -v column >/dev/null || missing+=(bsdextrautils)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
dobj_binary

app=$work/hono-counter
mkdir -p "$app"
cp "$repo/examples/hono-counter/package.json" "$app/"
rm -rf "$app/src" && cp -r "$repo/examples/hono-counter/src" "$app/src"
if [ ! -x "$app/node_modules/.bin/workerd" ] || [ "$("$app/node_modules/.bin/workerd" --version 2>/dev/null)" = "" ] ||
	! grep -q "\"version\": \"$version\"" "$app/node_modules/workerd/package.json" 2>/dev/null; then
	log "installing workerd@$version, esbuild and the example's packages in $app"
	(cd "$app" && npm install --no-audit --no-fund --no-save --loglevel=error "workerd@$version" esbuild >&2)
fi
log "$("$app/node_modules/.bin/workerd" --version)"
(cd "$app" && node_modules/.bin/esbuild src/index.ts --bundle --format=esm --platform=neutral --target=es2022 \
	--external:cloudflare:workers --outfile=index.js --log-level=warning)

# config MODE: workerd's config for MODE's storage; the Counter class is
# the example's wrangler.toml's (a new_sqlite_classes class).
config() {
	local store='localDisk = "storage"'
	[ "$1" = memory ] && store='inMemory = void'
	cat <<EOF
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .counterWorker),
    (name = "storage", disk = (writable = true)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:$wport", http = (), service = "main")],
);

const counterWorker :Workerd.Worker = (
  modules = [(name = "index.js", esModule = embed "index.js")],
  compatibilityDate = "2025-04-01",
  bindings = [(name = "COUNTER", durableObjectNamespace = "Counter")],
  durableObjectNamespaces = [(className = "Counter", uniqueKey = "hono-counter-Counter", enableSql = true)],
  durableObjectStorage = ($store),
);
EOF
}

# ---- load ---------------------------------------------------------------

# bench OUT ARGS…: one `dobj bench` run, its JSON in $tmp/results/OUT.json.
bench() {
	local out=$tmp/results/$1.json
	shift
	mkdir -p "$tmp/results"
	"$dobj" bench --objects 1000 --duration "$duration" --warmup "$warmup" --json --quiet "$@" >"$out"
}

# measure_workerd MODE ROUND: a fresh workerd with MODE's storage, primed,
# then 64 clients and 1.
measure_workerd() {
	local mode=$1 round=$2 url=http://127.0.0.1:$wport
	port_free "$wport"
	config "$mode" >"$app/config-$mode.capnp"
	rm -rf "$tmp/storage" && mkdir -p "$tmp/storage"
	sync
	log "workerd $mode (round $round of $rounds) on $url"
	"$app/node_modules/.bin/workerd" serve "$app/config-$mode.capnp" --directory-path "storage=$tmp/storage" \
		>"$tmp/workerd-$mode.log" 2>&1 &
	pids+=($!)
	local deadline=$((SECONDS + 30))
	until curl -s -o /dev/null --max-time 1 "$url/"; do # any answer: it listens
		if ! kill -0 "${pids[0]}" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
			echo "workerd.sh: workerd did not start; its log:" >&2
			tail -20 "$tmp/workerd-$mode.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	local a=(--target app --urls "$url" --op worker-increment --prefix bench-)
	"$dobj" bench "${a[@]}" -c 64 --objects 1000 --duration 5s --warmup 0s --quiet >/dev/null
	bench "workerd-$mode-c64-r$round" "${a[@]}" -c 64
	bench "workerd-$mode-c1-r$round" "${a[@]}" -c 1
	stop_members
}

# measure_dobj OP ROUND: a fresh three-node cluster, its counters made
# by one unmeasured run (as workerd's: creating an SQLite-backed
# Counter's database costs each node about 10 ms), then 64 clients and 1.
measure_dobj() {
	local op=$1 round=$2 prime=20s
	[ "$op" = class ] && prime=5s
	log "dobj $op-increment (round $round of $rounds)"
	sync
	start_dobj
	local a=(--urls "$dobj_urls" --op "$op-increment" --prefix bench- --keep)
	[ "$op" = worker ] && a+=(--worker-urls "$(worker_urls)")
	"$dobj" bench "${a[@]}" -c 64 --objects 1000 --duration "$prime" --warmup 0s --quiet >/dev/null
	bench "dobj-$op-c64-r$round" "${a[@]}" -c 64
	bench "dobj-$op-c1-r$round" "${a[@]}" -c 1
	stop_members
	rm -rf "$tmp/dobj-data"
}

# worker_urls: the cluster's Worker listeners.
worker_urls() {
	local i out=""
	for i in 1 2 3; do out+="${out:+,}http://127.0.0.1:$((dobj_worker_port + i - 1))"; done
	echo "$out"
}
dobj_worker_port=$((base_port + 707))

rows=()
for m in "${modes[@]}"; do rows+=("workerd-$m"); done
rows+=(dobj-worker dobj-class)
# Each round goes through the rows in turn, starting one row later than
# the last, so that a drift of the machine's speed favours none.
for round in $(seq 1 "$rounds"); do
	n=${#rows[@]}
	for i in $(seq 0 $((n - 1))); do
		row=${rows[$(((i + round - 1) % n))]}
		case $row in
		workerd-*) measure_workerd "${row#workerd-}" "$round" ;;
		dobj-*) measure_dobj "${row#dobj-}" "$round" ;;
		esac
	done
done

# ---- table ----------------------------------------------------------------

# values ROW SHAPE JQ: the rounds' values of JQ, in round order.
values() { jq -r "$3" "$tmp/results/$1-$2"-r*.json | paste -sd' '; }
# median ROW SHAPE JQ: their median (the upper middle one of an even count).
median() { jq -s -r "map($3) | sort | .[length / 2 | floor]" "$tmp/results/$1-$2"-r*.json; }

ops='.overall.ops_per_sec | floor'
p50='.overall.latency_ms.p50'
echo
echo "the seed's counter application: workerd $("$app/node_modules/.bin/workerd" --version | awk '{print $2}') (one process, no replication) and dobj (three nodes, replicated); $(nproc) cores, ${duration} per run after ${warmup} warmup, $rounds round(s)"
{
	printf 'row\tops/s c=64 (median)\tby round\tp50 ms c=1 (median)\tby round\terrors\n'
	for row in "${rows[@]}"; do
		errs=$(jq -s '[.[].overall.errors] | add' "$tmp/results/$row"-c*-r*.json)
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$(median "$row" c64 "$ops")" "$(values "$row" c64 "$ops")" \
			"$(median "$row" c1 "$p50")" "$(values "$row" c1 "$p50")" "$errs"
	done
} | column -t -s $'\t'
