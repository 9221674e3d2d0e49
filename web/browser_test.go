package web_test

import (
	"archive/zip"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPage drives the page in one headless Chromium against one ferry
// relay (starting a browser and compiling the page's program once, not
// once per case); each case starts from a blank tab.
func TestPage(t *testing.T) {
	r := startRelay(t)
	c := newChrome(t)
	for _, tc := range []struct {
		name string
		f    func(*testing.T, *relay, *chrome)
	}{
		{"ReceiveWebRTC", pageReceiveWebRTC},
		{"ReceiveTransit", pageReceiveTransit},
		{"ReceiveFolder", pageReceiveFolder},
		{"ReceiveWebCrypto", pageReceiveWebCrypto},
		{"ReceiveNoWebCrypto", pageReceiveNoWebCrypto},
		{"WrongCode", pageWrongCode},
		{"SenderDies", pageSenderDies},
		{"SenderStopsBeforeOffer", pageSenderStopsBeforeOffer},
		{"ReceiverDies", pageReceiverDies},
		{"ReceiverRefuses", pageReceiverRefuses},
		{"SlowSinkLive", pageSlowSinkLive},
		{"HostileNames", pageHostileNames},
		{"QRPath", pageQRPath},
		{"PythonSend", pagePythonSend},
		{"SendText", pageSendText},
		{"SendFiles", pageSendFiles},
		{"SendWebRTC", pageSendWebRTC},
		{"SendFolderPython", pageSendFolderPython},
		{"WilliamSend", pageWilliamSend},
		{"SendBackpressure", pageSendBackpressure},
		{"SinkFSA", pageSinkFSA},
		{"SinkFSAFailed", pageSinkFSAFailed},
		{"SinkOPFS", pageSinkOPFS},
		{"SinkMemory", pageSinkMemory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.reset(t)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("the page's console:\n%s", c.consoleTail())
				}
			})
			tc.f(t, r, c)
		})
	}
}

// openCode opens the page with the code in its fragment, saving through
// the service worker's streaming download (the path the tests can check:
// headless Chromium's downloads go to the test's folder).
func openCode(t *testing.T, c *chrome, r *relay, code string) {
	t.Helper()
	c.run(t, chromedp.Navigate(r.page+"?save=sw#"+code))
}

// sendFerry starts `ferry send ARGS` against the relay and returns it and
// its code.
func sendFerry(t *testing.T, r *relay, env []string, args ...string) (*proc, string) {
	t.Helper()
	// -v: if it ever stalls before its code, its log says where (once,
	// in a whole-suite run on a loaded machine, no code came within 60 s).
	p := start(t, append(r.env(), env...), ferryBin, append([]string{"send", "-v"}, args...)...)
	return p, p.waitOutput(t, `Code: (\S+)`)
}

// acceptAndLand accepts the offer on the page and returns the landed
// download's path and name, and the page's summary.
func acceptAndLand(t *testing.T, c *chrome) (path, name, summary string) {
	t.Helper()
	c.state(t, "offer")
	c.run(t, chromedp.Click(chromedp.CSS("#accept")))
	c.state(t, "done")
	path, name = c.download(t)
	return path, name, c.text(t, "#summary")
}

// pageReceiveWebRTC: `ferry send` of a 200 MiB file to the page, over
// a WebRTC data channel, lands byte-identical in the download folder.
func pageReceiveWebRTC(t *testing.T, r *relay, c *chrome) {
	src := filepath.Join(t.TempDir(), "big.bin")
	want := mkfile(t, src, 200<<20, 1)
	sender, code := sendFerry(t, r, nil, "--transport", "webrtc", src)
	openCode(t, c, r, code)
	path, name, summary := acceptAndLand(t, c)
	if name != "big.bin" || sumFile(t, path) != want {
		t.Fatalf("download %q differs from what was sent", name)
	}
	if !strings.Contains(summary, "webrtc") {
		t.Errorf("summary %q does not name webrtc", summary)
	}
	if err := sender.wait(t, time.Minute); err != nil {
		t.Fatalf("ferry send: %v", err)
	}
	if out := sender.output(); !strings.Contains(out, "over webrtc") {
		t.Errorf("ferry send did not go over webrtc:\n%s", out)
	}
}

