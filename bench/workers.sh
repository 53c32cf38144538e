#!/usr/bin/env bash
# Issue 20's Worker benchmark on this machine: what the Worker listener
# costs the seed's counter application, against the same Counter's
# increment called directly and against issue 14's key-value class, with
# the Counter's storage SQLite (new_sqlite_classes, as the seed) and
# key-value (new_classes).
#
#   bash bench/workers.sh [--duration 8s] [--warmup 2s] [--rounds 1] [--objects 1000] [--storage sqlite|kv|both] [--keep]
#
# Rows (`dobj bench`, OBJECTS objects, 64 clients spread over the three
# nodes, then 1 client sent to a follower):
#   worker  --op worker-increment: POST /<name>/increment to the nodes'
#           Worker listeners; the Worker runs where it lands and calls
#           `await stub.increment(1)` on the leader
#   rpc     --op rpc-increment: the same Counter's increment(1) through
#           the operator route POST /_scripts/<script>/objects/Counter/
#           <name>/rpc/increment?consistency=stale, no Worker
#   class   --op class-increment: issue 14's key-value class through
#           POST /do/<class>/<name>/increment (another class, with
#           key-value storage whichever the Counter's)
# Each storage gets a fresh three-node cluster a round, on which every
# row runs; the rows take turns starting one later each round. Before
# measuring, one unmeasured run of 20 s over the objects (5 s with kv)
# creates them: an SQLite-backed object's first call makes its database
# on every node, about 10 ms each inside the apply loop, which is not
# what a steady Worker costs.
# With --rounds N the table has each row's median and every round's
# value, and each round's ratio to rpc and to class.
#
# Needs jq and curl. Environment: DURATION, WARMUP, OBJECTS, DOBJ (a dobj
# binary instead of building ./cmd/dobj), DOBJ_SERVE (the dobj binary
# whose serve runs the nodes, when not DOBJ's: to measure another build
# with this load generator), DOBJ_BASE_PORT (node i: HTTP base+i, Raft
# base+1000+i, Workers base+706+i; default 8080).
set -euo pipefail

duration=${DURATION:-8s}
warmup=${WARMUP:-2s}
objects=${OBJECTS:-1000}
rounds=1
storage=both
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) duration=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--objects) objects=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--storage) storage=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "workers.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case "$rounds" in "" | *[!0-9]* | 0*) echo "workers.sh: --rounds wants a positive integer" >&2; exit 2 ;; esac
case "$storage" in sqlite) storages=(sqlite) ;; kv) storages=(kv) ;; both) storages=(sqlite kv) ;;
*) echo "workers.sh: --storage sqlite, kv or both" >&2; exit 2 ;; esac

repo=$(cd "$(dirname "$0")/.." && pwd)
base_port=${DOBJ_BASE_PORT:-8080}
ports_hint="set DOBJ_BASE_PORT"
. "$(dirname "$0")/lib.sh"
bench_init workers.sh

for tool in jq curl; do
	command -v $tool >/dev/null || die "$tool missing (apt-get install $tool)"
done
dobj_binary
dobj_serve=${DOBJ_SERVE:-}
dobj_worker_port=$((base_port + 707))

api_url() { echo "http://127.0.0.1:$((base_port + $1))"; }
worker_url() { echo "http://127.0.0.1:$((dobj_worker_port + $1 - 1))"; }

# follower: the number of a node that is not the leader.
follower() {
	local i
	for i in 1 2 3; do
		if ! curl -fsS --max-time 2 "$(api_url $i)/_cluster/status" | jq -e '.state == "leader"' >/dev/null; then
			echo "$i"
			return
		fi
	done
	die "no follower"
}

# bench OUT ARGS…: one `dobj bench` run on the objects bench-0 …, its
# JSON in $tmp/results/OUT.json (none when OUT is -).
bench() {
	local out=$1
	shift
	mkdir -p "$tmp/results"
	[ "$out" = - ] && out=/dev/null || out=$tmp/results/$out.json
	"$dobj" bench --objects "$objects" --prefix bench- --keep --json --quiet "$@" >"$out"
}

