// Package launch starts, stops, kills, pauses and restarts `dobj serve`
// processes on loopback: the one launcher behind `dobj dev`, `dobj bench`,
// `dobj check` and the end-to-end tests. Every process is signalled by
// its PID, runs in its own process group (a Ctrl-C at the terminal
// reaches only the launcher, which then stops the nodes one by one), and
// appends its output to its own log file.
//
// One port scheme: node i (1-based) of a cluster at base port B serves
// HTTP on B+i and Raft on B+1000+i, so `dobj dev` at 8080 serves the
// README's 8081-8083 and 9081-9083.
package launch
