package classes

import (
	"sync"
	"time"

	"github.com/dlclark/regexp2/v2"
	"github.com/dop251/goja"
)

// goja runs a regular expression that RE2 cannot (backreferences,
// lookaround) with regexp2, a backtracking matcher: one match of
// /^(a+)+\1$/ over 30 characters runs for minutes inside one native
// call, where goja's Interrupt (and so the CPU limit) cannot reach it.
// regexp2's match timeout is the only way to stop it, and goja does not
// expose it: it takes regexp2.DefaultMatchTimeout, process-wide, when it
// compiles a pattern. On a timeout goja reports no match (or the matches
// found before it), so js/regexp.js times the methods that match (test,
// match, replace, search, split) and turns one that took
// regexpMatchTimeout with a pattern only regexp2 runs into the CPU
// limit's error: a class does not compute on with a partial answer (an
// honest method call of such a pattern that runs a whole second, a
// global replace over megabytes, ends the same way). exec
// itself is not timed (wrapping it takes goja off its fast paths for
// every pattern); a direct exec of a match that timed out reports no
// match, nearly always the true answer of a catastrophic pattern.
//
// regexpMatchTimeout is therefore a bound of its own on one backtracking
// match, far above what an honest match takes: a call that runs into it
// ends with ErrCPULimit within regexpMatchTimeout of the CPU limit at the
// latest, and the runtime it held is free again for its neighbours.
const regexpMatchTimeout = time.Second

// boundRegexps sets regexp2's process-wide default before any pattern
// is compiled: newVM (runtimes) and bundle (regexp literals) call it
// first, so every goroutine that compiles a pattern sees it set.
var boundRegexps = sync.OnceFunc(func() { regexp2.DefaultMatchTimeout = regexpMatchTimeout })

// regexpTimedOut is called by js/regexp.js when a method of a backtracking
// pattern ran for regexpMatchTimeout: regexp2 may have given up on a
// match. It stops the call with ErrCPULimit at its next instruction (the
// class cannot catch an interrupt).
func (vm *vm) regexpTimedOut(goja.FunctionCall) goja.Value {
	if c := vm.call; c != nil {
		c.interrupt(errorf(ErrCPULimit, "a regular expression match ran for over %s", regexpMatchTimeout))
	}
	return goja.Undefined()
}