// pageReceiveTransit: the same through the transit relay, which the
// page reaches over WebSocket and the sender over TCP.
func pageReceiveTransit(t *testing.T, r *relay, c *chrome) {
	src := filepath.Join(t.TempDir(), "big.bin")
	want := mkfile(t, src, 200<<20, 2)
	sender, code := sendFerry(t, r, nil, "--transport", "relay", src)
	openCode(t, c, r, code)
	path, name, summary := acceptAndLand(t, c)
	if name != "big.bin" || sumFile(t, path) != want {
		t.Fatalf("download %q differs from what was sent", name)
	}
	if !strings.Contains(summary, "transit relay") {
		t.Errorf("summary %q does not name the transit relay", summary)
	}
	if err := sender.wait(t, time.Minute); err != nil {
		t.Fatalf("ferry send: %v", err)
	}
}

// pageReceiveFolder: a folder with nested names arrives as one zip of
// them.
func pageReceiveFolder(t *testing.T, r *relay, c *chrome) {
	dir := filepath.Join(t.TempDir(), "photos")
	sums := map[string][32]byte{}
	for i, name := range []string{"a.jpg", "2026/summer/b c.png", "2026/ünïcødé/名前.txt"} {
		sums["photos/"+name] = mkfile(t, filepath.Join(dir, filepath.FromSlash(name)), int64(100000*(i+1)), uint64(10+i))
	}
	sender, code := sendFerry(t, r, nil, dir)
	openCode(t, c, r, code)
	path, name, _ := acceptAndLand(t, c)
	if name != "photos.zip" {
		t.Errorf("downloaded as %q, want photos.zip", name)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, rc)
		rc.Close()
		var got [32]byte
		copy(got[:], h.Sum(nil))
		if want, ok := sums[f.Name]; !ok || got != want {
			t.Errorf("zip entry %q differs or was not sent", f.Name)
		}
		delete(sums, f.Name)
	}
	if len(sums) != 0 {
		t.Errorf("zip lacks %v", sums)
	}
	if err := sender.wait(t, time.Minute); err != nil {
		t.Fatalf("ferry send: %v", err)
	}
}

