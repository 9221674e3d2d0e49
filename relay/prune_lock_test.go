package relay

import (
	"sync/atomic"
	"testing"
	"time"
)

// gatedStore holds the first updateMailbox after it is armed until
// release is closed, telling entered when it is there.
type gatedStore struct {
	store
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) updateMailbox(app, id string, fn func(*mailbox, bool) (change, error)) error {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return g.store.updateMailbox(app, id, fn)
}

// TestPruneRefreshUnlocked: while pruning writes that a listened-to
// mailbox is in use (on a shared store, a JetStream round trip for each
// such mailbox, every PruneInterval), the relay keeps answering commands:
// here an allocate, while that write is held up.
func TestPruneRefreshUnlocked(t *testing.T) {
	clock := newFakeClock()
	s, url := startServer(t, Config{now: clock.Now, PruneAge: time.Hour, PruneInterval: time.Hour})
	a, _ := dial(t, url)
	a.bind(testApp, "aaaa")
	mbox := a.request("claimed", "claim", "nameplate", "5")["mailbox"].(string)
	a.command("open", "mailbox", mbox)
	a.sync() // the open is handled before the store is swapped

	g := &gatedStore{entered: make(chan struct{}), release: make(chan struct{})}
	s.state.mu.Lock()
	g.store = s.state.store
	s.state.store = g
	s.state.mu.Unlock()
	released := false
	release := func() {
		if !released {
			released = true
			close(g.release)
		}
	}
	defer release()

	clock.Advance(31 * time.Minute) // past half PruneAge: prune records that mailbox is in use
	g.armed.Store(true)
	pruned := make(chan error, 1)
	go func() {
		_, err := s.state.prune(clock.Now())
		pruned <- err
	}()
	select {
	case <-g.entered:
	case err := <-pruned:
		t.Fatalf("prune did not write the listened-to mailbox (err %v)", err)
	}
	b, _ := dial(t, url)
	b.bind(testApp, "bbbb")
	b.request("allocated", "allocate") // fails after 5 s if prune holds the state's lock
	release()
	if err := <-pruned; err != nil {
		t.Fatal(err)
	}
	if !s.hasMailbox(testApp, mbox) {
		t.Error("the listened-to mailbox was pruned")
	}
}
