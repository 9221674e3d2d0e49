package web_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pageSenderStopsBeforeOffer: Python's wormhole send --verify meets the
// page (versions exchanged: the page shows the verifier), stops at its
// own verifier prompt, before its transit hints and offer, and is killed
// there (SIGKILL). The relay tells the page nothing; the page must give
// up after receive.DefaultOfferTimeout (2 minutes: the page has no knob)
// with an Error named NoOffer that says so, instead of waiting for ever.
func pageSenderStopsBeforeOffer(t *testing.T, r *relay, c *chrome) {
	bin, err := exec.LookPath("wormhole")
	if err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatal("wormhole is not installed and FERRY_REQUIRE_PEERS=1")
		}
		t.Skip("wormhole is not installed")
	}
	src := filepath.Join(t.TempDir(), "never.txt")
	if err := os.WriteFile(src, []byte("never offered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const code = "9-python-stops"
	py := exec.Command(bin, "--relay-url", r.mailbox, "--transit-helper", "tcp:"+r.transit,
		"send", "--no-listen", "--verify", "--hide-progress", "--code", code, src)
	py.Env = append(os.Environ(), "HOME="+t.TempDir(), "PYTHONDONTWRITEBYTECODE=1")
	in, err := py.StdinPipe() // held open: its prompt waits on it
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := py.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { py.Process.Kill(); py.Wait() }()
	prompt := make(chan bool, 1)
	go func() {
		br := bufio.NewReader(out)
		for {
			line, err := br.ReadString(':') // "... ok? (yes/no): ", no newline
			if strings.HasSuffix(line, "ok? (yes/no):") || err != nil {
				prompt <- err == nil
				return
			}
		}
	}()
	openCode(t, c, r, code)
	if !<-prompt {
		t.Fatal("wormhole send ended before its verifier prompt")
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
