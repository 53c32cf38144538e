package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/dobj/dobj/client"
)

// chromium returns Debian's chromium, installing it with apt-get when it is
// missing; the test is skipped, saying why, only where it cannot be
// installed.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("browser test skipped: chromium is not installed and there is no apt-get to install it")
	}
	if os.Geteuid() != 0 {
		t.Skip("browser test skipped: chromium is not installed and installing it with apt-get needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "chromium"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("browser test skipped: apt-get %s failed (%v): %s", strings.Join(args, " "), err, tailLines(string(out), 5))
		}
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("browser test skipped: apt-get installed chromium but it is not on PATH")
	}
	return p
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// browser starts a headless chromium with a fresh profile and returns a
// context for its first tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1100),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// cardValue reads the number a tab shows on a counter card; -1 while it
// shows none.
func cardValue(ctx context.Context, name string) (int64, error) {
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	text, err := chromedp.Run(tctx, chromedp.Evaluate[string](
		`(document.querySelector('#card-`+name+` .value') || {textContent: ''}).textContent`))
	if err != nil {
		return -1, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	if err != nil {
		return -1, fmt.Errorf("card shows %q", text)
	}
	return v, nil
}

// waitCard polls a tab until the card shows want, and returns how long
// that took.
func waitCard(t *testing.T, tab context.Context, what, name string, want int64) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, 20*time.Second, what, func() error {
		v, err := cardValue(tab, name)
		if err != nil {
			return err
		}
		if v != want {
			return fmt.Errorf("%s shows %d, want %d", name, v, want)
		}
		return nil
	})
	return time.Since(start)
}

func click(t *testing.T, tab context.Context, name, op string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#card-`+name+` button[data-op="`+op+`"]`))); err != nil {
		t.Fatalf("click %s on %s: %v", op, name, err)
	}
}

// TestConsoleLiveAcrossTabsAndFailover opens the console of two followers
// in two tabs: + in one shows in the other through the watch stream,
// and both keep working, writes and live updates, when the leader is
// SIGKILLed; the cluster panel shows the failover. It leaves a screenshot
// in the test's artifact directory (go test -artifacts keeps it).
func TestConsoleLiveAcrossTabsAndFailover(t *testing.T) {
	tab1 := browser(t)
	tab2, cancelTab2 := chromedp.NewContext(tab1) // a second tab of the same browser
	t.Cleanup(cancelTab2)
	// A tab lives as long as the context of its first run: no timeout here.
	if err := chromedp.Do(tab2); err != nil {
		t.Fatalf("open a second tab: %v", err)
	}

	c := newCluster(t, 3)
	c.start()
	leader := c.leader()
	followers := c.others(leader)
	for i := 0; i < 3; i++ {
		c.increment(leader.url(), "card-2", nil)
	}
	for i, tab := range []context.Context{tab1, tab2} {
		ctx, cancel := context.WithTimeout(tab, 20*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(followers[i].url()+"/"),
			chromedp.WaitVisible(chromedp.CSS(`#live.on`)),
			chromedp.WaitVisible(chromedp.CSS(`#nodes tr[data-state="leader"]`)))
		cancel()
		if err != nil {
			t.Fatalf("console of %s in tab %d: %v", followers[i].id, i+1, err)
		}
	}
	start := c.mustCounter(followers[0].url(), "card-1")
	waitCard(t, tab2, "tab 2 shows card-1", "card-1", start)
	waitCard(t, tab2, "tab 2 shows card-2", "card-2", 3)

	click(t, tab1, "card-1", "plus")
	took := waitCard(t, tab2, "+ in tab 1 to show in tab 2", "card-1", start+1)
	t.Logf("+ in tab 1 (on %s) showed in tab 2 (on %s) after %v", followers[0].id, followers[1].id, took)
	click(t, tab2, "card-1", "minus")
	waitCard(t, tab1, "− in tab 2 to show in tab 1", "card-1", start)

	// The leader dies: both pages keep working.
	c.kill(leader)
	click(t, tab1, "card-1", "plus")
	waitCard(t, tab2, "+ in tab 1 to show in tab 2 after the leader's kill", "card-1", start+1)
	click(t, tab2, "card-2", "plus")
	waitCard(t, tab1, "+ in tab 2 to show in tab 1 after the leader's kill", "card-2", 4)
	if got := c.mustCounter(followers[1].url(), "card-1"); got != start+1 {
		t.Fatalf("card-1 = %d after the clicks, want %d: a click counted other than once", got, start+1)
	}
	for i, tab := range []context.Context{tab1, tab2} {
		ctx, cancel := context.WithTimeout(tab, 20*time.Second)
		err := chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.CSS(`#nodes tr[data-node="`+leader.id+`"][data-state="down"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#nodes tr[data-state="leader"]`)))
		cancel()
		if err != nil {
			t.Fatalf("tab %d's cluster panel does not show the failover: %v", i+1, err)
		}
	}

	// The object browser lists the counters and opens one. Its tables are
	// redrawn as answers come, so the click is one script, not a lookup
	// followed by a click on a node that may be gone.
	ctx, cancel := context.WithTimeout(tab1, 10*time.Second)
	defer cancel()
	const openCard2 = `(() => {
		const row = document.querySelector('#objects tr[data-object="card-2"]');
		if (!row) { document.getElementById('obj-first').click(); return ''; }
		if (!row.classList.contains('open')) { row.click(); return ''; }
		return document.getElementById('keys-title').textContent + ': ' + document.getElementById('keys').textContent;
	})()`
	eventually(t, 10*time.Second, "the object browser to open card-2", func() error {
		keys, err := chromedp.Run(ctx, chromedp.Evaluate[string](openCard2))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(keys, "card-2: value4") {
			return fmt.Errorf("the browser shows %q, want card-2's value 4", keys)
		}
		return nil
	})

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), "console.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the console after the failover: %s", path)
}

