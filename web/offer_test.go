package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/peertest"
)

// pageSenderStopsBeforeOffer: Python's wormhole send --verify meets the
// page (versions exchanged: the page shows the verifier), stops at its
// own verifier prompt, before its transit hints and offer, and is killed
// there (SIGKILL). The relay tells the page nothing; the page must give
// up after receive.DefaultOfferTimeout (2 minutes: the page has no knob)
// with an Error named NoOffer that says so, instead of waiting for ever.
func pageSenderStopsBeforeOffer(t *testing.T, r *relay, c *chrome) {
	src := filepath.Join(t.TempDir(), "never.txt")
	if err := os.WriteFile(src, []byte("never offered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const code = "9-python-stops"
	py, prompt := peertest.HeldSender(t.Context(), t, r.mailbox, "tcp:"+r.transit, code, src)
	openCode(t, c, r, code)
	if err := <-prompt; err != nil {
		t.Fatal(err)
	}
	// The page shows the verifier once the versions are exchanged.
	for deadline := time.Now().Add(time.Minute); strings.TrimSpace(c.text(t, "#verifier")) == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the page showed no verifier; status %q", c.text(t, "#status"))
		}
	}
	if err := py.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	state := waitState(t, c, "error", "done", "offer")
	msg := c.text(t, "#error")
	t.Logf("the page says, %.1f s after the kill: %q", time.Since(killed).Seconds(), msg)
	if state != "error" {
		t.Fatalf("page state %q after the sender was killed before its offer, want error", state)
	}
	if name := evalAsync[string](t, c, `document.getElementById("error").dataset.name || ""`); name != "NoOffer" {
		t.Errorf("the error's name is %q, want NoOffer", name)
	}
	if want := "the sender stopped before offering anything (nothing arrived for 2m0s)"; !strings.Contains(msg, want) {
		t.Errorf("the page says %q, want %q", msg, want)
	}
}
