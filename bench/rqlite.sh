#!/usr/bin/env bash
# Issue 22's SQL counter benchmark on this machine: the same closed-loop
# load of counter increments against dobj and rqlite, and a table of
# ops/s, p50 and p99 with the ratios the issue sets goals for.
#
#   bash bench/rqlite.sh [--duration 10s] [--warmup 2s] [--clients 64] [--objects 1000] [--rounds 1] [--keep]
#
# Rows (each with CLIENTS clients spread over the three nodes, OBJECTS
# objects or rows, `dobj bench` as the load generator for all):
#   dobj class-increment  POST /do/<KV class>/<name>/increment: get, +1, put
#   dobj sql-increment    POST /_scripts/…/objects/SQLCounter/<name>/increment:
#                         UPDATE counter SET v = v + 1 WHERE id = 1 RETURNING v
#                         in the object's own SQLite database
#   rqlite sql-increment  POST /db/execute [["UPDATE bench_counters SET v = v + 1
#                         WHERE id = ? RETURNING v", <object>]] (one database,
#                         a row per object; a follower forwards to the leader)
# The two dobj rows share one fresh three-node cluster, class-increment
# first; rqlite gets its own fresh three-node cluster. Only the service
# measured is running. Odd rounds measure dobj first, even rounds rqlite.
#
# rqlited comes from RQLITED (a binary) if set; else it is built with
# `go build` (cgo: a C compiler is needed) from RQLITE_SRC (a checkout of
# github.com/rqlite/rqlite) or, without it, from a shallow clone of
# RQLITE_REPO (default https://github.com/rqlite/rqlite) at RQLITE_REF
# (default: its default branch) in the temporary directory. Nothing of
# rqlite is kept. Needs jq and curl.
# The warmup is also when dobj creates its objects' databases (each
# object's first call): give it time enough for all of them.
# Environment: DURATION, WARMUP, CLIENTS, OBJECTS, DOBJ (a dobj binary instead of
# building ./cmd/dobj), DOBJ_BASE_PORT (node i: HTTP base+i, Raft
# base+1000+i; default 8080), RQLITE_PORT (node i: HTTP port+2i, Raft
# port+2i+1, i = 0..2; default 4001).
set -euo pipefail

duration=${DURATION:-10s}
warmup=${WARMUP:-2s}
clients=${CLIENTS:-64}
objects=${OBJECTS:-1000}
rounds=1
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) duration=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--clients) clients=$2; shift 2 ;;
	--objects) objects=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "rqlite.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case "$rounds" in "" | *[!0-9]* | 0*) echo "rqlite.sh: --rounds wants a positive integer" >&2; exit 2 ;; esac

repo=$(cd "$(dirname "$0")/.." && pwd)
base_port=${DOBJ_BASE_PORT:-8080}
rq_port=${RQLITE_PORT:-4001}
. "$(dirname "$0")/lib.sh"
bench_init rqlite.sh
ports_hint="set DOBJ_BASE_PORT or RQLITE_PORT"

for tool in jq curl go; do
	command -v $tool >/dev/null || { echo "rqlite.sh: $tool is missing" >&2; exit 1; }
done

# ---- binaries ----------------------------------------------------------

dobj_binary

if [ -n "${RQLITED:-}" ]; then
	rqlited=$RQLITED
else
	src=${RQLITE_SRC:-}
	if [ -z "$src" ]; then
		src=$tmp/rqlite-src
		log "cloning ${RQLITE_REPO:-https://github.com/rqlite/rqlite} ${RQLITE_REF:-}"
		git clone -q --depth 1 ${RQLITE_REF:+--branch "$RQLITE_REF"} "${RQLITE_REPO:-https://github.com/rqlite/rqlite}" "$src"
	fi
	log "building rqlited from $src ($(git -C "$src" describe --tags --always 2>/dev/null || echo unknown))"
	(cd "$src" && CGO_ENABLED=1 go build -o "$tmp/rqlited" ./cmd/rqlited)
	rqlited=$tmp/rqlited
fi

# ---- clusters ----------------------------------------------------------

