package wormhole

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/mailbox"
)

// meet dials two Wormholes with cfg, gives both code and establishes them.
func meet(t *testing.T, ctx context.Context, cfg Config, code string) (a, b *Wormhole) {
	t.Helper()
	ws := make([]*Wormhole, 2)
	for i := range ws {
		w, err := Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close(context.Background(), Happy) })
		if err := w.UseCode(ctx, code); err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = w.Establish(ctx) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return ws[0], ws[1]
}

// receive checks that w's next phase is want.
func receive(t *testing.T, ctx context.Context, w *Wormhole, want string) {
	t.Helper()
	got, err := w.Receive(ctx)
	if err != nil || string(got) != want {
		t.Fatalf("received %q, %v; want %q", got, err, want)
	}
}

// held opens w's mailbox on url as w's own side and returns how many
// messages of each phase of w's the relay holds.
func held(t *testing.T, ctx context.Context, url string, w *Wormhole) map[string]int {
	t.Helper()
	c, _, err := mailbox.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(ctx, AppID, w.side, [2]string{"test", "0"}); err != nil {
		t.Fatal(err)
	}
	w.connMu.Lock()
	mbox := w.mailbox
	w.connMu.Unlock()
	if err := c.Open(ctx, mbox); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, m := range msgs {
		if m.Side == w.side {
			n[m.Phase]++
		}
	}
	return n
}

// TestRedialAfterEstablish: the relay (ferry relay --data) goes away after
// the sides met and comes back; a Send made while it is away waits for it,
// both sides reopen the mailbox, and the relay ends up holding each of
// the sender's messages once: what it kept is not sent again.
func TestRedialAfterEstablish(t *testing.T) {
	r := newRestartable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := meet(t, ctx, Config{RelayURL: r.url(), AppVersions: map[string]any{}, Reconnect: 20 * time.Second}, "21-after-meeting")
	if err := a.Send(ctx, []byte("before")); err != nil {
		t.Fatal(err)
	}
	receive(t, ctx, b, "before")
	_, genA := a.client()
	r.kill()
	sent := make(chan error, 1)
	go func() { sent <- a.Send(ctx, []byte("while away")) }()
	r.start()
	if err := <-sent; err != nil {
		t.Fatalf("Send across the restart: %v", err)
	}
	receive(t, ctx, b, "while away")
	if _, gen := a.client(); gen != genA+1 {
		t.Errorf("the sender redialled %d times, want once", gen-genA)
	}
	if err := b.Send(ctx, []byte("answer")); err != nil {
		t.Fatal(err)
	}
	receive(t, ctx, a, "answer")
	got := held(t, ctx, r.url(), a)
	for phase, n := range got {
		if n != 1 {
			t.Errorf("the relay holds %d copies of the sender's %q", n, phase)
		}
	}
	if got["pake"] != 1 || got["version"] != 1 || got["0"] != 1 || got["1"] != 1 {
		t.Errorf("the relay holds %v of the sender's messages, want pake, version, 0 and 1 once each", got)
	}
}

// TestRedialRelayLostState: a relay that keeps nothing (memory store)
// restarts after the sides met: both sides send all they sent again into
// the new, empty mailbox, and each reads only what it has not read.
func TestRedialRelayLostState(t *testing.T) {
	r := newForgetful(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := meet(t, ctx, Config{RelayURL: r.url(), AppVersions: map[string]any{}, Reconnect: 20 * time.Second}, "22-forgetful")
	for _, s := range []string{"one", "two"} {
		if err := a.Send(ctx, []byte(s)); err != nil {
			t.Fatal(err)
		}
		receive(t, ctx, b, s)
	}
	r.kill()
	r.start()
	if err := a.Send(ctx, []byte("three")); err != nil {
		t.Fatal(err)
	}
	receive(t, ctx, b, "three")
	if got := held(t, ctx, r.url(), a); got["pake"] != 1 || got["0"] != 1 || got["1"] != 1 || got["2"] != 1 {
		t.Errorf("the restarted relay holds %v of the sender's messages, want all sent again once", got)
	}
	if len(b.pending) != 0 {
		t.Errorf("the receiver kept %d phases it had read", len(b.pending))
	}
}

// TestDuplicatePhaseAfterRedial: after a redial the relay replays the
// phases the receiver has read, and a copy of one (another body under
// the same number, from the sender's side) comes too: the receiver
// ignores them by phase number and keeps none of them, and reads the
// next phase.
func TestDuplicatePhaseAfterRedial(t *testing.T) {
	r := newRestartable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := meet(t, ctx, Config{RelayURL: r.url(), AppVersions: map[string]any{}, Reconnect: 20 * time.Second}, "23-duplicates")
	if err := a.Send(ctx, []byte("zero")); err != nil {
		t.Fatal(err)
	}
	receive(t, ctx, b, "zero")
	r.kill()
	r.start()
	// A copy of phase 0 with another body, sealed with the sender's
	// phase key, as a relay replaying a stale or doubled message would.
	dup := rawSide(t, ctx, r.url(), a)
	if err := dup.Add(ctx, "0", seal(phaseKey(a.key, a.side, "0"), []byte("zero again"))); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, []byte("one")); err != nil {
		t.Fatal(err)
	}
	receive(t, ctx, b, "one")
	if len(b.pending) != 0 {
		t.Errorf("the receiver kept %d phases it had read", len(b.pending))
	}
}