// TestConsoleSignIn: on a cluster started with --auth-file the console
// asks for a token and shows no data before; a wrong one is refused with
// a message; a write token brings the cards live, a click counts once,
// the cluster panel reads every member, and the page never holds the
// token (it lives in an HttpOnly cookie).
func TestConsoleSignIn(t *testing.T) {
	tab := browser(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("read reader-token\nwrite writer-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 3, "--auth-file", tokens)
	c.token = "writer-token"
	c.start()
	leader := c.leader()
	follower := c.others(leader)[0]
	if r := c.increment(leader.url(), "card-1", nil); r.status != http.StatusOK {
		t.Fatalf("increment: %s", r)
	}

	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	const signInMsg = `document.getElementById('signin-msg').textContent`
	if err := chromedp.Do(ctx, chromedp.Navigate(follower.url()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#signin-token`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-token`), "not-a-token"),
		chromedp.Click(chromedp.CSS(`#signin-form button`))); err != nil {
		t.Fatalf("the console of %s does not ask for a token: %v", follower.id, err)
	}
	eventually(t, 10*time.Second, "the wrong token refused", func() error {
		msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](signInMsg))
		if err != nil {
			return err
		}
		if !strings.Contains(msg, "not known") {
			return fmt.Errorf("the sign-in says %q", msg)
		}
		return nil
	})
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#cards .card').length`))
	if err != nil || shown != 0 {
		t.Fatalf("%d cards shown before signing in (%v), want none", shown, err)
	}

	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#signin-token`), "writer-token"),
		chromedp.Click(chromedp.CSS(`#signin-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#live.on`)),
		chromedp.WaitVisible(chromedp.CSS(`#account`))); err != nil {
		t.Fatalf("signing in with the write token: %v", err)
	}
	waitCard(t, tab, "card-1 after signing in", "card-1", 1)
	click(t, tab, "card-1", "plus")
	waitCard(t, tab, "the click to show", "card-1", 2)
	if got := c.mustCounter(leader.url(), "card-1"); got != 2 {
		t.Fatalf("card-1 = %d after one click, want 2", got)
	}
	eventually(t, 10*time.Second, "the cluster panel to read every member", func() error {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#nodes tr[data-state="leader"], #nodes tr[data-state="follower"]').length`))
		if err != nil {
			return err
		}
		if n != 3 {
			return fmt.Errorf("%d of 3 members read", n)
		}
		return nil
	})
	cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil || cookies != "" {
		t.Fatalf("the page can read cookies %q (%v): the token must be HttpOnly", cookies, err)
	}
}