// pageWrongCode: the page says in words that the code is wrong, and
// the sender exits non-zero.
func pageWrongCode(t *testing.T, r *relay, c *chrome) {
	src := filepath.Join(t.TempDir(), "x.txt")
	mkfile(t, src, 1000, 3)
	sender, code := sendFerry(t, r, nil, src)
	nameplate, _, _ := strings.Cut(code, "-")
	openCode(t, c, r, nameplate+"-aardvark-wrong")
	deadline := time.Now().Add(time.Minute)
	var state string
	for time.Now().Before(deadline) {
		state, _ = chromedp.Run(c.ctx, chromedp.Evaluate[string](`document.body.dataset.state || ""`))
		if state == "error" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if msg := c.text(t, "#error"); state != "error" || !strings.Contains(msg, "code is wrong") {
		t.Fatalf("page state %q, error %q; want the wrong code in words", state, msg)
	}
	if err := sender.wait(t, time.Minute); err == nil {
		t.Fatal("ferry send succeeded with a wrong code on the other side")
	}
}

// pageHostileNames: names that are markup, or carry a right-to-left
// override, show as inert text: no element is made of them, no script
// runs, no dialog opens.
func pageHostileNames(t *testing.T, r *relay, c *chrome) {
	markup := "<img src=x onerror=alert(1)>.txt"
	src := filepath.Join(t.TempDir(), markup)
	mkfile(t, src, 1000, 4)
	_, code := sendFerry(t, r, nil, src)
	openCode(t, c, r, code)
	c.state(t, "offer")
	if got := c.text(t, "#offer-list"); !strings.Contains(got, markup) {
		t.Errorf("offer list %q does not show the name as text", got)
	}
	n, err := chromedp.Run(c.ctx, chromedp.Evaluate[int](`document.querySelectorAll("img[src=x], #offer-list img, #offer-list script").length`))
	if err != nil || n != 0 {
		t.Errorf("the name became %d elements (%v)", n, err)
	}
	c.run(t, chromedp.Click(chromedp.CSS("#decline")))

	// a classic sender's name with U+202E: ferry refuses the offer, and
	// the refusal shows the name escaped
	if _, err := exec.LookPath("wormhole"); err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatal("wormhole is not installed and FERRY_REQUIRE_PEERS=1")
		}
		t.Skip("wormhole is not installed")
	}
	bidi := "<img src=x onerror=alert(1)>\u202egpj.exe"
	src = filepath.Join(t.TempDir(), bidi)
	mkfile(t, src, 1000, 5)
	py := start(t, nil, "wormhole", "--relay-url", r.mailbox, "--transit-helper", "tcp:"+r.transit, "send", "--no-listen", "--hide-progress", "--code", "9-python-bidi", src)
	c.run(t, chromedp.Navigate("about:blank"))
	openCode(t, c, r, "9-python-bidi")
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if s, _ := chromedp.Run(c.ctx, chromedp.Evaluate[string](`document.body.dataset.state || ""`)); s == "error" || s == "offer" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	body := c.text(t, "body")
	if strings.ContainsRune(body, '\u202e') {
		t.Errorf("the page shows a raw right-to-left override: %q", body)
	}
	if !strings.Contains(body, `\u{202e}`) && !strings.Contains(body, `\u{202E}`) {
		t.Errorf("the page does not show the override escaped: %q", body)
	}
	n, err = chromedp.Run(c.ctx, chromedp.Evaluate[int](`document.querySelectorAll("img[src=x]").length`))
	if err != nil || n != 0 {
		t.Errorf("the name became %d elements (%v)", n, err)
	}
	if d := c.dialogsSeen(); len(d) != 0 {
		t.Errorf("dialogs opened: %q", d)
	}
	py.wait(t, time.Minute) // it fails: the offer was refused
}

// pageQRPath: the whole path a phone takes. `ferry send --qr-png`
// draws the page's link; zbarimg reads it, the browser opens it, the test
// clicks Accept, the file lands.
func pageQRPath(t *testing.T, r *relay, c *chrome) {
	if _, err := exec.LookPath("zbarimg"); err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatal("zbarimg is not installed and FERRY_REQUIRE_PEERS=1")
		}
		t.Skip("zbarimg is not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "report.pdf")
	want := mkfile(t, src, 3<<20, 6)
	png := filepath.Join(dir, "q.png")
	sender, code := sendFerry(t, r, nil, "--qr-png", png, src)
	link := sender.waitOutput(t, `Or open: (\S+)`)
	out, err := exec.Command("zbarimg", "--quiet", "--raw", png).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	scanned := strings.TrimSpace(string(out))
	if scanned != link || scanned != r.page+"#"+code {
		t.Fatalf("the QR code says %q; ferry printed %q; want %s#%s", scanned, link, r.page, code)
	}
	page, frag, _ := strings.Cut(scanned, "#")
	c.run(t, chromedp.Navigate(page+"?save=sw#"+frag))
	path, name, _ := acceptAndLand(t, c)
	if name != "report.pdf" || sumFile(t, path) != want {
		t.Fatalf("download %q differs from what was sent", name)
	}
	if err := sender.wait(t, time.Minute); err != nil {
		t.Fatalf("ferry send: %v", err)
	}
}