all_api=$(api_url 1),$(api_url 2),$(api_url 3)
all_workers=$(worker_url 1),$(worker_url 2),$(worker_url 3)

# measure STORAGE ROUND: a fresh cluster, its objects created, then
# every row at 64 clients and at 1.
measure() {
	local st=$1 round=$2 prime=20s f i row n=3 rows=(worker rpc class)
	[ "$st" = kv ] && prime=5s
	sync
	log "storage $st (round $round of $rounds): starting a cluster"
	start_dobj
	bench - --urls "$all_api" --worker-storage "$st" --op rpc-increment -c 64 --duration "$prime" --warmup 0s
	bench - --urls "$all_api" --op class-increment -c 64 --duration 3s --warmup 0s
	f=$(follower)
	for i in 0 1 2; do
		row=${rows[$(((i + round - 1) % n))]}
		log "storage $st (round $round of $rounds): $row"
		case $row in
		worker) a=(--op worker-increment --worker-storage "$st") ;;
		rpc) a=(--op rpc-increment --worker-storage "$st") ;;
		class) a=(--op class-increment) ;;
		esac
		bench "$st-$row-c64-r$round" --urls "$all_api" --worker-urls "$all_workers" "${a[@]}" -c 64 \
			--duration "$duration" --warmup "$warmup"
		bench "$st-$row-c1-r$round" --urls "$(api_url "$f")" --worker-urls "$(worker_url "$f")" "${a[@]}" -c 1 \
			--duration "$duration" --warmup "$warmup"
	done
	stop_members
	rm -rf "$tmp/dobj-data"
}

for round in $(seq 1 "$rounds"); do
	for st in "${storages[@]}"; do
		measure "$st" "$round"
	done
done

# ---- table ----------------------------------------------------------------

# values ROW SHAPE JQ: the rounds' values of JQ, in round order.
values() { jq -r "$3" "$tmp/results/$1-$2"-r*.json | paste -sd' '; }
# median ROW SHAPE JQ: their median (the upper middle one of an even count).
median() { jq -s -r "map($3) | sort | .[length / 2 | floor]" "$tmp/results/$1-$2"-r*.json; }
# ratios ST ROW OTHER SHAPE JQ: each round's ROW / OTHER of JQ.
ratios() {
	local r a b out=""
	for r in $(seq 1 "$rounds"); do
		a=$(jq "$5" "$tmp/results/$1-$2-$4-r$r.json")
		b=$(jq "$5" "$tmp/results/$1-$3-$4-r$r.json")
		out+="${out:+ }$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
	done
	echo "$out"
}

ops='.overall.ops_per_sec | floor'
p50='.overall.latency_ms.p50'
echo
echo "the seed's counter through the Worker listener, the same Counter by RPC, and the key-value class: $(nproc) cores, $objects objects, ${duration} per run after ${warmup} warmup, $rounds round(s)"
{
	printf 'row\tops/s c=64 (median)\tby round\tp50 ms c=1 (median)\tby round\terrors\n'
	for st in "${storages[@]}"; do
		for row in worker rpc class; do
			errs=$(jq -s '[.[].overall.errors] | add' "$tmp/results/$st-$row"-c*-r*.json)
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$st-$row" "$(median "$st-$row" c64 "$ops")" "$(values "$st-$row" c64 "$ops")" \
				"$(median "$st-$row" c1 "$p50")" "$(values "$st-$row" c1 "$p50")" "$errs"
		done
	done
} | column -t -s $'\t'
echo
echo "by round: worker ops/s at 64 clients as a share of rpc and of class; worker p50 at 1 client over rpc's and class's"
for st in "${storages[@]}"; do
	echo "  $st: ops/s worker/rpc $(ratios "$st" worker rpc c64 "$ops"), worker/class $(ratios "$st" worker class c64 "$ops");" \
		"p50 worker/rpc $(ratios "$st" worker rpc c1 "$p50"), worker/class $(ratios "$st" worker class c1 "$p50")"
done