// TestConsoleCookieIsNoUseToOtherPages: a page on another port of the
// node's host (the same site, so a SameSite=Strict cookie goes along)
// makes a browser signed in to the console request a class call that
// writes, as an <img> and as a no-cors fetch: the console's session
// cookie does not count for them, and nothing is written.
func TestConsoleCookieIsNoUseToOtherPages(t *testing.T) {
	tab := browser(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("admin admin-token\nwrite writer-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 1, "--auth-file", tokens)
	c.token = "admin-token"
	c.start()
	node := c.nodes[0]
	c.deploy(node.url(), "Hits", "js", []byte(`export class Hits {
  constructor(ctx) { this.ctx = ctx; }
  async fetch() {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return new Response(String(n));
  }
}`))
	hits := func(object string) string {
		r := c.do(http.MethodGet, node.url()+"/_classes/Hits/objects/"+object+"/storage/n", nil, nil)
		return fmt.Sprintf("%d %s", r.status, r.body)
	}
	if r := c.call(node.url(), http.MethodGet, "Hits", "control", "", nil, nil); r.status != http.StatusOK || hits("control") != "200 1" {
		t.Fatalf("a GET of the class does not write: %s, stored %s", r, hits("control"))
	}

	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(node.url()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#signin-token`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-token`), "writer-token"),
		chromedp.Click(chromedp.CSS(`#signin-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#account`))); err != nil {
		t.Fatalf("signing in: %v", err)
	}

	page := `<img src="` + node.url() + `/do/Hits/img/" onload="done()" onerror="done()">
<script>
let left = 2;
function done() { if (--left === 0) document.title = 'done'; }
fetch('` + node.url() + `/do/Hits/fetch/', { method: 'POST', mode: 'no-cors', credentials: 'include' }).finally(done);
</script>`
	visitOtherPage(t, ctx, node.url(), page)
	for _, object := range []string{"img", "fetch"} {
		if got := hits(object); !strings.HasPrefix(got, "404") {
			t.Errorf("a request of another port's page wrote object %s: %s", object, got)
		}
	}
}

// visitOtherPage serves page from another port of the node's host and
// has the tab open it, until its script sets the title to "done".
func visitOtherPage(t *testing.T, ctx context.Context, nodeURL, page string) {
	t.Helper()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, page)
	}))
	t.Cleanup(other.Close)
	if !strings.HasPrefix(other.URL, "http://127.0.0.1:") || !strings.HasPrefix(nodeURL, "http://127.0.0.1:") {
		t.Fatalf("the page %s and the node %s must be on one host", other.URL, nodeURL)
	}
	// A navigation the console page starts at that moment (its sign-in
	// reloads what it shows) aborts ours, or replaces our page once it
	// has loaded: navigate again, a few times, while the tab is not on
	// the other page.
	var err error
	for range 3 {
		for range 3 {
			if err = chromedp.Do(ctx, chromedp.Navigate(other.URL+"/")); err == nil || !strings.Contains(err.Error(), "ERR_ABORTED") {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		wait, cancel := context.WithTimeout(ctx, 8*time.Second)
		_, err = chromedp.Run(wait, chromedp.Poll[bool](`document.title === 'done'`))
		cancel()
		if err == nil {
			return
		}
		if at, lerr := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`)); lerr != nil || strings.HasPrefix(at, other.URL) {
			break // the page stayed: its requests did not end
		}
	}
	t.Fatalf("the other page's requests did not end: %v", err)
}

// TestOpenClusterRefusesOtherPages: on a cluster without tokens (as
// dobj dev starts it), a page of another port of the host posts bogus
// joins the ways a page can without asking (a no-cors fetch, of
// text/plain and of an untyped body); the membership does not change.
func TestOpenClusterRefusesOtherPages(t *testing.T) {
	tab := browser(t)
	c := newCluster(t, 3)
	c.start()
	node := c.leader()
	// The leader dials a new member before it adds it: give the bogus
	// ones a port that answers.
	bogus, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bogus.Close()
	page := `<script>
const post = (body) => fetch('` + node.url() + `/_cluster/join', { method: 'POST', mode: 'no-cors', body });
Promise.allSettled([
  post('{"id":"bogus1","raft_addr":"` + bogus.Addr().String() + `"}'),
  post(new Blob(['{"id":"bogus2","raft_addr":"` + bogus.Addr().String() + `"}'])),
]).then(() => { document.title = 'done'; });
</script>`
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	visitOtherPage(t, ctx, node.url(), page)
	var st struct {
		Members []struct{ ID string } `json:"members"`
	}
	if err := c.getJSON(node.url()+"/_cluster/status", &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 {
		t.Fatalf("members after the other page's joins: %+v, want the 3 of the cluster", st.Members)
	}
}

// TestConsoleShowsSQLTables: the console lists an SQLite-backed object,
// its tables, and the first rows of the table chosen, saying when there
// are more.
func TestConsoleShowsSQLTables(t *testing.T) {
	tab := browser(t)
	c := newCluster(t, 1)
	c.start()
	node := c.nodes[0]
	meta := client.ScriptMetadata{MainModule: "index.js", CompatibilityDate: "2025-04-01",
		Bindings:   []client.ScriptBinding{{Type: client.BindingDurableObject, Name: "NOTES", ClassName: "Notes"}},
		Migrations: []client.ScriptMigration{{Tag: "v1", NewSQLiteClasses: []string{"Notes"}}}}
	src := `import { DurableObject } from "cloudflare:workers";
export class Notes extends DurableObject {
  fill() {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT, extra)");
    sql.exec("CREATE TABLE tags (tag TEXT)");
    for (let i = 1; i <= 60; i++) sql.exec("INSERT INTO notes (text) VALUES (?)", "note " + i);
    this.ctx.storage.kv.put("hidden", 1);
    return 60;
  }
}
export default { fetch() { return new Response("ok"); } };`
	if _, err := client.New(node.url()).DeployScript(context.Background(), "app", meta,
		[]client.ScriptModule{{Name: "index.js", Content: []byte(src)}}); err != nil {
		t.Fatal(err)
	}
	if r := c.do(http.MethodPost, node.url()+"/_scripts/app/objects/Notes/n1/rpc/fill", []byte("[]"), nil); r.status != http.StatusOK {
		t.Fatalf("fill: %s", r)
	}

	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(node.url()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#sql-objects tr[data-sql-object^="_do/app:Notes/"]`)),
		chromedp.Click(chromedp.CSS(`#sql-objects tr[data-sql-object^="_do/app:Notes/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#sql-tables button[data-sql-table="notes"].on`)),
		chromedp.WaitVisible(chromedp.CSS(`#sql-rows tr td`))); err != nil {
		t.Fatalf("the SQL browser: %v", err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
  const text = (sel) => document.querySelector(sel).textContent;
  return [text('#sql-tables'), text('#sql-head'), text('#sql-rows tr:first-child'),
    document.querySelectorAll('#sql-rows tr').length, text('#sql-more')].join(' | ');
})()`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "notestags | idtextextra | 1note 1NULL | 50 | the first 50 rows"; shown != want {
		t.Fatalf("the console shows %q, want %q", shown, want)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#sql-tables button[data-sql-table="tags"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#sql-tables button[data-sql-table="tags"].on`)),
		chromedp.WaitVisible(chromedp.CSS(`#sql-rows tr.empty`))); err != nil {
		t.Fatalf("the empty table: %v", err)
	}
}