// pagePythonSend: Python's `wormhole send` (classic file transfer,
// through ferry relay's mailbox and transit relay) to the page, which
// meets it at the transit relay over WebSocket.
func pagePythonSend(t *testing.T, r *relay, c *chrome) {
	if _, err := exec.LookPath("wormhole"); err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatal("wormhole is not installed and FERRY_REQUIRE_PEERS=1")
		}
		t.Skip("wormhole is not installed")
	}
	src := filepath.Join(t.TempDir(), "python.bin")
	want := mkfile(t, src, 20<<20, 7)
	py := start(t, nil, "wormhole", "--relay-url", r.mailbox, "--transit-helper", "tcp:"+r.transit, "send", "--no-listen", "--hide-progress", "--code", "8-python-page", src)
	openCode(t, c, r, "8-python-page")
	path, name, summary := acceptAndLand(t, c)
	if name != "python.bin" || sumFile(t, path) != want {
		t.Fatalf("download %q differs from what was sent", name)
	}
	if !strings.Contains(summary, "classic transit") {
		t.Errorf("summary %q", summary)
	}
	if err := py.wait(t, time.Minute); err != nil {
		t.Fatalf("wormhole send: %v", err)
	}
}

// pageSendText: the page sends a text message; `ferry receive` gets it.
func pageSendText(t *testing.T, r *relay, c *chrome) {
	c.run(t, chromedp.Navigate(r.page))
	c.state(t, "ready")
	c.run(t, chromedp.SetValue(chromedp.CSS("#send-text"), "hello from a browser"),
		chromedp.Click(chromedp.CSS("#send-button")))
	deadline := time.Now().Add(time.Minute)
	code := ""
	for code == "" && time.Now().Before(deadline) {
		code = strings.TrimSpace(c.text(t, "#send-code"))
		time.Sleep(50 * time.Millisecond)
	}
	if code == "" {
		t.Fatal("the page showed no code")
	}
	recv := start(t, append(r.env(), "FERRY_CODE="+code), ferryBin, "receive")
	if err := recv.wait(t, time.Minute); err != nil {
		t.Fatalf("ferry receive: %v", err)
	}
	if !strings.Contains(recv.output(), "hello from a browser") {
		t.Fatalf("ferry receive printed:\n%s", recv.output())
	}
	c.state(t, "done")
}

// pageSendFiles: files picked in the page reach `ferry receive`, and
// a single file reaches Python's `wormhole receive` through the transit
// relay (which the page reaches over WebSocket).
func pageSendFiles(t *testing.T, r *relay, c *chrome) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.bin"), filepath.Join(dir, "b.txt")
	wantA, wantB := mkfile(t, a, 5<<20, 8), mkfile(t, b, 1000, 9)
	sendCode := func(files ...string) string {
		t.Helper()
		c.run(t, chromedp.Navigate(r.page))
		c.state(t, "ready")
		c.run(t, chromedp.SetUploadFiles(chromedp.CSS("#send-files"), files), chromedp.Click(chromedp.CSS("#send-button")))
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if code := strings.TrimSpace(c.text(t, "#send-code")); code != "" {
				return code
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("the page showed no code; status %q", c.text(t, "#status"))
		return ""
	}
	code := sendCode(a, b)
	out := t.TempDir()
	recv := start(t, append(r.env(), "FERRY_CODE="+code), ferryBin, "receive", "--yes", "--out", out)
	if err := recv.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("ferry receive: %v", err)
	}
	if sumFile(t, filepath.Join(out, "a.bin")) != wantA || sumFile(t, filepath.Join(out, "b.txt")) != wantB {
		t.Fatal("ferry received something other than what the page sent")
	}
	c.state(t, "done")

	if _, err := exec.LookPath("wormhole"); err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatal("wormhole is not installed and FERRY_REQUIRE_PEERS=1")
		}
		t.Skip("wormhole is not installed")
	}
	code = sendCode(a)
	py := start(t, nil, "wormhole", "--relay-url", r.mailbox, "--transit-helper", "tcp:"+r.transit, "receive", "--no-listen", "--accept-file", "--hide-progress", code)
	if err := py.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("wormhole receive: %v", err)
	}
	if sumFile(t, filepath.Join(py.cmd.Dir, "a.bin")) != wantA {
		t.Fatal("Python received something other than what the page sent")
	}
	c.state(t, "done")

	// several files: a classic client takes one file or one folder, so
	// they arrive as the folder ferry-files
	code = sendCode(a, b)
	py = start(t, nil, "wormhole", "--relay-url", r.mailbox, "--transit-helper", "tcp:"+r.transit, "receive", "--no-listen", "--accept-file", "--hide-progress", code)
	if err := py.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("wormhole receive of two files: %v", err)
	}
	got := filepath.Join(py.cmd.Dir, "ferry-files")
	if sumFile(t, filepath.Join(got, "a.bin")) != wantA || sumFile(t, filepath.Join(got, "b.txt")) != wantB {
		t.Fatal("Python received something other than the two files the page sent")
	}
	c.state(t, "done")
}

