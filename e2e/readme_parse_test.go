package e2e

import (
	"reflect"
	"testing"
)

// TestParseReadme: the README test's reading of command blocks, on the
// shapes the README uses.
func TestParseReadme(t *testing.T) {
	readme := "text\n" +
		"```sh\n" +
		"go run ./cmd/dobj dev\n" +
		"```\n" +
		"<!-- readme-test: skip (slow) -->\n" +
		"```sh\n" +
		"go test ./...\n" +
		"```\n" +
		"```\n" +
		"not a command block\n" +
		"```\n" +
		"```sh\n" +
		"curl -X POST http://127.0.0.1:8081/c/increment   # {\"name\":\"c\",\"value\":1}\n" +
		"curl -X DELETE http://127.0.0.1:8081/c/storage # {\"deleted\":N}  (every key)\n" +
		"curl -d '{\n" +
		"  \"success\": [{\"op\":\"get\",\"key\":\"a#b\"}]\n" +
		"}' http://x\n" +
		"# {\"succeeded\":true}\n" +
		"./dobj get c            # the counter\n" +
		"./dobj get c k          # \"ada\"\n" +
		"./dobj serve --id n1 \\\n" +
		"  --http-addr 127.0.0.1:8082 --raft-addr 127.0.0.1:9082\n" +
		"```\n"
	blocks, err := parseReadme(readme)
	if err != nil {
		t.Fatal(err)
	}
	want := []readmeBlock{
		{line: 2, cmds: []readmeCmd{{line: 3, text: "go run ./cmd/dobj dev"}}},
		{line: 6, skip: "slow", cmds: []readmeCmd{{line: 7, text: "go test ./..."}}},
		{line: 12, cmds: []readmeCmd{
			{line: 13, text: "curl -X POST http://127.0.0.1:8081/c/increment", expect: `{"name":"c","value":1}`},
			{line: 14, text: "curl -X DELETE http://127.0.0.1:8081/c/storage", expect: `{"deleted":N}  (every key)`},
			{line: 15, text: "curl -d '{\n  \"success\": [{\"op\":\"get\",\"key\":\"a#b\"}]\n}' http://x", expect: `{"succeeded":true}`},
			{line: 19, text: "./dobj get c"},
			{line: 20, text: "./dobj get c k", expect: `"ada"`},
			{line: 21, text: "./dobj serve --id n1 \\\n  --http-addr 127.0.0.1:8082 --raft-addr 127.0.0.1:9082"},
		}},
	}
	if !reflect.DeepEqual(blocks, want) {
		t.Fatalf("blocks\n%+v\nwant\n%+v", blocks, want)
	}

	if _, err := parseReadme("```sh\necho 'open\n```\n"); err == nil {
		t.Error("an unclosed quote was accepted")
	}

	if got := movePorts(want[2].cmds[5].text); got != "./dobj serve --id n1 \\\n  --http-addr 127.0.0.1:15502 --raft-addr 127.0.0.1:16502" {
		t.Errorf("movePorts: %q", got)
	}
	if got := movePorts("go run ./cmd/dobj dev"); got != "go run ./cmd/dobj dev --base-port 15500" {
		t.Errorf("movePorts(dev): %q", got)
	}
	if got := readyURLs("./dobj serve --id n4 --http-addr 127.0.0.1:15504"); !reflect.DeepEqual(got, []string{"http://127.0.0.1:15504/_ready"}) {
		t.Errorf("readyURLs: %v", got)
	}

	matches := []struct {
		want, got string
		ok        bool
	}{
		{`{"deleted":N}  (every key)`, `{"deleted":3}`, true},
		{`{"deleted":N}`, `{"deleted":"3"}`, false},
		{`{"name": "c", "value": 9}`, "{\n  \"name\": \"c\",\n  \"value\": 9\n}\n", true},
		{`{"name": "c", "value": 9}`, `{"name":"c","value":9,"key":"k"}`, false},
		{`[1,N]`, `[1,2]`, true},
		{`"ada"`, `"ada"` + "\n", true},
		{`{"ok":true}`, `{"ok":true}{"ok":true}`, false},
	}
	for _, m := range matches {
		w, err := parseExpected(m.want)
		if err != nil {
			t.Fatalf("%s: %v", m.want, err)
		}
		g, err := parseOutput(m.got)
		if ok := err == nil && jsonMatches(w, g); ok != m.ok {
			t.Errorf("%s vs %s: match %v, want %v (%v)", m.want, m.got, ok, m.ok, err)
		}
	}
}
