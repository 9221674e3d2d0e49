package wormhole

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/relay"
)

// restartable is a ferry relay with a data folder that a test can stop
// and start again on the same address.
type restartable struct {
	t    *testing.T
	dir  string // the data folder; "" keeps state in memory (lost on restart)
	addr string
	srv  *relay.Server
	stop context.CancelFunc
	done chan error
}

func newRestartable(t *testing.T) *restartable {
	r := &restartable{t: t, dir: filepath.Join(t.TempDir(), "data")}
	r.start()
	t.Cleanup(r.kill)
	return r
}

// newForgetful is a restartable relay that keeps its state in memory:
// after a restart it knows no nameplate, mailbox or message.
func newForgetful(t *testing.T) *restartable {
	r := &restartable{t: t}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *restartable) url() string { return "ws://" + r.addr + "/v1" }

func (r *restartable) start() {
	r.t.Helper()
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 50 { // the old listener's port may take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	if r.srv, err = relay.New(relay.Config{DataDir: r.dir}); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.srv.Serve(ctx, ln) }()
}

// kill stops the relay: every connection drops.
func (r *restartable) kill() {
	if r.srv == nil {
		return
	}
	r.stop()
	<-r.done
	r.srv.Close()
	r.srv = nil
}

// TestReconnectDuringRendezvous: the relay (ferry relay --data) goes away
// and comes back while one side waits for the other; the waiting side
// reconnects, reopens its mailbox, and the two meet.
func TestReconnectDuringRendezvous(t *testing.T) {
	r := newRestartable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := Config{RelayURL: r.url(), AppVersions: map[string]any{}, Reconnect: 10 * time.Second}
	a, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx, Happy)
	if err := a.UseCode(ctx, "17-restart-relay"); err != nil {
		t.Fatal(err)
	}
	established := make(chan error, 1)
	go func() { established <- a.Establish(ctx) }()
	time.Sleep(200 * time.Millisecond) // a waits for its peer
	r.kill()
	time.Sleep(500 * time.Millisecond)
	r.start()

	b, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx, Happy)
	if err := b.UseCode(ctx, "17-restart-relay"); err != nil {
		t.Fatal(err)
	}
	if err := b.Establish(ctx); err != nil {
		t.Fatalf("b: %v", err)
	}
	if err := <-established; err != nil {
		t.Fatalf("a: %v", err)
	}
	if err := a.Send(ctx, []byte("after the restart")); err != nil {
		t.Fatal(err)
	}
	got, err := b.Receive(ctx)
	if err != nil || string(got) != "after the restart" {
		t.Fatalf("b received %q, %v", got, err)
	}
}

// TestReconnectGivesUp: a relay that does not come back ends the wait
// after Config.Reconnect, saying so.
func TestReconnectGivesUp(t *testing.T) {
	r := newRestartable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Dial(ctx, Config{RelayURL: r.url(), Reconnect: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx, Happy)
	if err := a.UseCode(ctx, "18-no-relay"); err != nil {
		t.Fatal(err)
	}
	r.kill()
	start := time.Now()
	err = a.Establish(ctx)
	if err == nil || !strings.Contains(err.Error(), "did not come back within 1s") {
		t.Fatalf("Establish = %v, want a give-up after 1s", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}