// pageSendFolderPython: a folder picked in the page reaches Python's
// `wormhole receive`, as the zip a classic client needs (stored, streamed,
// its size computed in advance: the page has no temporary file to write it
// to first).
func pageSendFolderPython(t *testing.T, r *relay, c *chrome) {
	if _, err := exec.LookPath("wormhole"); err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatal("wormhole is not installed and FERRY_REQUIRE_PEERS=1")
		}
		t.Skip("wormhole is not installed")
	}
	dir := filepath.Join(t.TempDir(), "album")
	sums := map[string][32]byte{}
	for i, name := range []string{"a.jpg", "2026/summer/b c.png", "2026/ünïcødé/名前.txt", "empty"} {
		sums[name] = mkfile(t, filepath.Join(dir, filepath.FromSlash(name)), int64(300000*i), uint64(20+i))
	}
	c.run(t, chromedp.Navigate(r.page))
	c.state(t, "ready")
	c.run(t, chromedp.SetUploadFiles(chromedp.CSS("#send-folder"), []string{dir}), chromedp.Click(chromedp.CSS("#send-button")))
	code := ""
	for deadline := time.Now().Add(time.Minute); code == "" && time.Now().Before(deadline); {
		code = strings.TrimSpace(c.text(t, "#send-code"))
		time.Sleep(50 * time.Millisecond)
	}
	if code == "" {
		t.Fatalf("the page showed no code; status %q", c.text(t, "#status"))
	}
	py := start(t, nil, "wormhole", "--relay-url", r.mailbox, "--transit-helper", "tcp:"+r.transit, "receive", "--no-listen", "--accept-file", "--hide-progress", code)
	if err := py.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("wormhole receive: %v", err)
	}
	for name, want := range sums {
		if sumFile(t, filepath.Join(py.cmd.Dir, "album", filepath.FromSlash(name))) != want {
			t.Errorf("Python received %s other than the page sent", name)
		}
	}
	c.state(t, "done")
}

// pageSendWebRTC: a file from the page reaches `ferry receive` over a
// WebRTC data channel, byte-identical (the page's messages are as large
// as ferry advertises it takes: 256 KiB).
func pageSendWebRTC(t *testing.T, r *relay, c *chrome) {
	src := filepath.Join(t.TempDir(), "up.bin")
	want := mkfile(t, src, 24<<20, 11)
	c.run(t, chromedp.Navigate(r.page))
	c.state(t, "ready")
	c.run(t, chromedp.SetUploadFiles(chromedp.CSS("#send-files"), []string{src}), chromedp.Click(chromedp.CSS("#send-button")))
	code := ""
	for deadline := time.Now().Add(time.Minute); code == "" && time.Now().Before(deadline); {
		code = strings.TrimSpace(c.text(t, "#send-code"))
		time.Sleep(50 * time.Millisecond)
	}
	if code == "" {
		t.Fatalf("the page showed no code; status %q", c.text(t, "#status"))
	}
	out := t.TempDir()
	recv := start(t, append(r.env(), "FERRY_CODE="+code), ferryBin, "receive", "-v", "--transport", "webrtc", "--yes", "--out", out)
	if err := recv.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("ferry receive: %v", err)
	}
	if sumFile(t, filepath.Join(out, "up.bin")) != want {
		t.Fatal("ferry received something other than what the page sent")
	}
	if o := recv.output(); !strings.Contains(o, "over webrtc") {
		t.Errorf("ferry receive did not go over webrtc:\n%s", o)
	}
	if o := recv.output(); !strings.Contains(o, "largest_message_received=262144") {
		t.Errorf("the page's messages were not 256 KiB:\n%s", o)
	}
	c.state(t, "done")
}
