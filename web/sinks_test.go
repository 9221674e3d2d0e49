package web_test

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The sinks other than the service worker's download (what every other
// case uses), each forced with ?save= and run against the real program.

// fakePicker replaces window.showSaveFilePicker, whose dialog headless
// Chromium cannot answer, with one that returns a real
// FileSystemFileHandle in the origin-private file system, named
// "fsa-" + the suggested name: the page's File System Access sink then
// runs as it is (createWritable, write, close, abort).
const fakePicker = `window.showSaveFilePicker = async (opts) => {
	const dir = await navigator.storage.getDirectory();
	return dir.getFileHandle("fsa-" + opts.suggestedName, { create: true });
}; true`

// opfsFiles lists the top of the origin-private file system as
// name → size ("dir" entries have size -1).
const opfsFiles = `(async () => {
	const out = {};
	for await (const [name, h] of (await navigator.storage.getDirectory()).entries()) {
		out[name] = h.kind === "file" ? (await h.getFile()).size : -1;
	}
	return out;
})()`

// opfsSum is the SHA-256 (hex) of the OPFS file %q.
const opfsSum = `(async () => {
	const f = await (await (await navigator.storage.getDirectory()).getFileHandle(%q)).getFile();
	const d = new Uint8Array(await crypto.subtle.digest("SHA-256", await f.arrayBuffer()));
	return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
})()`

// clearOPFS empties the origin-private file system.
const clearOPFS = `(async () => {
	const dir = await navigator.storage.getDirectory();
	for await (const name of dir.keys()) await dir.removeEntry(name, { recursive: true });
	return true;
})()`

func evalAsync[T any](t *testing.T, c *chrome, js string) T {
	t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// openSink opens the page on code with the sink forced, the OPFS empty.
func openSink(t *testing.T, c *chrome, r *relay, sink, code string) {
	t.Helper()
	c.run(t, chromedp.Navigate(r.page+"?save="+sink))
	evalAsync[bool](t, c, clearOPFS)
	c.run(t, chromedp.Navigate(r.page+"?save="+sink+"#"+code))
}

// pageSinkFSA: a file saved through File System Access (the picker
// replaced, the sink's code real) is byte-identical.
func pageSinkFSA(t *testing.T, r *relay, c *chrome) {
	src := filepath.Join(t.TempDir(), "fsa.bin")
	want := mkfile(t, src, 24<<20, 30)
	sender, code := sendFerry(t, r, nil, src)
	openSink(t, c, r, "fsa", code)
	c.state(t, "offer")
	evalAsync[bool](t, c, fakePicker)
	c.run(t, chromedp.Click(chromedp.CSS("#accept")))
	c.state(t, "done")
	if got := evalAsync[string](t, c, fmt.Sprintf(opfsSum, "fsa-fsa.bin")); got != hex.EncodeToString(want[:]) {
		t.Fatalf("the saved file's SHA-256 is %s, want %x; OPFS holds %v", got, want, evalAsync[map[string]float64](t, c, opfsFiles))
	}
	if err := sender.wait(t, time.Minute); err != nil {
		t.Fatalf("ferry send: %v", err)
	}
}

// pageSinkFSAFailed: a transfer that fails midway (the sender killed)
// leaves nothing that looks complete: the file the picker named keeps
// none of the bytes (File System Access writes to a swap file, which
// abort drops), and no other file holds them all.
func pageSinkFSAFailed(t *testing.T, r *relay, c *chrome) {
	const size = 100 << 20
	src := filepath.Join(t.TempDir(), "cut.bin")
	mkfile(t, src, size, 31)
	sender, code := sendFerry(t, r, nil, "--transport", "relay", src)
	openSink(t, c, r, "fsa", code)
	c.state(t, "offer")
	evalAsync[bool](t, c, fakePicker)
	c.run(t, chromedp.Click(chromedp.CSS("#accept")))
	c.state(t, "transferring")
	for deadline := time.Now().Add(3 * time.Minute); ; {
		v := evalAsync[float64](t, c, `Number(document.querySelector("#progress").value) || 0`)
		if v > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sender.cmd.Process.Kill()
	if state := waitState(t, c, "error", "done"); state != "error" {
		t.Fatalf("the page is in state %q after the sender was killed, want error", state)
	}
	files := evalAsync[map[string]float64](t, c, opfsFiles)
	got, ok := files["fsa-cut.bin"]
	if !ok || got != 0 {
		t.Errorf("the picked file holds %v bytes (present %v), want 0", got, ok)
	}
	for name, n := range files {
		if n >= size {
			t.Errorf("OPFS file %s holds %v bytes: a whole file from a failed transfer", name, n)
		}
	}
	t.Logf("after the failure OPFS holds %v; the page says %q", files, c.text(t, "#error"))
}

// pageSinkOPFS: the OPFS worker's file, offered as a link and
// downloaded, is byte-identical.
func pageSinkOPFS(t *testing.T, r *relay, c *chrome) {
	saveByLink(t, r, c, "opfs", 24<<20, 32)
}

// pageSinkMemory: the memory sink's Blob, downloaded, is byte-identical.
func pageSinkMemory(t *testing.T, r *relay, c *chrome) {
	saveByLink(t, r, c, "memory", 8<<20, 33)
}

// saveByLink receives a file into sink, which offers it as a link at the
// end; the test clicks the link and compares the download.
func saveByLink(t *testing.T, r *relay, c *chrome, sink string, size int64, seed uint64) {
	src := filepath.Join(t.TempDir(), sink+".bin")
	want := mkfile(t, src, size, seed)
	sender, code := sendFerry(t, r, nil, src)
	openSink(t, c, r, sink, code)
	c.state(t, "offer")
	c.run(t, chromedp.Click(chromedp.CSS("#accept")))
	c.state(t, "done")
	c.run(t, chromedp.Click(chromedp.CSS("#save-link")))
	path, name := c.download(t)
	if name != sink+".bin" || sumFile(t, path) != want {
		t.Fatalf("download %q differs from what was sent", name)
	}
	if err := sender.wait(t, time.Minute); err != nil {
		t.Fatalf("ferry send: %v", err)
	}
}
