package relay

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRestartKeepsState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")

	s1, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts1 := httptest.NewServer(s1)
	url1 := "ws" + strings.TrimPrefix(ts1.URL, "http") + "/v1"
	a, _ := dial(t, url1)
	a.bind(testApp, "aaaa")
	nameplate := a.request("allocated", "allocate")["nameplate"].(string)
	mbox := a.request("claimed", "claim", "nameplate", nameplate)["mailbox"].(string)
	a.command("open", "mailbox", mbox)
	a.command("add", "phase", "pake", "body", "a1")
	a.expectMessage("aaaa", "pake", "a1")
	a.close()
	if err := s1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ts1.Close()

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode = %v, want 0700", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "relay.db")); err != nil {
		t.Fatalf("no relay.db: %v", err)
	}

	s2, url2 := startServer(t, Config{DataDir: dir})
	if !s2.hasNameplate(testApp, nameplate) || !s2.hasMailbox(testApp, mbox) {
		t.Fatal("nameplate or mailbox lost in the restart")
	}
	a, _ = dial(t, url2)
	a.bind(testApp, "aaaa")
	if got := a.request("claimed", "claim", "nameplate", nameplate)["mailbox"]; got != mbox {
		t.Fatalf("A re-claimed mailbox %v, want %v", got, mbox)
	}
	a.command("open", "mailbox", mbox)
	a.expectMessage("aaaa", "pake", "a1")

	b, _ := dial(t, url2)
	b.bind(testApp, "bbbb")
	if got := b.request("claimed", "claim", "nameplate", nameplate)["mailbox"]; got != mbox {
		t.Fatalf("B claimed mailbox %v, want %v", got, mbox)
	}
	b.command("open", "mailbox", mbox)
	b.expectMessage("aaaa", "pake", "a1")
	b.command("add", "phase", "pake", "body", "b1")
	b.expectMessage("bbbb", "pake", "b1")
	a.expectMessage("bbbb", "pake", "b1")
	a.command("add", "phase", "0", "body", "a2")
	a.expectMessage("aaaa", "0", "a2")
	b.expectMessage("aaaa", "0", "a2")

	// A third side is still turned away after the restart.
	c, _ := dial(t, url2)
	c.bind(testApp, "cccc")
	if got := c.refused("claim", "nameplate", nameplate); got != "crowded" {
		t.Errorf("third side: %q", got)
	}

	a.request("released", "release")
	b.request("released", "release")
	a.request("closed", "close")
	b.request("closed", "close")
	if s2.hasNameplate(testApp, nameplate) || s2.hasMailbox(testApp, mbox) {
		t.Error("state survived release and close")
	}
}

func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	startServer(t, Config{DataDir: dir})
	// bbolt holds an exclusive lock; a second server on the same
	// directory must fail rather than hang.
	if s, err := New(Config{DataDir: dir}); err == nil {
		s.Close()
		t.Fatal("a second server opened a data directory in use")
	}
}
