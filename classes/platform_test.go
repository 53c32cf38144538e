package classes

import (
	"errors"
	"strings"
	"testing"
)

// bodyCase is a class body to run (see bodyModule) and what it answers,
// or "!text" for an error whose message contains text.
type bodyCase struct{ name, body, want string }

// runBodyCases runs each case on a fresh object of a fresh engine.
func runBodyCases(t *testing.T, cfg Config, tests []bodyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runBody(t, newTestEngine(t, cfg), newFakeState("obj"), tt.body)
			if want, ok := strings.CutPrefix(tt.want, "!"); ok {
				if msg := scriptMessage(t, err); !strings.Contains(msg, want) {
					t.Fatalf("error %q, want it to contain %q", msg, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// hexJS is a helper the crypto cases use: an ArrayBuffer as hex.
const hexJS = `const hex = (b) => Array.from(new Uint8Array(b), (x) => (x < 16 ? "0" : "") + x.toString(16)).join(""); const enc = (s) => new TextEncoder().encode(s);`

func TestSubtleCrypto(t *testing.T) {
	runBodyCases(t, Config{}, []bodyCase{
		{"digest", hexJS + `const d = enc("abc");
			return [hex(await crypto.subtle.digest("SHA-1", d)), hex(await crypto.subtle.digest({name: "sha-256"}, d.buffer)),
				hex(await crypto.subtle.digest("SHA-384", d)), hex(await crypto.subtle.digest("SHA-512", new DataView(d.buffer)))]`,
			`["a9993e364706816aba3e25717850c26c9cd0d89d","ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",` +
				`"cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",` +
				`"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"]`},
		{"digest of a view's own bytes", hexJS + `const d = enc("xabcx"); return hex(await crypto.subtle.digest("SHA-1", d.subarray(1, 4)))`,
			`"a9993e364706816aba3e25717850c26c9cd0d89d"`},
		{"digest unknown hash rejects", `await crypto.subtle.digest("MD5", new Uint8Array(1))`, `!NotSupportedError: Unrecognized hash algorithm MD5`},
		{"digest of a string rejects", `await crypto.subtle.digest("SHA-1", "abc")`, `!data must be an ArrayBuffer`},
		// RFC 4231, test case 2.
		{"hmac sign verify", hexJS + `const k = await crypto.subtle.importKey("raw", enc("Jefe"), {name: "HMAC", hash: "SHA-256"}, false, ["sign", "verify"]);
			const sig = await crypto.subtle.sign("HMAC", k, enc("what do ya want for nothing?"));
			const bad = new Uint8Array(sig.slice(0)); bad[31] ^= 1;
			return [hex(sig), await crypto.subtle.verify("HMAC", k, sig, enc("what do ya want for nothing?")),
				await crypto.subtle.verify({name: "HMAC"}, k, bad, enc("what do ya want for nothing?")),
				await crypto.subtle.verify("HMAC", k, sig.slice(1), enc("what do ya want for nothing?")),
				k.type, k.extractable, k.algorithm.name, k.algorithm.hash.name, k.algorithm.length, k.usages, String(k)]`,
			`["5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",true,false,false,"secret",false,"HMAC","SHA-256",32,["sign","verify"],"[object CryptoKey]"]`},
		{"hmac usage refused", `const k = await crypto.subtle.importKey("raw", new Uint8Array([1]), {name: "HMAC", hash: "SHA-1"}, false, ["verify"]);
			await crypto.subtle.sign("HMAC", k, new Uint8Array(0))`, `!InvalidAccessError: the key does not allow sign`},
		{"hmac export", hexJS + `const k = await crypto.subtle.importKey("raw", new Uint8Array([1, 2]), {name: "HMAC", hash: {name: "SHA-512"}}, true, ["sign"]);
			return hex(await crypto.subtle.exportKey("raw", k))`, `"0102"`},
		{"hmac not extractable", `const k = await crypto.subtle.importKey("raw", new Uint8Array([1]), {name: "HMAC", hash: "SHA-1"}, false, ["sign"]);
			await crypto.subtle.exportKey("raw", k)`, `!not extractable`},
		{"importKey jwk unsupported", `await crypto.subtle.importKey("jwk", {}, {name: "HMAC", hash: "SHA-1"}, false, ["sign"])`, `!NotSupportedError`},
		{"generateKey", hexJS + `const k = await crypto.subtle.generateKey({name: "HMAC", hash: "SHA-384"}, true, ["sign", "verify"]);
			const raw = await crypto.subtle.exportKey("raw", k); const sig = await crypto.subtle.sign("HMAC", k, enc("m"));
			return [k.algorithm.length, raw.byteLength, sig.byteLength, await crypto.subtle.verify("HMAC", k, sig, enc("m"))]`, `[1024,128,48,true]`},
		{"timingSafeEqual", `const a = new Uint8Array([1, 2, 3]);
			return [crypto.subtle.timingSafeEqual(a, new Uint8Array([1, 2, 3])), crypto.subtle.timingSafeEqual(a.buffer, new Uint8Array([1, 2, 4]))]`, `[true,false]`},
		{"timingSafeEqual lengths", `crypto.subtle.timingSafeEqual(new Uint8Array(1), new Uint8Array(2))`, `!same length`},
		{"getRandomValues quota", `crypto.getRandomValues(new Uint8Array(65537))`, `!QuotaExceededError`},
		{"getRandomValues at the quota", `return crypto.getRandomValues(new Uint8Array(65536)).length`, `65536`},
		{"getRandomValues float", `crypto.getRandomValues(new Float64Array(1))`, `!TypeMismatchError`},
		{"DOMException", `const e = new DOMException("m", "AbortError"); return [e instanceof Error, e.name, e.message, e.code, new DOMException().name]`,
			`[true,"AbortError","m",20,"Error"]`},
	})
}

func TestBase64CloneAndScheduler(t *testing.T) {
	runBodyCases(t, Config{}, []bodyCase{
		{"atob padding and whitespace", `return [atob("aGk="), atob("aGk"), atob(" a G\nk = "), atob("YQ=="), atob("YQ"), atob(""), atob(12)]`,
			"[\"hi\",\"hi\",\"hi\",\"a\",\"a\",\"\",\"\u00d7\"]"},
		{"atob too much padding", `atob("aGk==")`, `!InvalidCharacterError`},
		{"atob padding in the middle", `atob("YQ==YQ==")`, `!InvalidCharacterError`},
		{"atob length 1 mod 4", `atob("aGkhY")`, `!InvalidCharacterError: atob: the string to be decoded is not correctly encoded`},
		{"atob bad character", `atob("aG-k")`, `!InvalidCharacterError`},
		{"atob error is a DOMException", `try { atob("!") } catch (e) { return [e instanceof DOMException, e.name, e.code] }`,
			`[true,"InvalidCharacterError",5]`},
		{"atob without argument", `atob()`, `!1 argument required`},
		{"btoa converts", `return [btoa(null), btoa(1), btoa("")]`, `["bnVsbA==","MQ==",""]`},
		{"btoa non latin1", `try { btoa("☃") } catch (e) { return [e instanceof DOMException, e.name] }`, `[true,"InvalidCharacterError"]`},
		{"structuredClone stored semantics", `const c = structuredClone({b: new Set([1]), a: [undefined, NaN], d: new Date(5), u: undefined});
			return [Object.keys(c), c.a, c.b, c.d]`, `[["a","b","d"],[null,NaN],Set{1},Date(1970-01-01T00:00:00.005Z)]`},
		{"structuredClone refuses functions", `structuredClone({f() {}})`, `!a function (DataCloneError)`},
		{"scheduler.wait", `const out = []; const a = scheduler.wait(3).then(() => out.push("3")); const b = scheduler.wait(1).then(() => out.push("1"));
			const r = await scheduler.wait(5); await Promise.all([a, b]); return [r, out]`, `[undefined,["1","3"]]`},
	})
}

func TestEventsAndAbort(t *testing.T) {
	runBodyCases(t, Config{}, []bodyCase{
		{"dispatch in order with this and target", `const t = new EventTarget(), out = [];
			t.addEventListener("x", function (e) { out.push(["f", this === t, e.target === t, e.currentTarget === t, e.eventPhase]) });
			t.addEventListener("x", { handleEvent(e) { out.push(["h", this !== t, e.type]) } });
			const r = t.dispatchEvent(new Event("x")); return [r, out]`,
			`[true,[["f",true,true,true,2],["h",true,"x"]]]`},
		{"duplicates ignored, once, remove", `const t = new EventTarget(); let n = 0, m = 0; const f = () => n++, g = () => m++;
			t.addEventListener("x", f); t.addEventListener("x", f); t.addEventListener("x", g, {once: true});
			t.dispatchEvent(new Event("x")); t.dispatchEvent(new Event("x")); t.removeEventListener("x", f); t.dispatchEvent(new Event("x"));
			return [n, m]`, `[2,1]`},
		{"listener removed during dispatch is skipped", `const t = new EventTarget(), out = []; const b = () => out.push("b");
			t.addEventListener("x", () => { out.push("a"); t.removeEventListener("x", b) }); t.addEventListener("x", b);
			t.dispatchEvent(new Event("x")); return out`, `["a"]`},
		{"preventDefault", `const t = new EventTarget(); t.addEventListener("x", (e) => e.preventDefault());
			t.addEventListener("y", (e) => e.preventDefault(), {passive: true});
			return [t.dispatchEvent(new Event("x", {cancelable: true})), t.dispatchEvent(new Event("x")), t.dispatchEvent(new Event("y", {cancelable: true}))]`,
			`[false,true,true]`},
		{"stopImmediatePropagation", `const t = new EventTarget(), out = []; t.addEventListener("x", (e) => { out.push(1); e.stopImmediatePropagation() });
			t.addEventListener("x", () => out.push(2)); t.dispatchEvent(new Event("x")); return out`, `[1]`},
		{"a throwing listener does not stop the others", `const t = new EventTarget(), out = []; t.addEventListener("x", () => { throw new Error("boom") });
			t.addEventListener("x", () => out.push(2)); return [t.dispatchEvent(new Event("x")), out]`, `[true,[2]]`},
		{"redispatch while dispatching", `const t = new EventTarget(); const e = new Event("x"); let name;
			t.addEventListener("x", () => { try { t.dispatchEvent(e) } catch (err) { name = err.name } }); t.dispatchEvent(e); return name`,
			`"InvalidStateError"`},
		{"dispatch needs an Event", `new EventTarget().dispatchEvent({type: "x"})`, `!not an Event`},
		{"subclass and CustomEvent", `class Room extends EventTarget {}; const r = new Room(); let d;
			r.addEventListener("join", (e) => { d = [e.detail, e instanceof Event, String(e)] }); r.dispatchEvent(new CustomEvent("join", {detail: {who: "a"}}));
			return [d, new CustomEvent("z").detail]`, `[[{"who":"a"},true,"[object CustomEvent]"],null]`},
		{"AbortController", `const c = new AbortController(), s = c.signal, out = [];
			s.addEventListener("abort", (e) => out.push([e.type, s.aborted])); s.onabort = () => out.push("on");
			const before = s.aborted; c.abort(); c.abort("again");
			return [before, s.aborted, s.reason instanceof DOMException, s.reason.name, out]`,
			`[false,true,true,"AbortError",[["abort",true],"on"]]`},
		{"abort reason and throwIfAborted", `const c = new AbortController(); c.signal.throwIfAborted(); c.abort("why"); try { c.signal.throwIfAborted() } catch (e) { return e }`,
			`"why"`},
		{"AbortSignal.abort", `const s = AbortSignal.abort(); return [s.aborted, s.reason.name]`, `[true,"AbortError"]`},
		{"AbortSignal.timeout", `const s = AbortSignal.timeout(2); const before = s.aborted;
			await new Promise((r) => s.addEventListener("abort", r)); return [before, s.aborted, s.reason.name]`, `[false,true,"TimeoutError"]`},
		{"AbortSignal.any", `const a = new AbortController(), b = new AbortController(); const s = AbortSignal.any([a.signal, b.signal]);
			b.abort("b"); return [s.aborted, s.reason]`, `[true,"b"]`},
		{"signal option removes a listener", `const t = new EventTarget(), c = new AbortController(); let n = 0;
			t.addEventListener("x", () => n++, {signal: c.signal}); t.dispatchEvent(new Event("x")); c.abort(); t.dispatchEvent(new Event("x"));
			t.addEventListener("x", () => n++, {signal: c.signal}); t.dispatchEvent(new Event("x")); return n`, `1`},
		{"AbortSignal constructor", `new AbortSignal()`, `!Illegal constructor`},
	})
}

func TestStreams(t *testing.T) {
	runBodyCases(t, Config{}, []bodyCase{
		{"readable start enqueue close", `const s = new ReadableStream({ start(c) { c.enqueue("a"); c.enqueue("b"); c.close() } });
			const r = s.getReader(); const out = [s.locked];
			for (;;) { const {value, done} = await r.read(); if (done) break; out.push(value) }
			r.releaseLock(); return [out, s.locked]`, `[[true,"a","b"],false]`},
		{"readable pull on demand", `let n = 0; const s = new ReadableStream({ pull(c) { n++; if (n > 3) c.close(); else c.enqueue(n) } }, {highWaterMark: 0});
			const out = []; for await (const x of s) out.push(x); return [out, n]`, `[[1,2,3],4]`},
		{"readable async pull", `let n = 0; const s = new ReadableStream({ async pull(c) { await scheduler.wait(1); if (++n > 2) c.close(); else c.enqueue(n) } });
			const out = []; for await (const x of s) out.push(x); return out`, `[1,2]`},
		{"readable error", `const s = new ReadableStream({ start(c) { c.enqueue(1); c.error(new Error("broken")) } }); await s.getReader().read()`, `!broken`},
		{"readable cancel", `let why; const s = new ReadableStream({ cancel(r) { why = r } }); await s.cancel("enough"); return [why, (await s.getReader().read()).done]`,
			`["enough",true]`},
		{"locked twice", `const s = new ReadableStream(); s.getReader(); s.getReader()`, `!locked`},
		{"byob unsupported", `new ReadableStream().getReader({mode: "byob"})`, `!not supported`},
		{"tee", `const [a, b] = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.close() } }).tee();
			const all = async (s) => { const o = []; for await (const x of s) o.push(x); return o };
			return [await all(a), await all(b)]`, `[[1,2],[1,2]]`},
		{"from", `const out = []; for await (const x of ReadableStream.from(["x", "y"])) out.push(x); return out`, `["x","y"]`},
		{"writable", `const got = []; const w = new WritableStream({ async write(c) { await scheduler.wait(1); got.push(c) }, close() { got.push("closed") } });
			const wr = w.getWriter(); wr.write(1); wr.write(2); await wr.close(); return [got, w.locked]`, `[[1,2,"closed"],true]`},
		{"writable write error", `const w = new WritableStream({ write() { throw new Error("sink") } }); const wr = w.getWriter();
			await wr.write(1).catch(() => {}); await wr.write(2)`, `!sink`},
		{"transform", `const t = new TransformStream({ transform(c, ctl) { ctl.enqueue(c.toUpperCase()) }, flush(ctl) { ctl.enqueue("!") } });
			const w = t.writable.getWriter(); w.write("a"); w.write("b"); w.close();
			const out = []; for await (const x of t.readable) out.push(x); return out`, `["A","B","!"]`},
		{"pipeThrough", `const src = ReadableStream.from(["a", "b"]);
			const out = []; for await (const x of src.pipeThrough(new TransformStream({ transform(c, ctl) { ctl.enqueue(c + c) } }))) out.push(x); return out`,
			`["aa","bb"]`},
		{"request body is a stream", `const r = new Request("http://h/", {method: "POST", body: "hello"});
			const rd = r.body.getReader(); const {value} = await rd.read(); const end = await rd.read();
			return [r.body instanceof ReadableStream, value instanceof Uint8Array, new TextDecoder().decode(value), end.done, r.bodyUsed]`,
			`[true,true,"hello",true,true]`},
		{"body stream read then text", `const r = new Response("x"); await r.body.getReader().read(); await r.text()`, `!already been used`},
		{"body not read leaves text", `const r = new Response("x"); r.body; return [r.bodyUsed, await r.text(), r.bodyUsed]`, `[false,"x",true]`},
		{"response from a stream", `const s = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("a")); c.enqueue("b"); c.close() } });
			const r = new Response(s); return [r.headers.get("content-type"), r.body === s, await r.text(), r.bodyUsed]`, `[null,true,"ab",true]`},
		{"request from a stream", `const r = new Request("http://h/", {method: "PUT", body: ReadableStream.from([new Uint8Array([123, 125])])}); return await r.json()`, `{}`},
		{"stream response clone", `const r = new Response(ReadableStream.from(["q"])); const c = r.clone(); return [await c.text(), await r.text()]`, `["q","q"]`},
		{"locked stream as body", `const s = new ReadableStream(); s.getReader(); new Response(s)`, `!locked`},
		{"body over the limit", `const r = new Response(new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(1 << 16)) } })); await r.arrayBuffer()`,
			`!body stream is over 1048576 bytes`},
	})
}

// TestStreamResponseIsSentWhole: a Response whose body is a stream the
// class feeds after fetch returns is read to its end before it is sent,
// and one over the response limit fails the call.
func TestStreamResponseIsSentWhole(t *testing.T) {
	p := mustCompile(t, "S", `
export class S {
  async fetch(request) {
    const { readable, writable } = new TransformStream();
    const w = writable.getWriter(), enc = new TextEncoder();
    (async () => {
      for (let i = 0; i < 3; i++) { await scheduler.wait(1); await w.write(enc.encode("chunk" + i + ";")); }
      if (new URL(request.url).pathname === "/big") await w.write(new Uint8Array(2 << 20));
      await w.close();
    })();
    return new Response(readable, { headers: { "content-type": "text/plain" } });
  }
}`)
	e := newTestEngine(t, Config{})
	ref := ClassRef{Name: "S", Version: 1, Program: p}
	if got := mustDo(t, e, ref, "o", newFakeState("o"), "GET", "/", ""); got != "chunk0;chunk1;chunk2;" {
		t.Fatalf("body %q", got)
	}
	_, err := do(t, e, ref, "o", newFakeState("o"), "GET", "/big", "")
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("a stream over the limit: %v, want ErrResponseTooLarge", err)
	}
}

func TestBlobAndFormData(t *testing.T) {
	runBodyCases(t, Config{}, []bodyCase{
		{"blob", `const b = new Blob(["hé", new Uint8Array([33]), new Blob(["?"])], {type: "Text/Plain"});
			return [b.size, b.type, await b.text(), [...new Uint8Array(await b.arrayBuffer())].length, String(b)]`, `[5,"text/plain","hé!?",5,"[object Blob]"]`},
		{"blob slice", `const b = new Blob(["abcdef"]); return [await b.slice(1, 3).text(), await b.slice(-2).text(), await b.slice(4, 2).text(), b.slice(0, 1, "x/y").type]`,
			`["bc","ef","","x/y"]`},
		{"blob bad type", `return new Blob([], {type: "a\u00e9"}).type`, `""`},
		{"blob stream", `const out = []; for await (const c of new Blob(["xy"]).stream()) out.push(new TextDecoder().decode(c)); return out`, `["xy"]`},
		{"file", `const f = new File(["1"], "a.txt", {type: "text/plain", lastModified: 5}); return [f.name, f.lastModified, f.size, f instanceof Blob]`,
			`["a.txt",5,1,true]`},
		{"blob body", `const r = new Response(new Blob(["{}"], {type: "application/json"})); return [r.headers.get("content-type"), await r.json()]`,
			`["application/json",{}]`},
		{"body.blob", `const b = await new Response("hi", {headers: {"content-type": "text/x"}}).blob(); return [b.type, await b.text()]`, `["text/x","hi"]`},
		{"formdata", `const f = new FormData(); f.append("a", "1"); f.append("b", 2); f.append("a", "3"); f.append("f", new Blob(["z"]));
			const before = [f.get("a"), f.getAll("a"), f.has("b"), f.get("nope"), f.get("f").name, f.get("f") instanceof File];
			f.set("a", "4"); f.delete("b"); return [before, [...f].map(([k, v]) => [k, typeof v === "string" ? v : "file"]), [...f.keys()]]`,
			`[["1",["1","3"],true,null,"blob",true],[["a","4"],["f","file"]],["a","f"]]`},
		{"formData urlencoded", `const r = new Request("http://h/", {method: "POST", body: new URLSearchParams({a: "x y", b: "2"})});
			const f = await r.formData(); return [f.get("a"), f.get("b")]`, `["x y","2"]`},
		{"formData multipart round trip", `const f = new FormData(); f.append("name", "dobj\n"); f.append("up", new File(["bytes"], "a\"b.txt", {type: "text/plain"}));
			const r = new Response(f); const ct = r.headers.get("content-type");
			const g = await new Request("http://h/", {method: "POST", body: await r.arrayBuffer(), headers: {"content-type": ct}}).formData();
			const up = g.get("up"); return [/^multipart\/form-data; boundary=-+formdata-dobj-[0-9a-f]{24}$/.test(ct), g.get("name"), up.name, up.type, await up.text()]`,
			`[true,"dobj\r\n","a%22b.txt","text/plain","bytes"]`},
		{"formData multipart by hand", `const body = "--X\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\nv\r\n--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"dir/x.bin\"\r\n\r\n\u0001\r\n--X--\r\n";
			const f = await new Request("http://h/", {method: "POST", body, headers: {"content-type": "multipart/form-data; boundary=\"X\""}}).formData();
			return [f.get("k"), f.get("f").name, f.get("f").size, f.get("f").type]`, `["v","dir/x.bin",1,""]`},
		{"formData wrong type", `await new Response("a=1").formData()`, `!is not a form's`},
		{"formData bad multipart", `await new Response("junk", {headers: {"content-type": "multipart/form-data; boundary=X"}}).formData()`, `!not multipart/form-data`},
		{"formData no boundary", `await new Response("", {headers: {"content-type": "multipart/form-data"}}).formData()`, `!no boundary`},
	})
}

// TestEngineRequestBodyIsAStream: the Request the engine hands fetch
// reads as a stream too, as hono reads it.
func TestEngineRequestBodyIsAStream(t *testing.T) {
	p := mustCompile(t, "B", `
export class B {
  async fetch(request) {
    const out = [];
    for await (const chunk of request.body) out.push(new TextDecoder().decode(chunk));
    return new Response(JSON.stringify([out, request.bodyUsed]));
  }
}`)
	e := newTestEngine(t, Config{})
	got := mustDo(t, e, ClassRef{Name: "B", Version: 1, Program: p}, "o", newFakeState("o"), "POST", "/", `{"a":1}`)
	if got != `[["{\"a\":1}"],true]` {
		t.Fatalf("body %s", got)
	}
}
