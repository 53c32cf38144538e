#!/usr/bin/env bash
# Runs the same closed-loop load against dobj and etcd on this machine and
# prints, per load shape, ops/s, p50 and p99 for both and the ratio dobj/etcd.
#
#   bash bench/compare.sh [--duration 10s] [--warmup 2s] [--rounds 1] [--only dobj|etcd] [--keep]
#
# Load shapes (both services through their HTTP APIs, 1000 distinct
# objects/keys):
#   write c=1    dobj POST /<name>/increment      etcd POST /v3/kv/put
#                once sent to the leader, once to a follower (which
#                forwards it)
#   write c=64   same, 64 clients spread over the three members
#   read  c=64   dobj GET /<name> (linearizable)  etcd POST /v3/kv/range
#                (linearizable), 64 clients spread over the members
#
# A round starts a fresh three-node dobj on loopback, runs every shape
# against it and stops it, then does the same with a three-member etcd
# (even rounds take etcd first): only the service measured is running.
# With --rounds N the table shows each column's median over the rounds,
# and lines per shape give every round's ops/s ratio and p50 on both
# sides (a shared machine drifts: one round's ratio moves by 10-20%).
#
# It installs Debian's etcd-server (and etcd-client, jq, curl) when missing,
# keeps data in a temporary directory, and stops every process it started
# by PID.
# Environment: DURATION, WARMUP, DOBJ (a dobj binary to use instead of
# building ./cmd/dobj), DOBJ_BASE_PORT (dobj node i: HTTP base+i, Raft
# base+1000+i; default 8080), ETCD_PORTS (client ports; peer = client+1;
# default "12379 22379 32379").
set -euo pipefail

duration=${DURATION:-10s}
warmup=${WARMUP:-2s}
only=""
keep=""
rounds=1
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) duration=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case "$only" in "" | dobj | etcd) ;; *) echo "compare.sh: --only dobj or etcd" >&2; exit 2 ;; esac
case "$rounds" in "" | *[!0-9]* | 0*) echo "compare.sh: --rounds wants a positive integer" >&2; exit 2 ;; esac

repo=$(cd "$(dirname "$0")/.." && pwd)
base_port=${DOBJ_BASE_PORT:-8080}
read -r -a etcd_ports <<<"${ETCD_PORTS:-12379 22379 32379}"
. "$(dirname "$0")/lib.sh"
bench_init compare.sh
ports_hint="set DOBJ_BASE_PORT or ETCD_PORTS"

# ---- tools -------------------------------------------------------------

missing=()
command -v jq >/dev/null || missing+=(jq)
command -v curl >/dev/null || missing+=(curl)
command -v column >/dev/null || missing+=(bsdextrautils)
if [ "$only" != dobj ]; then
	command -v etcd >/dev/null || missing+=(etcd-server)
	command -v etcdctl >/dev/null || missing+=(etcd-client)
fi
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

dobj_binary

# ---- etcd --------------------------------------------------------------

etcd_urls=""
start_etcd() {
	local i cluster="" members=()
	etcd_urls=""
	for i in 0 1 2; do
		port_free "${etcd_ports[$i]}"
		port_free $((etcd_ports[i] + 1))
		cluster+="${cluster:+,}e$((i + 1))=http://127.0.0.1:$((etcd_ports[i] + 1))"
		etcd_urls+="${etcd_urls:+,}http://127.0.0.1:${etcd_ports[$i]}"
	done
	log "starting etcd $(etcd --version | head -1 | awk '{print $3}') on ${etcd_urls}"
	for i in 0 1 2; do
		local c=${etcd_ports[$i]} p=$((etcd_ports[i] + 1)) name=e$((i + 1))
		# v3.4 serves the /v3/kv/* JSON gateway on the client port by default.
		etcd --name "$name" --data-dir "$tmp/etcd-data/$name" \
			--listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
			--listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
			--initial-cluster "$cluster" --initial-cluster-token dobj-compare --initial-cluster-state new \
			--logger zap --log-outputs stderr >"$tmp/$name.log" 2>&1 &
		pids+=($!)
		members+=("$!:$c:$name")
	done
	local m
	for m in "${members[@]}"; do
		IFS=: read -r pid c name <<<"$m"
		wait_for "http://127.0.0.1:$c/health" "$pid" "etcd $name" "$tmp/$name.log"
	done
	ETCDCTL_API=3 etcdctl --endpoints "$etcd_urls" endpoint health >&2
}

# ---- dobj --------------------------------------------------------------

# start_dobj (lib.sh) starts a fresh three-node dobj on $dobj_urls.

# ---- load --------------------------------------------------------------

# run TARGET URLS SHAPE CLIENTS MIX ROUND: one `dobj bench` run, JSON kept
# in $tmp/results/TARGET-SHAPE-rROUND.json.
run() {
	local target=$1 urls=$2 shape=$3 clients=$4 mix=$5 out="$tmp/results/$1-$3-r$6.json"
	mkdir -p "$tmp/results"
	log "$target $shape (round $6 of $rounds): -c $clients --mix $mix for $duration on $urls"
	# One prefix for every run, kept (the clusters are thrown away after
	# a round): the read row reads the objects the write rows wrote.
	"$dobj" bench --target "$target" --urls "$urls" -c "$clients" --mix "$mix" \
		--objects 1000 --prefix bench- --keep --duration "$duration" --warmup "$warmup" --json --quiet >"$out"
}

# Write rows first: the read row then reads keys that exist. The last
# word says where the clients go: spread over all members, or all to the
# leader or to a follower (one client alone would otherwise go to the
# first member, leader or not as its election fell).
shapes=("write-c1-leader 1 increment=1 leader" "write-c1-follower 1 increment=1 follower"
	"write-c64 64 increment=1 all" "read-c64 64 read=1 all")

