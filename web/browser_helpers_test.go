package web_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's Chromium (headless) through chromedp
// against the real `ferry relay`, which serves the page, and the real
// `ferry send` and `ferry receive`. TestMain builds the ferry binary with
// the page's WebAssembly embedded (scripts/build-web first, if the
// program is not there yet).

var ferryBin string // set once by TestMain, read by the tests

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ferry-web-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if _, err := os.Stat("static/ferry.wasm"); err != nil {
		cmd := exec.Command("bash", "../scripts/build-web")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "scripts/build-web:", err)
			return 1
		}
	}
	ferryBin = filepath.Join(dir, "ferry")
	cmd := exec.Command("go", "build", "-o", ferryBin, "../cmd/ferry")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build ferry:", err)
		return 1
	}
	return m.Run()
}

// proc is a running ferry (or other) process whose output the test reads.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs name with args until the test ends.
//
// The Python client runs with --no-listen in these tests: a page has no
// TCP, so the client's direct hints are of no use to it, and the client
// picks its listening port by binding port 0, closing it, and listening on
// it again later, after the wait for its peer; meanwhile Chromium's
// WebRTC takes ports of its own for TCP candidates, and the client once
// failed with "Couldn't listen on any:37793: Address already in use".
func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.Dir = t.TempDir()
	// If the test binary dies (a panic, go test's timeout), so do its
	// relays and peers: none is left behind holding ports.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %s:\n%s", filepath.Base(name), strings.Join(args, " "), p.output())
		}
	})
	return p
}

// wait waits for the process to exit and returns its error.
func (p *proc) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		t.Fatalf("%s did not exit within %s:\n%s", p.cmd.Path, within, p.output())
		return nil
	}
}

// waitOutput waits until the output matches re and returns the match's
// first group.
func (p *proc) waitOutput(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if m := rx.FindStringSubmatch(p.output()); m != nil {
			if len(m) > 1 {
				return m[1]
			}
			return m[0]
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before printing %q:\n%s", p.cmd.Path, re, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no %q within 3 minutes:\n%s", p.cmd.Path, re, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// relay is a running `ferry relay` with its page, transit relay, STUN and
// TURN on loopback.
type relay struct {
	page    string // http://127.0.0.1:PORT/
	mailbox string // ws://127.0.0.1:PORT/v1
	transit string // 127.0.0.1:PORT
	stun    string
	turn    string
	proc    *proc // ferry relay
}

func startRelay(t *testing.T) *relay {
	t.Helper()
	return startRelayTransit(t, "127.0.0.1:0")
}

// startRelayTransit starts a relay whose TCP transit relay listens on
// transit.
func startRelayTransit(t *testing.T, transit string) *relay {
	t.Helper()
	p := start(t, nil, ferryBin, "relay", "--listen", "127.0.0.1:0", "--transit-listen", transit,
		"--stun-listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--turn-ip", "127.0.0.1",
		"--turn-secret", "test-secret-not-for-use")
	r := &relay{proc: p}
	r.mailbox = p.waitOutput(t, `relay listening on (ws://\S+/v1)`)
	r.transit = p.waitOutput(t, `transit relay on tcp:(\S+)`)
	r.stun = p.waitOutput(t, `STUN on (stun:\S+)`)
	r.turn = p.waitOutput(t, `TURN on (turn:\S+)`)
	r.page = p.waitOutput(t, `web page on (http://\S+/)`)
	return r
}

// env is what a ferry CLI peer needs to use the relay (and nothing else).
func (r *relay) env() []string {
	return []string{"FERRY_RELAY=" + r.mailbox, "FERRY_TRANSIT=tcp:" + r.transit, "FERRY_STUN=" + r.stun,
		"FERRY_ICE_LOOPBACK=1", "FERRY_LAN=off", "FERRY_TEST_SHARED=0", "HOME=" + os.TempDir()}
}

// chrome is a headless Chromium whose downloads go to a folder of the
// test's, with every JavaScript dialog recorded (and dismissed).
type chrome struct {
	ctx       context.Context
	downloads string
	mu        sync.Mutex
	dialogs   []string
	done      map[string]bool // guid → download completed
	canceled  map[string]bool // guid → download canceled (failed)
	names     map[string]string
	console   []string // the page's last console lines (Go's panics land there)
}

// maxConsole is how many console lines a chrome keeps.
const maxConsole = 200

// consoleTail is the page's console since the last reset, for a failed
// case's log.
func (c *chrome) consoleTail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.console, "\n")
}

