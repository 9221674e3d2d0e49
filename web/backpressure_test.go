package web_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferrydrop/ferry/internal/transit"
)

// watchSends makes every WebSocket's send record the most the socket
// held unsent right after it (window.__wsMax) and the bytes sent
// (window.__wsSent).
const watchSends = `(() => {
	window.__wsMax = 0;
	window.__wsSent = 0;
	const send = WebSocket.prototype.send;
	WebSocket.prototype.send = function (data) {
		send.call(this, data);
		window.__wsSent += data.byteLength || data.size || data.length || 0;
		window.__wsMax = Math.max(window.__wsMax, this.bufferedAmount);
	};
	return true;
})()`

// pageSendBackpressure: the page sends 200 MiB over the WebSocket transit
// to a `ferry receive` that takes nothing for a while (its stdout is a
// pipe the test does not read). The browser's WebSocket buffers whatever
// it is given, so without back-pressure of ferry's own the page would
// pile the file up in memory; with it no socket ever holds more than
// transit.MaxWebSocketBuffered plus one message unsent. Then the test
// reads, and the file arrives whole.
func pageSendBackpressure(t *testing.T, r *relay, c *chrome) {
	const size = 200 << 20
	src := filepath.Join(t.TempDir(), "flood.bin")
	want := mkfile(t, src, size, 50)
	c.run(t, chromedp.Navigate(r.page))
	c.state(t, "ready")
	evalAsync[bool](t, c, watchSends)
	c.run(t, chromedp.SetUploadFiles(chromedp.CSS("#send-files"), []string{src}), chromedp.Click(chromedp.CSS("#send-button")))
	code := ""
	for deadline := time.Now().Add(time.Minute); code == "" && time.Now().Before(deadline); {
		code = strings.TrimSpace(c.text(t, "#send-code"))
		time.Sleep(50 * time.Millisecond)
	}
	if code == "" {
		t.Fatalf("the page showed no code; status %q", c.text(t, "#status"))
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	var stderr bytes.Buffer
	recv := exec.Command(ferryBin, "receive", "--transport", "relay", "--yes", "--out", "-")
	recv.Env = append(append(os.Environ(), r.env()...), "FERRY_CODE="+code)
	recv.Stdout, recv.Stderr = pw, &stderr
	recv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	done := make(chan error, 1)
	go func() { done <- recv.Wait() }()
	t.Cleanup(func() {
		recv.Process.Kill()
		<-done
	})

	// The receiver takes nothing: the page must stop at the bound, not
	// when the file is all in its WebSocket.
	c.state(t, "transferring")
	time.Sleep(4 * time.Second)
	held := evalAsync[float64](t, c, `window.__wsMax`)
	sent := evalAsync[float64](t, c, `window.__wsSent`)
	bound := float64(transit.MaxWebSocketBuffered + 64<<10)
	t.Logf("with the receiver stalled the page sent %.1f MiB; a socket held at most %.2f MiB unsent", sent/(1<<20), held/(1<<20))
	if held > bound {
		t.Errorf("a WebSocket held %.1f MiB unsent, more than the bound of %.2f MiB", held/(1<<20), bound/(1<<20))
	}

	h := sha256.New()
	n, err := io.Copy(h, pr)
	if err != nil || n != size {
		t.Fatalf("ferry receive wrote %d bytes (%v); stderr:\n%s", n, err, stderr.String())
	}
	if err := <-done; err != nil {
		t.Fatalf("ferry receive: %v\n%s", err, stderr.String())
	}
	done <- nil // for the cleanup
	var got [32]byte
	copy(got[:], h.Sum(nil))
	if got != want {
		t.Fatal("ferry received something other than what the page sent")
	}
	if !strings.Contains(stderr.String(), "transit relay") && !strings.Contains(stderr.String(), "relay") {
		t.Errorf("ferry receive did not go through the transit relay:\n%s", stderr.String())
	}
	c.state(t, "done")
	if held = evalAsync[float64](t, c, `window.__wsMax`); held > bound {
		t.Errorf("a WebSocket held %.1f MiB unsent, more than the bound of %.2f MiB", held/(1<<20), bound/(1<<20))
	}
}
