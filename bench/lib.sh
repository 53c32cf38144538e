# Shared by bench's scripts (compare.sh, rqlite.sh, sqlscale.sh,
# workerd.sh): sourced, not run.
# bench_init NAME makes the run's temp dir ($tmp), the list of processes
# it starts ($pids, which stop_members stops), log lines and errors that
# say which script wrote them, and the exit trap that stops those
# processes and removes $tmp unless $keep is set.

bench_init() {
	bench_name=$1
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/dobj-${bench_name%.sh}.XXXXXX")
	pids=()
	stop_grace=${stop_grace:-10}
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

log() { printf '%s %s: %s\n' "$(date +%T)" "$bench_name" "$*" >&2; }

# die MESSAGE: says MESSAGE as the script's error and exits 1.
die() {
	echo "$bench_name: $*" >&2
	exit 1
}

# running_child PID: whether PID is a background job of this shell still
# running. bash reaps a child as soon as it exits, after which its number
# may be another process's, so `kill -0` proves nothing: a script signals
# a number only while this says it is still its own.
running_child() {
	jobs -pr | grep -qx "$1"
}

# stop_members: stops the processes started last (pids) and waits for
# them, stop_grace seconds (10 unless the script sets it) before a KILL.
stop_members() {
	local pid deadline=$((SECONDS + stop_grace))
	for pid in "${pids[@]}"; do
		if running_child "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
	done
	for pid in "${pids[@]}"; do
		while running_child "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		if running_child "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
		wait "$pid" 2>/dev/null || true
	done
	pids=()
}

bench_cleanup() {
	stop_members
	if [ -n "${keep:-}" ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}

# apt_install PACKAGE...: installs Debian packages, as root only, with no
# package's own service started where no policy says so already (the
# scripts start their own servers).
apt_install() {
	[ "$(id -u)" = 0 ] || die "$* missing and not root: install them (apt-get install $*)"
	log "installing $*"
	apt-get update -qq
	local policy=/usr/sbin/policy-rc.d added=""
	if [ ! -e $policy ]; then
		printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && added=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || {
		[ -n "$added" ] && rm -f $policy
		exit 1
	}
	[ -n "$added" ] && rm -f $policy
	return 0
}

# dobj_binary: sets dobj to DOBJ, or else to ./cmd/dobj built into $tmp
# (the caller sets repo to the checkout).
dobj_binary() {
	if [ -n "${DOBJ:-}" ]; then
		dobj=$DOBJ
	else
		log "building dobj"
		(cd "$repo" && go build -o "$tmp/dobj" ./cmd/dobj)
		dobj=$tmp/dobj
	fi
}

# port_free PORT: exits when something listens on PORT, saying how to
# choose other ports: ports_hint, which the script sets.
port_free() {
	if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
		die "port $1 is in use (${ports_hint:-set DOBJ_BASE_PORT})"
	fi
}

# wait_for URL PID NAME LOG [TIMEOUT] [POLL]: polls URL every POLL
# seconds (0.1) until it answers 2xx, for TIMEOUT seconds (30) at most,
# while process PID lives; else shows the end of LOG and exits.
wait_for() {
	local url=$1 pid=$2 name=$3 logfile=$4 timeout=${5:-30} poll=${6:-0.1}
	local deadline=$((SECONDS + timeout))
	until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$bench_name: $name exited; its log:" >&2
			tail -20 "$logfile" >&2
			exit 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			echo "$bench_name: $name not ready at $url after ${timeout}s; its log:" >&2
			tail -20 "$logfile" >&2
			exit 1
		fi
		sleep "$poll"
	done
}

# dobj_addrs sets dobj_peers, the --peers of a local three-node dobj
# whose node i serves HTTP on base_port+i and Raft on base_port+1000+i,
# and dobj_urls, its nodes' URLs.
dobj_addrs() {
	local i
	dobj_peers="" dobj_urls=""
	for i in 1 2 3; do
		dobj_peers+="${dobj_peers:+,}n$i=127.0.0.1:$((base_port + 1000 + i))"
		dobj_urls+="${dobj_urls:+,}http://127.0.0.1:$((base_port + i))"
	done
}

# start_dobj [TIMEOUT] [POLL]: starts that three-node dobj ($dobj) with
# data in $tmp/dobj-data/nI and logs in $tmp/nI.log, its processes added
# to pids, and waits for each node's /_ready as wait_for does with
# TIMEOUT and POLL. It refuses ports in use (port_free). With
# dobj_worker_port set, node i also serves Workers on
# dobj_worker_port+i-1; with dobj_serve set, that binary runs the nodes;
# dobj_serve_args (an array) are more flags for every node's serve.
start_dobj() {
	local i timeout=${1:-30} poll=${2:-0.1} members=() workers=()
	dobj_addrs
	for i in 1 2 3; do
		port_free $((base_port + i))
		port_free $((base_port + 1000 + i))
		[ -z "${dobj_worker_port:-}" ] || port_free $((dobj_worker_port + i - 1))
	done
	log "starting dobj on ${dobj_urls}"
	for i in 1 2 3; do
		mkdir -p "$tmp/dobj-data/n$i"
		workers=()
		[ -z "${dobj_worker_port:-}" ] || workers=(--worker-addr "127.0.0.1:$((dobj_worker_port + i - 1))")
		"${dobj_serve:-$dobj}" serve --id "n$i" --data-dir "$tmp/dobj-data/n$i" \
			--http-addr "127.0.0.1:$((base_port + i))" --raft-addr "127.0.0.1:$((base_port + 1000 + i))" \
			--peers "$dobj_peers" "${workers[@]}" "${dobj_serve_args[@]}" >"$tmp/n$i.log" 2>&1 &
		pids+=($!)
		members+=("$!:$i")
	done
	local m pid
	for m in "${members[@]}"; do
		IFS=: read -r pid i <<<"$m"
		wait_for "http://127.0.0.1:$((base_port + i))/_ready" "$pid" "dobj n$i" "$tmp/n$i.log" "$timeout" "$poll"
	done
}