func (c *chrome) logConsole(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.console = append(c.console, line)
	if len(c.console) > maxConsole {
		c.console = c.console[len(c.console)-maxConsole:]
	}
}

func newChrome(t *testing.T) *chrome {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatalf("chromium is not installed and FERRY_REQUIRE_PEERS=1")
		}
		t.Skip("chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("chromium"), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("headless", "new"), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	c := &chrome{ctx: ctx, downloads: t.TempDir(), done: map[string]bool{}, canceled: map[string]bool{}, names: map[string]string{}}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			c.logConsole(string(ev.Type) + ": " + strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			c.logConsole("exception: " + msg)
		}
		if ev, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			c.mu.Lock()
			c.dialogs = append(c.dialogs, ev.Message)
			c.mu.Unlock()
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.ListenBrowser(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *browser.EventDownloadWillBegin:
			c.mu.Lock()
			c.names[ev.GUID] = ev.SuggestedFilename
			c.mu.Unlock()
		case *browser.EventDownloadProgress:
			switch ev.State {
			case browser.DownloadProgressStateCompleted:
				c.mu.Lock()
				c.done[ev.GUID] = true
				c.mu.Unlock()
			case browser.DownloadProgressStateCanceled:
				c.mu.Lock()
				c.canceled[ev.GUID] = true
				c.mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	_, err = chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: c.downloads, EventsEnabled: &yes})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *chrome) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// state waits until the page's body[data-state] is one of states and
// returns it.
func (c *chrome) state(t *testing.T, states ...string) string {
	t.Helper()
	// A bound against a hang, not a speed test: 200 MiB over WebRTC took
	// 157 s here while the machine was loaded four times over.
	deadline := time.Now().Add(8 * time.Minute)
	var got string
	for time.Now().Before(deadline) {
		var err error
		if got, err = chromedp.Run(c.ctx, chromedp.Evaluate[string](`document.body ? document.body.dataset.state || "" : ""`)); err != nil {
			t.Fatalf("browser: %v", err)
		}
		for _, s := range states {
			if got == s {
				return got
			}
		}
		if got == "error" {
			t.Fatalf("the page shows an error: %s", c.text(t, "#error"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the page stayed in state %q, want %v; status %q", got, states, c.text(t, "#status"))
	return ""
}

// text is the textContent of the first element matching sel ("" if none).
func (c *chrome) text(t *testing.T, sel string) string {
	t.Helper()
	js := fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)
	s, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return s
}

// download waits for one completed download and returns its path (with
// allowAndName Chromium names the file by its GUID) and suggested name.
func (c *chrome) download(t *testing.T) (string, string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for guid := range c.done {
			name := c.names[guid]
			c.mu.Unlock()
			return filepath.Join(c.downloads, guid), name
		}
		c.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no download completed; the page says %q", c.text(t, "#status"))
	return "", ""
}

// reset forgets the downloads and dialogs seen so far (each subtest
// starts afresh in the shared browser).
func (c *chrome) reset(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	clear(c.done)
	clear(c.canceled)
	clear(c.names)
	c.dialogs = nil
	c.console = nil
	c.mu.Unlock()
	c.run(t, chromedp.Navigate("about:blank"))
}

func (c *chrome) dialogsSeen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.dialogs...)
}

// mkfile writes size bytes of pseudo-random data to path and returns
// their SHA-256.
func mkfile(t *testing.T, path string, size int64, seed uint64) [32]byte {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	r := rand.NewChaCha8([32]byte{byte(seed)})
	buf := make([]byte, 1<<20)
	for n := size; n > 0; {
		k := min(n, int64(len(buf)))
		r.Read(buf[:k])
		w.Write(buf[:k])
		n -= k
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func sumFile(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}