# is_leader TARGET URL: whether the member at URL says it leads.
is_leader() {
	case $1 in
	dobj) curl -fsS --max-time 2 "$2/_cluster/status" | jq -e '.state == "leader"' >/dev/null ;;
	etcd) curl -fsS --max-time 2 -X POST "$2/v3/maintenance/status" -d '{}' | jq -e '.header.member_id == .leader' >/dev/null ;;
	esac
}

# find_roles TARGET URLS: sets leader_url, and follower_url to another
# member; waits up to 10s for a leader.
find_roles() {
	local u deadline=$((SECONDS + 10))
	while :; do
		leader_url="" follower_url=""
		for u in ${2//,/ }; do
			if is_leader "$1" "$u"; then leader_url=$u; else follower_url=$u; fi
		done
		if [ -n "$leader_url" ] && [ -n "$follower_url" ]; then return; fi
		if [ $SECONDS -ge $deadline ]; then
			echo "compare.sh: $1 has no leader among $2 after 10s" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# measure TARGET ROUND: starts a fresh cluster of TARGET, runs every shape
# against it and stops it. Only one service runs at a time: an idle
# cluster's timers and heartbeats cost the other one's single client
# 0.05-0.1 ms of p50 on two cores.
measure() {
	local target=$1 round=$2 s shape clients mix to urls u
	sync # what an earlier step wrote is not written back while this one runs
	"start_$target"
	if [ "$target" = dobj ]; then urls=$dobj_urls; else urls=$etcd_urls; fi
	for s in "${shapes[@]}"; do
		read -r shape clients mix to <<<"$s"
		u=$urls
		if [ "$to" != all ]; then
			find_roles "$target" "$urls"
			if [ "$to" = leader ]; then u=$leader_url; else u=$follower_url; fi
		fi
		run "$target" "$u" "$shape" "$clients" "$mix" "$round"
	done
	stop_members
	rm -rf "$tmp/$target-data"
}

# Odd rounds measure dobj first, even rounds etcd first, so that a drift
# of the machine's speed does not favour one side.
for round in $(seq 1 "$rounds"); do
	order=(dobj etcd)
	[ $((round % 2)) = 1 ] || order=(etcd dobj)
	for target in "${order[@]}"; do
		if [ -n "$only" ] && [ "$only" != "$target" ]; then continue; fi
		measure "$target" "$round"
	done
done

# ---- table -------------------------------------------------------------

# field TARGET SHAPE JQ: the median of JQ over the rounds' results (the
# upper one of the middle two for an even count).
field() {
	local files=("$tmp/results/$1-$2"-r*.json)
	if [ -s "${files[0]}" ]; then jq -s -r "map($3) | sort | .[length / 2 | floor]" "${files[@]}"; else echo -; fi
}
# total TARGET SHAPE JQ: the sum of JQ over the rounds' results.
total() {
	local files=("$tmp/results/$1-$2"-r*.json)
	if [ -s "${files[0]}" ]; then jq -s -r "map($3) | add" "${files[@]}"; else echo -; fi
}
ratio() {
	if [ "$1" = - ] || [ "$2" = - ]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; fi
}

echo
echo "dobj vs etcd $(etcd --version 2>/dev/null | head -1 | awk '{print $3}'): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), ${duration} per row after ${warmup} warmup$([ "$rounds" = 1 ] || echo ", median of $rounds rounds")"
{
	printf 'shape\tdobj ops/s\tetcd ops/s\tratio\tdobj p50 ms\tetcd p50 ms\tratio\tdobj p99 ms\tetcd p99 ms\tratio\tdobj errors\tetcd errors\n'
	for s in "${shapes[@]}"; do
		read -r shape _ _ <<<"$s"
		dops=$(field dobj "$shape" '.overall.ops_per_sec | floor')
		eops=$(field etcd "$shape" '.overall.ops_per_sec | floor')
		d50=$(field dobj "$shape" '.overall.latency_ms.p50')
		e50=$(field etcd "$shape" '.overall.latency_ms.p50')
		d99=$(field dobj "$shape" '.overall.latency_ms.p99')
		e99=$(field etcd "$shape" '.overall.latency_ms.p99')
		derr=$(total dobj "$shape" '.overall.errors')
		eerr=$(total etcd "$shape" '.overall.errors')
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$shape" \
			"$dops" "$eops" "$(ratio "$dops" "$eops")" \
			"$d50" "$e50" "$(ratio "$d50" "$e50")" \
			"$d99" "$e99" "$(ratio "$d99" "$e99")" "$derr" "$eerr"
	done
} | column -t -s $'\t'
echo "ratio = dobj/etcd: above 1 is better for dobj in ops/s, worse in latency."

# by_round TITLE JQ COMBINE: a line per shape with every round's dobj and
# etcd values of JQ, put together by COMBINE (ratio or pair).
by_round() {
	local s shape round line
	echo "$1"
	for s in "${shapes[@]}"; do
		read -r shape _ <<<"$s"
		line="  $shape"
		for round in $(seq 1 "$rounds"); do
			line+=" $("$3" "$(jq "$2" "$tmp/results/dobj-$shape-r$round.json")" \
				"$(jq "$2" "$tmp/results/etcd-$shape-r$round.json")")"
		done
		echo "$line"
	done
}
pair() { echo "$1/$2"; }
if [ "$rounds" -gt 1 ] && [ -z "$only" ]; then
	by_round "ops/s ratio by round:" '.overall.ops_per_sec' ratio
	by_round "p50 ms by round, dobj/etcd:" '.overall.latency_ms.p50' pair
fi
