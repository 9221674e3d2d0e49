package send_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/relay"
	"github.com/ferrydrop/ferry/send"
)

// cutDialer dials the transit relay for the receiver and closes the first
// connection under the stream once cut bytes came in on it; cutDone is
// closed then.
type cutDialer struct {
	cut     int64
	once    sync.Once
	cutDone chan struct{}
}

func (c *cutDialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &cutOnRead{Conn: conn, c: c}, nil
}

type cutOnRead struct {
	net.Conn
	c *cutDialer
	n int64
}

func (cc *cutOnRead) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	if cc.n += int64(n); cc.n > cc.c.cut {
		cc.c.once.Do(func() { cc.Conn.Close(); close(cc.c.cutDone) })
	}
	return n, err
}

// TestReconnectBeforeHashes: the path breaks while the hashes have not
// been made yet. Both sides wait for them before they look for a new path
// (the receiver says what it holds only once it can check it), and the
// same run goes on from what the receiver held; the file lands whole.
func TestReconnectBeforeHashes(t *testing.T) {
	ctx, url := setup(t)
	src, data := lateFile(t, "big.iso", 6<<20, 4)
	out := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); relay.NewTransit(relay.TransitConfig{}).Serve(rctx, ln) }()
	defer func() { stopRelay(); ln.Close(); <-relayDone }()
	tr := ln.Addr().String()

	g := newGate()
	cut := &cutDialer{cut: 2 << 20, cutDone: make(chan struct{})}
	go func() { // the hashes are let through once the path broke
		select {
		case <-cut.cutDone:
			close(g.open)
		case <-ctx.Done():
		}
	}()
	var mu sync.Mutex
	var resumed []string
	var attempts int
	ro := receive.Options{Out: out, TransitRelay: tr, DialTransit: cut.dial, ReconnectTimeout: 5 * time.Second, IdleTimeout: 3 * time.Second,
		OnReconnecting: func(int, error) { mu.Lock(); attempts++; mu.Unlock() },
		Resume: receive.Resume{OnResume: func(name string, at, size int64) {
			mu.Lock()
			defer mu.Unlock()
			resumed = append(resumed, name)
			if at <= 0 {
				t.Errorf("%s resumed at %d", name, at)
			}
		}}}
	serr := sending(ctx, url, "67-late-reconnect", src, g, func(so *send.FileOptions) {
		so.Transport, so.TransitRelay = transfer.TransportRelay, tr
		so.ReconnectTimeout, so.IdleTimeout = 5*time.Second, 3*time.Second
	})
	ro.Relay = url
	ro.Accept = func(transfer.Manifest) error { return nil }
	ro.Transport = transfer.TransportRelay
	_, rerr := receive.Run(ctx, "67-late-reconnect", ro)
	if rerr != nil {
		t.Fatalf("receiver: %v", rerr)
	}
	if err := <-serr; err != nil {
		t.Fatalf("sender: %v", err)
	}
	select {
	case <-cut.cutDone:
	default:
		t.Fatal("the connection was never cut: the test proves nothing")
	}
	got, _ := os.ReadFile(filepath.Join(out, "big.iso"))
	if !bytes.Equal(got, data) {
		t.Fatalf("big.iso: %d bytes that differ from the %d sent", len(got), len(data))
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts == 0 || strings.Join(resumed, " ") != "big.iso" {
		t.Fatalf("reconnect attempts %d, resumed %q; want a reconnect that resumed big.iso", attempts, resumed)
	}
}
