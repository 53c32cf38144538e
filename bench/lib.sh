# Shared by bench's scripts (compare.sh, rqlite.sh): sourced, not run.
# bench_init NAME makes the run's temp dir ($tmp), the list of processes
# it starts ($pids, which stop_members stops), log lines that say which
# script wrote them, and the exit trap that stops those processes and
# removes $tmp unless $keep is set.

bench_init() {
	bench_name=$1
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/dobj-$bench_name.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

log() { printf '%s %s: %s\n' "$(date +%T)" "$bench_name" "$*" >&2; }

# stop_members: stops the processes started last (pids) and waits for
# them, 10s before a KILL.
stop_members() {
	local pid deadline=$((SECONDS + 10))
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	pids=()
}

bench_cleanup() {
	stop_members
	if [ -n "${keep:-}" ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
