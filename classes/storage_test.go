package classes

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestStorage(t *testing.T) {
	// Every case starts from these committed keys.
	committed := map[string]string{"a": `1`, "b": `"two"`, "c": `{"x":[1,2]}`, "d1": `4`, "d2": `5`, "e": `null`}
	all := []string{`a=1`, `b="two"`, `c={"x":[1,2]}`, `d1=4`, `d2=5`, `e=null`}
	tests := []struct {
		name  string
		body  string
		want  string
		state []string // committed afterwards; nil = unchanged
		err   string   // a ScriptError message containing this
	}{
		{"get committed", `return [await storage.get("a"), await storage.get("b"), await storage.get("c"), await storage.get("e")]`,
			`[1,"two",{"x":[1,2]},null]`, nil, ""},
		{"get absent", `return await storage.get("zz")`, `undefined`, nil, ""},
		{"get many", `return await storage.get(["zz", "b", "a", "b"])`, `Map{"a"=>1,"b"=>"two"}`, nil, ""},
		{"get many none", `return await storage.get([])`, `Map{}`, nil, ""},
		{"get returns a promise", `const p = storage.get("a"); return [p instanceof Promise, await p]`, `[true,1]`, nil, ""},
		{"put then get", `await storage.put("n", {k: [1, "x"]}); return await storage.get("n")`, `{"k":[1,"x"]}`,
			append(slices.Clone(all), `n={"k":[1,"x"]}`), ""},
		{"put overwrites", `await storage.put("a", 10); return await storage.get("a")`, `10`,
			[]string{`a=10`, `b="two"`, `c={"x":[1,2]}`, `d1=4`, `d2=5`, `e=null`}, ""},
		{"put entries", `await storage.put({p: 1, q: "x"}); return await storage.get(["p", "q"])`, `Map{"p"=>1,"q"=>"x"}`,
			append(slices.Clone(all), `p=1`, `q="x"`), ""},
		{"put null", `await storage.put("a", null); return await storage.get("a")`, `null`,
			[]string{`a=null`, `b="two"`, `c={"x":[1,2]}`, `d1=4`, `d2=5`, `e=null`}, ""},
		{"put returns undefined", `return await storage.put("z", 1)`, `undefined`, append(slices.Clone(all), `z=1`), ""},
		{"delete present", `return [await storage.delete("a"), await storage.get("a")]`, `[true,undefined]`, all[1:], ""},
		{"delete absent", `return await storage.delete("zz")`, `false`, nil, ""},
		{"delete own put", `await storage.put("n", 1); return await storage.delete("n")`, `true`, nil, ""},
		{"delete many", `return await storage.delete(["a", "zz", "b", "a"])`, `2`, all[2:], ""},
		{"delete all", `await storage.deleteAll(); return [await storage.get("a"), await storage.list()]`, `[undefined,Map{}]`, []string{}, ""},
		{"delete all then put", `await storage.deleteAll(); await storage.put("n", 1); return await storage.list()`, `Map{"n"=>1}`, []string{`n=1`}, ""},
		{"list all", `return await storage.list()`, `Map{"a"=>1,"b"=>"two","c"=>{"x":[1,2]},"d1"=>4,"d2"=>5,"e"=>null}`, nil, ""},
		{"list prefix", `return await storage.list({prefix: "d"})`, `Map{"d1"=>4,"d2"=>5}`, nil, ""},
		{"list start", `return await storage.list({start: "c"})`, `Map{"c"=>{"x":[1,2]},"d1"=>4,"d2"=>5,"e"=>null}`, nil, ""},
		{"list startAfter", `return await storage.list({startAfter: "c"})`, `Map{"d1"=>4,"d2"=>5,"e"=>null}`, nil, ""},
		{"list end", `return await storage.list({end: "c"})`, `Map{"a"=>1,"b"=>"two"}`, nil, ""},
		{"list start end", `return await storage.list({start: "b", end: "d2"})`, `Map{"b"=>"two","c"=>{"x":[1,2]},"d1"=>4}`, nil, ""},
		{"list limit", `return await storage.list({limit: 2})`, `Map{"a"=>1,"b"=>"two"}`, nil, ""},
		{"list reverse", `return [...(await storage.list({reverse: true})).keys()]`, `["e","d2","d1","c","b","a"]`, nil, ""},
		{"list reverse limit", `return [...(await storage.list({reverse: true, limit: 2})).keys()]`, `["e","d2"]`, nil, ""},
		{"list reverse prefix end", `return [...(await storage.list({reverse: true, prefix: "d", end: "d2"})).keys()]`, `["d1"]`, nil, ""},
		{"list sees own writes", `await storage.put("b2", 0); await storage.delete("c"); await storage.put("a", 9);
			return await storage.list({limit: 4})`, `Map{"a"=>9,"b"=>"two","b2"=>0,"d1"=>4}`,
			[]string{`a=9`, `b="two"`, `b2=0`, `d1=4`, `d2=5`, `e=null`}, ""},
		{"list deletes hide committed within limit", `await storage.delete(["a", "b"]); return [...(await storage.list({limit: 2})).keys()]`,
			`["c","d1"]`, all[2:], ""},
		{"list reverse sees own writes", `await storage.put("f", 1); await storage.delete("e");
			return [...(await storage.list({reverse: true, limit: 2})).keys()]`, `["f","d2"]`,
			append(slices.Clone(all[:5]), `f=1`), ""},
		{"list start and startAfter", `return await storage.list({start: "a", startAfter: "b"})`, ``, nil, "start and startAfter"},
		{"list limit zero", `return await storage.list({limit: 0})`, ``, nil, "limit must be a positive integer"},
		{"list options converted to strings", `await storage.put({"1": "one", "10": "ten", "2": "two"});
			return [[...(await storage.list({prefix: 1})).keys()], [...(await storage.list({start: 10, end: 2})).keys()],
				[...(await storage.list({startAfter: 1, limit: 1})).keys()]]`, `[["1","10"],["10"],["10"]]`,
			append([]string{}, `1="one"`, `10="ten"`, `2="two"`, `a=1`, `b="two"`, `c={"x":[1,2]}`, `d1=4`, `d2=5`, `e=null`), ""},
		{"transaction commits", `const r = await storage.transaction(async (txn) => { await txn.put("t", 1); return await txn.get("t"); });
			return [r, await storage.get("t")]`, `[1,1]`, append(slices.Clone(all), `t=1`), ""},
		{"transaction throw rolls back", `await storage.put("keep", 1);
			try { await storage.transaction(async (txn) => { await txn.put("t", 1); await txn.delete("a"); throw new Error("no"); }); } catch (e) {}
			return [await storage.get("t"), await storage.get("a"), await storage.get("keep")]`, `[undefined,1,1]`,
			append(slices.Clone(all), `keep=1`), ""},
		{"transaction rollback", `const r = await storage.transaction(async (txn) => { await txn.put("t", 1); txn.rollback(); return "done"; });
			return [r, await storage.get("t")]`, `["done",undefined]`, nil, ""},
		{"transaction use after rollback", `await storage.transaction(async (txn) => { txn.rollback(); await txn.put("t", 1); })`,
			``, nil, "rolled back"},
		{"transaction rejection propagates", `await storage.transaction(async () => { throw new Error("inner") })`, ``, nil, "inner"},
		{"transactionSync needs SQLite", `storage.transactionSync(() => 1)`, ``, nil, "new_sqlite_classes"},
		{"alarm unset", `return await storage.getAlarm()`, `null`, nil, ""},
		{"set alarm ms", `await storage.setAlarm(1700000000000); return await storage.getAlarm()`, `1700000000000`, nil, ""},
		{"set alarm date", `await storage.setAlarm(new Date(1700000000123)); return await storage.getAlarm()`, `1700000000123`, nil, ""},
		{"delete alarm", `await storage.setAlarm(5); await storage.deleteAlarm(); return await storage.getAlarm()`, `null`, nil, ""},
		{"transaction rolls back the alarm", `await storage.setAlarm(7);
			await storage.transaction(async (txn) => { await txn.setAlarm(9); txn.rollback(); });
			try { await storage.transaction(async (txn) => { await txn.deleteAlarm(); throw new Error("x") }) } catch (e) {}
			return await storage.getAlarm()`, `7`, nil, ""},
		{"set alarm bad", `await storage.setAlarm("soon")`, ``, nil, "expected a Date or a number"},
		{"keys converted to strings", `await storage.put(1, "one"); await storage.put(true, "t");
			return [await storage.get(1), await storage.get("1"), await storage.get([1, true, null]), await storage.delete([true]), await storage.get(null)]`,
			`["one","one",Map{"1"=>"one","true"=>"t"},1,undefined]`, append([]string{}, `1="one"`, `a=1`, `b="two"`, `c={"x":[1,2]}`, `d1=4`, `d2=5`, `e=null`), ""},
		{"key a symbol", `await storage.get(Symbol("k"))`, ``, nil, "keys must be strings, got a symbol"},
		{"key empty", `await storage.put("", 1)`, ``, nil, "must not be empty"},
		{"key too long", `await storage.get("k".repeat(2049))`, ``, nil, "key too large"},
		{"value too large", `await storage.put("big", "x".repeat(200000))`, ``, nil, "value too large"},
		{"value a function", `await storage.put("f", {f() {}})`, ``, nil, "a function"},
		{"value undefined", `await storage.put("u", undefined)`, ``, nil, "undefined"},
		{"value a symbol", `await storage.put("s", [Symbol("x")])`, ``, nil, "a symbol"},
		{"value a cycle", `const o = {}; o.self = o; await storage.put("c", o)`, ``, nil, "a cycle"},
		{"put entries all or nothing", `try { await storage.put({ok: 1, bad: () => 1}) } catch (e) {} return await storage.get("ok")`,
			`undefined`, nil, ""},
		{"errors are catchable", `try { await storage.put("", 1) } catch (e) { return [e instanceof TypeError, e.message] }`,
			`[true,"storage keys must not be empty"]`, nil, ""},
		{"too large is a RangeError", `try { await storage.put("big", "x".repeat(200000)) } catch (e) { return e instanceof RangeError }`,
			`true`, nil, ""},
		{"write limit", `for (let i = 0; i < 100; i++) await storage.put("k" + i, "x".repeat(100000))`, ``, nil, "writes too much"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, Config{})
			st := newFakeState("obj")
			for k, v := range committed {
				st.load(k, v)
			}
			got, err := runBody(t, e, st, tt.body)
			if tt.err != "" {
				if msg := scriptMessage(t, err); !strings.Contains(msg, tt.err) {
					t.Fatalf("error %q, want it to contain %q", msg, tt.err)
				}
				if st.commits != 0 {
					t.Fatalf("a failed call committed %d times", st.commits)
				}
				return
			}
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			want := tt.state
			if want == nil {
				want = all
			}
			if d := st.dump(); !slices.Equal(d, want) {
				t.Fatalf("committed %q\nwant      %q", d, want)
			}
		})
	}
}

