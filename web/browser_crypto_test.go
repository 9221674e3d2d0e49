package web_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// withScript runs f with script evaluated first in every document the tab
// opens (before the page's own scripts).
func withScript(t *testing.T, c *chrome, script string, f func()) {
	t.Helper()
	res, err := chromedp.Call(c.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
	if err != nil {
		t.Fatal(err)
	}
	defer chromedp.Call(c.ctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: res.Identifier})
	f()
}

// receiveSmall sends a 3 MiB file (12 chunks of the peer stream) to the
// page and checks that it lands intact.
func receiveSmall(t *testing.T, r *relay, c *chrome) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "small.bin")
	want := mkfile(t, src, 3<<20, 7)
	sender, code := sendFerry(t, r, nil, src)
	openCode(t, c, r, code)
	path, name, _ := acceptAndLand(t, c)
	if name != "small.bin" || sumFile(t, path) != want {
		t.Fatalf("download %q differs from what was sent", name)
	}
	if err := sender.wait(t, time.Minute); err != nil {
		t.Fatalf("ferry send: %v", err)
	}
}

// pageReceiveWebCrypto: the page opens the peer stream's chunks with
// WebCrypto (crypto.subtle.decrypt, the browser's hardware AES), not with
// Go's AES compiled to WebAssembly.
func pageReceiveWebCrypto(t *testing.T, r *relay, c *chrome) {
	count := `(() => {
		const decrypt = SubtleCrypto.prototype.decrypt;
		globalThis.ferryTestDecrypts = 0;
		SubtleCrypto.prototype.decrypt = function (...args) {
			globalThis.ferryTestDecrypts++;
			return decrypt.apply(this, args);
		};
	})();`
	withScript(t, c, count, func() { receiveSmall(t, r, c) })
	n, err := chromedp.Run(c.ctx, chromedp.Evaluate[float64](`globalThis.ferryTestDecrypts ?? -1`))
	if err != nil {
		t.Fatal(err)
	}
	if n < 12 {
		t.Fatalf("crypto.subtle.decrypt was called %v times for 12 chunks", n)
	}
}

// pageReceiveNoWebCrypto: a page without WebCrypto (it is only given to
// secure origins and localhost) opens the stream with Go's AES.
func pageReceiveNoWebCrypto(t *testing.T, r *relay, c *chrome) {
	hide := `Object.defineProperty(globalThis.crypto, "subtle", {value: undefined, configurable: true});`
	withScript(t, c, hide, func() { receiveSmall(t, r, c) })
	if gone, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](`globalThis.crypto.subtle === undefined`)); err != nil || !gone {
		t.Fatalf("crypto.subtle was not hidden (%v)", err)
	}
}