// rawSide is a bare mailbox client bound as w's side, in w's mailbox.
func rawSide(t *testing.T, ctx context.Context, url string, w *Wormhole) *mailbox.Client {
	t.Helper()
	c, _, err := mailbox.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Bind(ctx, AppID, w.side, [2]string{"test", "0"}); err != nil {
		t.Fatal(err)
	}
	w.connMu.Lock()
	mbox := w.mailbox
	w.connMu.Unlock()
	if err := c.Open(ctx, mbox); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRedialGivesUpAfterEstablish: a relay that does not come back ends
// a Send after Config.Reconnect, saying so.
func TestRedialGivesUpAfterEstablish(t *testing.T) {
	r := newRestartable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, _ := meet(t, ctx, Config{RelayURL: r.url(), AppVersions: map[string]any{}, Reconnect: time.Second}, "24-gone")
	r.kill()
	err := a.Send(ctx, []byte("nobody"))
	if err == nil || !strings.Contains(err.Error(), "did not come back within 1s") {
		t.Fatalf("Send = %v, want a give-up after 1s", err)
	}
}

// TestNoRedialAfterClose: once closed, a Wormhole does not redial.
func TestNoRedialAfterClose(t *testing.T) {
	r := newRestartable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, _ := meet(t, ctx, Config{RelayURL: r.url(), AppVersions: map[string]any{}, Reconnect: 20 * time.Second}, "25-closed")
	a.Close(ctx, Happy)
	if _, err := a.Receive(ctx); err == nil {
		t.Fatal("Receive after Close succeeded")
	}
	if _, gen := a.client(); gen != 0 {
		t.Fatalf("redialled %d times after Close", gen)
	}
}

// deadURL is a relay URL on a port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "ws://" + addr + "/v1"
}

// TestPoolSkipsDeadRelay: of a pool whose first relay does not answer,
// both sides use the second.
func TestPoolSkipsDeadRelay(t *testing.T) {
	r := newRestartable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := deadURL(t) + ", " + r.url()
	a, b := meet(t, ctx, Config{RelayURL: pool, AppVersions: map[string]any{}, Reconnect: 20 * time.Second}, "26-pool")
	for _, w := range []*Wormhole{a, b} {
		if w.RelayURL() != r.url() {
			t.Errorf("using %s, want %s", w.RelayURL(), r.url())
		}
	}
	if err := a.Send(ctx, []byte("through the second")); err != nil {
		t.Fatal(err)
	}
	receive(t, ctx, b, "through the second")
}

// TestPoolFailover: both sides meet on the first relay of a pool of two
// (one-process relays that share nothing); it goes away for good; both
// move to the second, open the mailbox there, send what they sent again,
// and go on.
func TestPoolFailover(t *testing.T) {
	r1, r2 := newRestartable(t), newForgetful(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{RelayURL: r1.url() + "," + r2.url(), AppVersions: map[string]any{}, Reconnect: 20 * time.Second}
	a, b := meet(t, ctx, cfg, "27-failover")
	if a.RelayURL() != r1.url() {
		t.Fatalf("using %s, want the first relay", a.RelayURL())
	}
	if err := a.Send(ctx, []byte("on the first")); err != nil {
		t.Fatal(err)
	}
	receive(t, ctx, b, "on the first")
	r1.kill()
	if err := a.Send(ctx, []byte("on the second")); err != nil {
		t.Fatal(err)
	}
	receive(t, ctx, b, "on the second")
	if err := b.Send(ctx, []byte("reply")); err != nil {
		t.Fatal(err)
	}
	receive(t, ctx, a, "reply")
	for _, w := range []*Wormhole{a, b} {
		if w.RelayURL() != r2.url() {
			t.Errorf("using %s after the first relay went, want %s", w.RelayURL(), r2.url())
		}
	}
}

// TestPoolNoneAnswers: a pool none of whose relays answers fails with
// one line that names each, and unwraps to their DialErrors.
func TestPoolNoneAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u1, u2 := deadURL(t), deadURL(t)
	_, err := Dial(ctx, Config{RelayURL: u1 + "," + u2})
	var de *mailbox.DialError
	if err == nil || !errors.As(err, &de) || !strings.Contains(err.Error(), u1) || !strings.Contains(err.Error(), u2) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "none of the 2 relays answered") {
		t.Fatalf("Dial = %v, want one line naming both relays", err)
	}
}

// TestPoolRelayRestarts: a pool whose first relay is down and whose
// second (ferry relay --data) restarts after the sides met: the redial
// skips the dead one again, reopens the mailbox on the restarted relay,
// which kept it, and sends nothing twice.
func TestPoolRelayRestarts(t *testing.T) {
	r := newRestartable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := deadURL(t) + "," + r.url()
	a, b := meet(t, ctx, Config{RelayURL: pool, AppVersions: map[string]any{}, Reconnect: 20 * time.Second}, "28-pool-restart")
	if err := a.Send(ctx, []byte("before")); err != nil {
		t.Fatal(err)
	}
	receive(t, ctx, b, "before")
	r.kill()
	sent := make(chan error, 1)
	go func() { sent <- a.Send(ctx, []byte("after")) }()
	r.start()
	if err := <-sent; err != nil {
		t.Fatalf("Send across the restart: %v", err)
	}
	receive(t, ctx, b, "after")
	if a.RelayURL() != r.url() || b.RelayURL() != r.url() {
		t.Errorf("using %s and %s, want %s", a.RelayURL(), b.RelayURL(), r.url())
	}
	if got := held(t, ctx, r.url(), a); got["pake"] != 1 || got["version"] != 1 || got["0"] != 1 || got["1"] != 1 || len(got) != 4 {
		t.Errorf("the relay holds %v of the sender's messages, want pake, version, 0 and 1 once each", got)
	}
}