// TestStorageErrorsCarrySentinels: an uncaught engine error reaches Go as
// a ScriptError that errors.Is its sentinel.
func TestStorageErrorsCarrySentinels(t *testing.T) {
	tests := []struct {
		body string
		want error
	}{
		{`await storage.put("big", "x".repeat(200000))`, ErrValueTooLarge},
		{`await storage.get("k".repeat(3000))`, ErrKeyTooLarge},
		{`await storage.put("f", () => 1)`, ErrNotSerializable},
		{`"x".repeat(1e8)`, ErrStringTooLarge},
		{`for (let i = 0; i < 100; i++) await storage.put("k" + i, "x".repeat(100000))`, ErrWriteTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.want.Error(), func(t *testing.T) {
			_, err := runBody(t, newTestEngine(t, Config{}), newFakeState("o"), tt.body)
			var se *ScriptError
			if !errors.As(err, &se) || !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want a ScriptError carrying %v", err, tt.want)
			}
		})
	}
}

// TestDeleteAllDeletesTheAlarmFromItsDate: deleteAll() deletes the alarm
// too when the class's compatibility date says so (ClassRef), on a
// key-value object; before that date the alarm stays.
func TestDeleteAllDeletesTheAlarmFromItsDate(t *testing.T) {
	e := newTestEngine(t, Config{})
	p := mustCompile(t, "T", bodyModule(`
    if (new URL(request.url).pathname === "/set") { await storage.put("k", 1); await storage.setAlarm(1700000000000); return "set"; }
    await storage.deleteAll();
    return [await storage.getAlarm(), await storage.get("k")];`))
	for _, c := range []struct {
		deletes bool
		want    string
	}{{false, `[1700000000000,undefined]`}, {true, `[null,undefined]`}} {
		st := newFakeState("o")
		ref := ClassRef{Name: "T", Version: 1, Program: p, DeleteAllDeletesAlarm: c.deletes}
		mustDo(t, e, ref, "o", st, "POST", "/set", "")
		if got := mustDo(t, e, ref, "o", st, "POST", "/", ""); got != c.want {
			t.Errorf("deletes the alarm %v: %s, want %s", c.deletes, got, c.want)
		}
		if _, has := st.Alarm(); has == c.deletes {
			t.Errorf("deletes the alarm %v: the committed alarm is set %v", c.deletes, has)
		}
	}
}
