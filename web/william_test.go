package web_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pageWilliamSend: wormhole-william's `send` (classic file transfer)
// through ferry relay's mailbox and transit relay to the page, which
// meets it there over WebSocket; the download is byte-identical.
//
// wormhole-william hard-codes its transit relay, transit.magic-wormhole.io
// port 4001, and its sender fails without it. As in cmd/ferry's
// files_william script it runs in a private mount namespace whose
// /etc/hosts points that name at loopback: here at an address of 127/8
// of this test's own, where a relay of its own has its transit relay on
// port 4001, so that nothing leaves the machine and no other test's port
// 4001 is in the way.
func pageWilliamSend(t *testing.T, _ *relay, c *chrome) {
	for _, p := range []string{"wormhole-william", "unshare"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
				t.Fatalf("%s is not installed and FERRY_REQUIRE_PEERS=1", p)
			}
			t.Skipf("%s is not installed", p)
		}
	}
	if out, err := exec.Command("unshare", "-rm", "true").CombinedOutput(); err != nil {
		t.Skipf("unshare -rm does not work here: %v %s", err, out)
	}
	ip := fmt.Sprintf("127.%d.%d.%d", 10+rand.IntN(200), rand.IntN(250), 1+rand.IntN(250))
	r := startRelayTransit(t, ip+":4001")
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n"+ip+" transit.magic-wormhole.io\n"), 0o644)
	src := filepath.Join(dir, "william.bin")
	want := mkfile(t, src, 20<<20, 40)
	// wormhole-william (1.0.6) races in its relay path when it sends: it
	// may close its own relay connection under the transfer ("use of
	// closed network connection"; see files_william). Such an attempt is
	// made again with a fresh code, three times at most.
	for try := 1; ; try++ {
		code := fmt.Sprintf("%d-william-page", 60+try)
		w := start(t, nil, "unshare", "-rm", "sh", "-c", `mount --bind "$1" /etc/hosts && shift && exec wormhole-william "$@"`,
			"sh", hosts, "--relay-url", r.mailbox, "send", "--hide-progress", "--code", code, src)
		c.run(t, chromedp.Navigate(r.page+"?save=sw#"+code))
		c.state(t, "offer")
		c.run(t, chromedp.Click(chromedp.CSS("#accept")))
		state := waitState(t, c, "done", "error")
		if state == "error" && try < 3 {
			w.wait(t, time.Minute)
			if strings.Contains(w.output(), "use of closed network connection") {
				t.Logf("try %d: wormhole-william closed its own relay connection; trying again", try)
				c.reset(t)
				continue
			}
		}
		if state != "done" {
			t.Fatalf("the page shows an error: %s\nwormhole-william:\n%s", c.text(t, "#error"), w.output())
		}
		path, name := c.download(t)
		if name != "william.bin" || sumFile(t, path) != want {
			t.Fatalf("download %q differs from what was sent", name)
		}
		if s := c.text(t, "#summary"); !strings.Contains(s, "classic transit") {
			t.Errorf("summary %q does not name the classic transit", s)
		}
		if err := w.wait(t, time.Minute); err != nil {
			t.Fatalf("wormhole-william send: %v", err)
		}
		return
	}
}

// waitState waits until the page's state is one of states, error
// included (c.state fails the test on an error), and returns it.
func waitState(t *testing.T, c *chrome, states ...string) string {
	t.Helper()
	got := ""
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		got = evalAsync[string](t, c, `document.body ? document.body.dataset.state || "" : ""`)
		for _, s := range states {
			if got == s {
				return got
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the page stayed in state %q, want %v", got, states)
	return ""
}
