package relay

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNATSManyListeners: two relays on one JetStream listen to 800
// mailboxes each, 1600 listeners in all (more than the thousand consumers
// a JetStream stream holds by default; scripts/relay-load holds ten
// thousand), each mailbox holding a message before they listen and
// getting two more, one added on each relay, after: every listener gets
// exactly its mailbox's three messages, in the order they were added.
func TestNATSManyListeners(t *testing.T) {
	ns, err := StartNATS(t.Context(), NATSServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	open := func() *natsStore {
		st, err := openNATSStore(t.Context(), NATSConfig{Server: ns, Prefix: "many"}, time.Hour, 1<<20, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.close() })
		return st
	}
	relays := []*natsStore{open(), open()}
	const mailboxes = 800
	when := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	id := func(i int) string { return fmt.Sprintf("mb%04d", i) }
	for i := range mailboxes {
		if err := relays[0].putMailbox(mailbox{App: "a", ID: id(i), Sides: map[string]bool{}, Updated: when}); err != nil {
			t.Fatal(err)
		}
		if err := relays[i%2].appendMessage("a", id(i), message{Side: "s", Phase: "0", Body: id(i)}, when, nil); err != nil {
			t.Fatal(err)
		}
	}
	type got struct {
		mu     sync.Mutex
		phases []string
		done   chan struct{}
	}
	var all []*got
	for i := range mailboxes {
		for _, r := range relays {
			g := &got{done: make(chan struct{})}
			all = append(all, g)
			_, err := r.listen("a", id(i), func(m message) {
				g.mu.Lock()
				defer g.mu.Unlock()
				if m.Body != id(i) {
					m.Phase = "from " + m.Body
				}
				g.phases = append(g.phases, m.Phase)
				if m.Phase == "2" {
					close(g.done)
				}
			})
			if err != nil {
				t.Fatalf("listener %d: %v", len(all), err)
			}
		}
	}
	for i := range mailboxes {
		for p, r := range relays {
			if err := r.appendMessage("a", id(i), message{Side: "s", Phase: fmt.Sprint(p + 1), Body: id(i)}, when, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	timeout := time.After(2 * time.Minute)
	for n, g := range all {
		select {
		case <-g.done:
		case <-timeout:
			g.mu.Lock()
			t.Fatalf("listener %d of %d got %q before the time ran out", n+1, len(all), g.phases)
		}
	}
	// What came twice would have come before the last message, which
	// every listener got: nothing more is on its way.
	for n, g := range all {
		g.mu.Lock()
		if want := []string{"0", "1", "2"}; !slices.Equal(g.phases, want) {
			t.Errorf("listener %d got phases %s, want %s", n+1, strings.Join(g.phases, ","), strings.Join(want, ","))
		}
		g.mu.Unlock()
	}
}
