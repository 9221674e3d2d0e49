package relay

import (
	"testing"
	"time"
)

func TestPruneIdle(t *testing.T) {
	clock := newFakeClock()
	// Unpaired state goes no sooner than paired state here;
	// TestPruneUnpaired covers the difference.
	s, url := startServer(t, Config{now: clock.Now, PruneAge: time.Hour, PruneUnpairedAge: time.Hour, PruneInterval: time.Hour})

	// A: a nameplate and mailbox, then A goes away.
	a, _ := dial(t, url)
	a.bind(testApp, "aaaa")
	a.request("allocated", "allocate")
	mboxA := a.request("claimed", "claim", "nameplate", "1")["mailbox"].(string)
	a.command("open", "mailbox", mboxA)
	a.sync() // open and bind are commands without replies: make sure they were handled
	a.close()
	// B: stays connected, listening to its mailbox.
	b, _ := dial(t, url)
	b.bind(testApp, "bbbb")
	mboxB := b.request("claimed", "claim", "nameplate", "2")["mailbox"].(string)
	b.command("open", "mailbox", mboxB)
	b.sync() // else B's open may still be queued when prune runs
	// C: a mailbox without a nameplate.
	c, _ := dial(t, url)
	c.bind(testApp, "cccc")
	c.command("open", "mailbox", "bare")
	c.sync()
	c.close()
	// D: closes its mailbox (deleting it) but never releases its nameplate.
	d, _ := dial(t, url)
	d.bind(testApp, "dddd")
	mboxD := d.request("claimed", "claim", "nameplate", "3")["mailbox"]
	d.request("closed", "close", "mailbox", mboxD)
	d.close()
	// Wait until the departed clients' connections are gone.
	waitFor(t, "clients to leave", func() bool { return s.connCount() == 1 })

	clock.Advance(30 * time.Minute)
	if st, err := s.state.prune(clock.Now()); err != nil || st != (pruneStats{}) {
		t.Fatalf("prune after 30m: %+v, %v; want nothing pruned", st, err)
	}
	clock.Advance(31 * time.Minute)
	st, err := s.state.prune(clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st != (pruneStats{nameplates: 2, mailboxes: 2}) {
		t.Errorf("prune after 61m: %+v, want nameplates 1 and 3 and mailboxes A and bare", st)
	}
	for _, np := range []string{"1", "3"} {
		if s.hasNameplate(testApp, np) {
			t.Errorf("idle nameplate %s survived", np)
		}
	}
	if s.hasMailbox(testApp, mboxA) || s.hasMailbox(testApp, "bare") {
		t.Error("idle mailbox survived")
	}
	if !s.hasNameplate(testApp, "2") || !s.hasMailbox(testApp, mboxB) {
		t.Fatal("a mailbox with a listener (or its nameplate) was pruned")
	}

	// Once B is gone too, its state goes after PruneAge.
	b.close()
	waitFor(t, "B to leave", func() bool { return s.connCount() == 0 })
	clock.Advance(59 * time.Minute)
	if st, _ := s.state.prune(clock.Now()); st != (pruneStats{}) {
		t.Errorf("pruned %+v less than PruneAge after B was last seen", st)
	}
	clock.Advance(2 * time.Minute)
	if st, _ := s.state.prune(clock.Now()); st != (pruneStats{nameplates: 1, mailboxes: 1}) {
		t.Errorf("prune after B left: %+v", st)
	}
}

func TestPruneLoop(t *testing.T) {
	s, url := startServer(t, Config{PruneAge: 20 * time.Millisecond, PruneInterval: 5 * time.Millisecond})
	a, _ := dial(t, url)
	a.bind(testApp, "aaaa")
	a.request("claimed", "claim", "nameplate", "5")
	a.close()
	waitFor(t, "the idle nameplate to be pruned", func() bool { return !s.hasNameplate(testApp, "5") })
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
}
