package relay

import (
	"testing"
	"time"
)

// TestPruneSharedStore: two relays share a NATS store. A sender waits on
// relay A, listening to its mailbox; relay B, which has no connection to
// it, prunes neither that mailbox nor its nameplate, however long the
// wait, because A's pruning marks the mailbox as heard. Once the sender
// is gone, B prunes both as unpaired, once the mark is old.
func TestPruneSharedStore(t *testing.T) {
	ns, err := StartNATS(t.Context(), NATSServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	clock := newFakeClock()
	cfg := Config{now: clock.Now, PruneAge: time.Hour, PruneUnpairedAge: 10 * time.Minute, PruneInterval: 5 * time.Minute,
		NATS: &NATSConfig{Server: ns, Prefix: "prune"}}
	a, urlA := startServer(t, cfg)
	b, _ := startServer(t, cfg)

	sender, _ := dial(t, urlA)
	sender.bind(testApp, "aaaa")
	sender.request("allocated", "allocate")
	mbox := sender.request("claimed", "claim", "nameplate", "1")["mailbox"].(string)
	sender.command("open", "mailbox", mbox)
	sender.sync()

	for range 6 { // 30 minutes, each relay pruning every 5
		clock.Advance(5 * time.Minute)
		for _, s := range []*Server{a, b} {
			if st, err := s.state.prune(clock.Now()); err != nil || st != (pruneStats{}) {
				t.Fatalf("prune at %v: %+v, %v; want nothing pruned", clock.Now(), st, err)
			}
			if s == a {
				// Passes are minutes apart, B's copy of the record
				// a moment behind: let it catch up with A's mark.
				waitFor(t, "B to see A's mark", func() bool { return heardAt(b, mbox).Equal(clock.Now()) })
			}
		}
	}
	if !b.hasNameplate(testApp, "1") || !b.hasMailbox(testApp, mbox) {
		t.Fatal("the waiting sender's state is gone")
	}

	sender.close()
	waitFor(t, "the sender to leave", func() bool { return a.connCount() == 0 })
	// The mark counts for two passes and half the unpaired age: 15 minutes.
	clock.Advance(14 * time.Minute)
	if st, err := b.state.prune(clock.Now()); err != nil || st != (pruneStats{}) {
		t.Fatalf("prune on B 14 minutes after the sender left: %+v, %v; want nothing pruned yet", st, err)
	}
	clock.Advance(2 * time.Minute)
	st, err := b.state.prune(clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st != (pruneStats{nameplates: 1, mailboxes: 1}) {
		t.Errorf("prune on B after the sender left: %+v, want its nameplate and mailbox", st)
	}
}

// heardAt is when s's copy of the store says mailbox id was last heard.
func heardAt(s *Server, id string) time.Time {
	mbs, _ := s.state.store.mailboxes()
	for _, mb := range mbs {
		if mb.ID == id {
			return mb.Heard
		}
	}
	return time.Time{}
}