# start_dobj (lib.sh) starts a fresh three-node dobj; start_rqlite the
# same of rqlite. The load goes to urls.

start_rqlite() {
	local i join="" members=()
	urls=""
	for i in 0 1 2; do
		port_free $((rq_port + 2 * i))
		port_free $((rq_port + 2 * i + 1))
		join+="${join:+,}127.0.0.1:$((rq_port + 2 * i + 1))"
		urls+="${urls:+,}http://127.0.0.1:$((rq_port + 2 * i))"
	done
	log "starting rqlite $("$rqlited" -version 2>&1 | head -1) on $urls"
	for i in 0 1 2; do
		"$rqlited" -node-id "r$i" -http-addr "127.0.0.1:$((rq_port + 2 * i))" -raft-addr "127.0.0.1:$((rq_port + 2 * i + 1))" \
			-bootstrap-expect 3 -join "$join" "$tmp/rqlite-data/r$i" >"$tmp/r$i.log" 2>&1 &
		pids+=($!)
		members+=("$!:$i")
	done
	local m pid
	for m in "${members[@]}"; do
		IFS=: read -r pid i <<<"$m"
		wait_for "http://127.0.0.1:$((rq_port + 2 * i))/readyz" "$pid" "rqlite r$i" "$tmp/r$i.log" 60 0.2
	done
}

# ---- load --------------------------------------------------------------

# run TARGET OP ROW ROUND: one `dobj bench` run against urls, its JSON
# kept in $tmp/results/ROW-rROUND.json.
run() {
	local target=$1 op=$2 row=$3 out="$tmp/results/$3-r$4.json"
	mkdir -p "$tmp/results"
	log "$row (round $4 of $rounds): -c $clients for $duration on $urls"
	"$dobj" bench --target "$target" --urls "$urls" -c "$clients" --op "$op" \
		--objects "$objects" --prefix bench- --keep --duration "$duration" --warmup "$warmup" --json --quiet >"$out"
}

measure() {
	local round=$2
	sync # what an earlier step wrote is not written back while this one runs
	case $1 in
	dobj)
		start_dobj 60 0.2
		urls=$dobj_urls
		run dobj class-increment dobj-class "$round"
		run dobj sql-increment dobj-sql "$round"
		;;
	rqlite)
		start_rqlite
		run rqlite sql-increment rqlite-sql "$round"
		;;
	esac
	stop_members
	rm -rf "$tmp/dobj-data" "$tmp/rqlite-data"
}

for round in $(seq 1 "$rounds"); do
	order=(dobj rqlite)
	[ $((round % 2)) = 1 ] || order=(rqlite dobj)
	for target in "${order[@]}"; do measure "$target" "$round"; done
done

# ---- table -------------------------------------------------------------

# field ROW JQ: the median of JQ over the rounds (the upper one of the
# middle two for an even count).
field() { jq -s -r "map($2) | sort | .[length / 2 | floor]" "$tmp/results/$1"-r*.json; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

echo
echo "dobj vs $("$rqlited" -version 2>&1 | head -1): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $clients clients, $objects objects, ${duration} per row after ${warmup} warmup$([ "$rounds" = 1 ] || echo ", median of $rounds rounds")"
{
	printf 'row\tops/s\tp50 ms\tp99 ms\terrors\n'
	for row in dobj-class dobj-sql rqlite-sql; do
		printf '%s\t%s\t%s\t%s\t%s\n' "$row" "$(field $row '.overall.ops_per_sec | floor')" \
			"$(field $row '.overall.latency_ms.p50')" "$(field $row '.overall.latency_ms.p99')" "$(field $row '.overall.errors')"
	done
} | column -t -s $'\t'
sql=$(field dobj-sql '.overall.ops_per_sec')
echo "dobj sql / dobj class: $(ratio "$sql" "$(field dobj-class '.overall.ops_per_sec')") (issue 22's goal: at least 0.60)"
echo "dobj sql / rqlite sql: $(ratio "$sql" "$(field rqlite-sql '.overall.ops_per_sec')") (goal: at least 2)"
