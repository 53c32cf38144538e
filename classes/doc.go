// Package classes runs object classes: JavaScript or TypeScript modules
// whose exported class is Cloudflare Durable Objects' own API
// (constructor(ctx, env), fetch(request), alarm(info), ctx.storage …), one
// instance per named object. The instances of a class share a few goja
// runtimes, as workerd's objects share an isolate: the module's top level
// runs once per runtime, and its globals are shared by the objects on it
// (runtimes.go).
//
// It is pure of Raft and HTTP serving: Compile turns a module into a
// Program (esbuild bundles it and strips types, goja loads it); an Engine
// runs calls on object instances, reading the object's committed storage
// through a State the caller implements, and hands every call's writes to
// the caller's commit function as one Effects, before the Response is
// returned. Its neighbours: cluster and fsm commit Effects through Raft and
// implement State over the FSM; api maps its errors to problem+json.
//
// # Semantics
//
// Calls to one object run one at a time in arrival order (the input gate),
// across awaits and including commit; calls to different objects run in
// parallel. Reads see the committed State plus the call's own writes. A
// call that throws commits nothing. Any failed call drops the object's
// instance (its memory may be ahead of its storage); the next call builds
// it again from storage. Timers still pending when fetch settles are
// dropped; waitUntil and blockConcurrencyWhile promises settle before the
// commit. Stack traces of a ScriptError name lines of the deployed source
// (class.js or class.ts), through the bundle's inline source map.
//
// Calls to different objects on one shared runtime take turns: a call
// holds the runtime while its JavaScript runs and gives it up while it
// waits for a timer or its commit. New instances go to runtimes whose
// turn is free, and an object whose runtime a neighbour holds for longer
// than turnPatience (100 ms: a loop until the CPU limit) is rebuilt on a
// free one, as if evicted, if the class has one; otherwise it waits, and
// gives up when its context ends. What the objects of a runtime share
// through the module's globals is shared as in an isolate; a promise one
// object's call makes and another's settles runs its callbacks within the
// call that settled it (workerd refuses such cross-request I/O; dobj does
// not track it).
//
// # RPC and Workers
//
// Engine.RPC runs any method of an object by name through its gate, with
// structured-clone arguments and result (rpc.go). A Worker runs a
// script's default export on runtimes of its own, with an env of vars,
// secrets and Durable Object namespaces whose stubs call out through the
// caller's Outbound as the request's asynchronous I/O (worker.go,
// worker_natives.go, asyncio.go, js/workers.js); a script class's objects
// get the same namespaces in their env. The RPCs of a Reentrant class
// (a script's) open the object's gate while they await another object or
// a promise only another request can settle, committing their writes so
// far first (reentry.go); other calls keep the gate as described above.
// A stub's id made from a name carries it (StubID), and a script's object
// sees it as ctx.id.name once its caller checked it (ClassRef.IDName). A
// Worker answering a client's upgrade passes on an object's socket
// (worker_upgrade.go) or serves a WebSocketPair of its own, whose
// listeners run on the runtime that accepted it (worker_socket.go).
//
// # SQLite-backed objects
//
// When the State of a call is an SQLState (the object's class is listed
// under new_sqlite_classes), ctx.storage.sql, ctx.storage.kv and
// transactionSync are Cloudflare's (sql.go, js/sql.js), and the
// asynchronous key-value API reads and writes the object's database too:
// every storage operation goes at once to the SQLSession the State hands
// out (one per stretch of the call; sqlstore runs it), so SQL code sees
// its own writes synchronously, and the call's Effects carry only its
// alarm — the host takes the session's log at commit. exec runs its
// statements to the end at once; the cursor hands out rows already read.
// Transactions (transactionSync, transaction) are savepoints of the
// session, nested, and keep the object's gate as on other objects, so a
// session never changes under an open one. A class that is not
// SQLite-backed gets an Error naming new_sqlite_classes from these APIs.
//
// # Stored values
//
// Values are stored as canonical compact JSON (object keys sorted by bytes,
// numbers as JavaScript prints them, strings escaped as encoding/json
// escapes them without HTML escaping) — the form the HTTP API stores — so
// operators read and list a class object's storage as plain JSON. What
// structured clone keeps that JSON cannot is stored as a tagged object, an
// object with exactly one key that starts with "$":
//
//	Map          {"$map":[[key,value],…]}          entries in insertion order
//	Set          {"$set":[value,…]}
//	Date         {"$date":"2026-11-29T12:00:00.000Z"} (milliseconds past year 9999, null when invalid)
//	NaN, ±Inf    {"$num":"NaN"} {"$num":"Infinity"} {"$num":"-Infinity"}
//	BigInt       {"$bigint":"123"}
//	plain object with one "$" key, e.g. {"$x":1}: {"$obj":{"$x":1}}
//
// Plain objects come back with their keys in sorted order; a class
// instance is stored as the plain object of its own enumerable properties;
// -0 reads back as 0; undefined properties are left out and undefined in
// arrays and Maps reads back as null, as JSON.stringify does. Functions,
// symbols, cycles, a top-level undefined and other objects (RegExp,
// Error, typed arrays, Promise, WeakMap) are refused with a TypeError
// (DataCloneError in browsers). An object stored twice within one value is
// stored twice.
//
// # Globals
//
// Request and Response (bodies: strings, ArrayBuffers, typed arrays,
// URLSearchParams, Blob, FormData — serialized as multipart/form-data —
// and ReadableStreams; .body is a ReadableStream; text, json,
// arrayBuffer, bytes, blob and formData, which parses urlencoded and
// multipart bodies), Headers, URL, URLSearchParams, Blob, File, FormData,
// ReadableStream, WritableStream, TransformStream and their readers,
// writers and controllers (default streams, no byte streams: streams.js),
// TextEncoder, TextDecoder (UTF-8), atob and btoa (HTML's
// forgiving-base64), crypto.randomUUID, getRandomValues and subtle
// (digest with SHA-1/256/384/512, HMAC importKey "raw", exportKey,
// generateKey, sign and verify, and Cloudflare's timingSafeEqual:
// subtle.go), DOMException, Event, CustomEvent, EventTarget,
// AbortController and AbortSignal (abort, timeout, any), console (to the
// engine's slog logger with class and object), setTimeout, setInterval,
// clearTimeout, clearInterval, scheduler.wait, performance.now,
// structuredClone (the stored encoding below), queueMicrotask,
// WebSocketPair and WebSocket (the hibernation API, its auto-responses and
// the non-hibernating accept() with MessageEvent, CloseEvent and
// ErrorEvent listeners: websocket.go, socketevents.go), fetch (only to
// the hosts Config.OutboundAllow names, bounded by OutboundTimeout and
// MaxResponseBytes: fetch.go), and goja's ECMAScript built-ins (with
// Symbol.asyncIterator added). Bodies are whole underneath: a stream body
// is read to its end, within MaxResponseBytes, when it is consumed or
// sent. Storage keys are converted as WebIDL converts DOMStrings (a
// number key is its string). There is no Node API. `import {
// DurableObject } from "cloudflare:workers"` resolves to a base class
// keeping ctx and env.
//
// # Limits
//
// Each limit is a clear error and harms no other object: CPU time per call
// (goja's Interrupt; the instance is dropped: ErrCPULimit; a backtracking
// regular-expression match, which Interrupt cannot reach, stops after 1 s
// with the same error: regexp.go), memory (goja
// has no limit of its own: a call whose JavaScript runs while the node's
// live heap grows past Config.MaxHeapGrowth, within one segment or across
// the segments of a call that allocates much, is interrupted the same
// way, ErrMemoryLimit — the heap is the process's, so the bound is
// generous; and a runtime that holds more than Config.MaxRuntimeBytes
// between calls, measured by walking it, is retired and the call that
// took it there fails with ErrMemoryLimit: memory.go), call depth
// (ErrStackOverflow; goja's is not catchable in JavaScript), source size
// (ErrSourceTooLarge), response size (ErrResponseTooLarge), value, key and
// per-call write sizes (RangeErrors a class may catch, carrying
// ErrValueTooLarge, ErrKeyTooLarge, ErrWriteTooLarge).
//
// goja cannot interrupt a built-in midway, so the built-ins that turn a
// small input into a large allocation in one step check the size first:
// String.prototype.repeat, padStart, padEnd, concat, replace and
// replaceAll (a replacement string bounds the result by the matches'
// count and length; a replacement function's results are counted as
// they come) and Array.prototype.join (Config.MaxStringLength,
// ErrStringTooLarge: 'x'.repeat(1e8) throws before allocating),
// Array.prototype.fill, Array.from of an array-like and the ArrayBuffer
// and typed-array constructors (Config.MaxArrayLength,
// ErrArrayTooLarge). JSON.stringify, whose cycle check takes time
// quadratic in the nesting, refuses values nested deeper than 1,000, and
// JSON.parse (request.json() too), which recurses on the goroutine's
// stack, text nested deeper than 1,000 or longer than MaxStringLength
// (ErrTooDeep, ErrStringTooLarge). What a JavaScript expression grows
// (s += s, template literals) goja gives no hook to check before it
// allocates: it is bounded by the watchdog's MaxHeapGrowth and the CPU
// limit; a value or response that grew too large is refused by its
// length before it is copied out of the runtime.
package classes
