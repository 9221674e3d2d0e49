package mailbox

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParsePool(t *testing.T) {
	got, err := ParsePool(" ws://a/v1, ,ws://b/v1 ,")
	if err != nil || len(got) != 2 || got[0] != "ws://a/v1" || got[1] != "ws://b/v1" {
		t.Fatalf("ParsePool = %q, %v", got, err)
	}
	if got, err := ParsePool(""); err != nil || got != nil {
		t.Fatalf("ParsePool(\"\") = %q, %v; want none", got, err)
	}
	if _, err := ParsePool(strings.Repeat("ws://x/v1,", MaxPool+1)); err == nil {
		t.Fatal("a pool of too many relays was accepted")
	}
}

// deadURL is a relay URL on a port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return "ws://" + ln.Addr().String() + "/v1"
}

// silentURL is a relay URL whose server accepts connections and never
// answers.
func silentURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return "ws://" + ln.Addr().String() + "/v1"
}

// TestDialPool: the first relay refuses, the second never answers, the
// third greets: DialPool returns the third, after the second's short
// per-URL bound, not the caller's whole deadline; started at the third,
// it wraps around to it first.
func TestDialPool(t *testing.T) {
	good := scripted(t, okWelcome, nil)
	urls := []string{deadURL(t), silentURL(t), good}
	c, _, at, err := DialPool(ctx(t), urls, 0, 300*time.Millisecond, nil)
	if err != nil || at != 2 {
		t.Fatalf("DialPool = %d, %v; want the third relay", at, err)
	}
	c.Close()
	c, _, at, err = DialPool(ctx(t), urls, 2, 300*time.Millisecond, nil)
	if err != nil || at != 2 {
		t.Fatalf("DialPool from the third = %d, %v", at, err)
	}
	c.Close()
	_, _, _, err = DialPool(ctx(t), urls[:2], 0, 300*time.Millisecond, nil)
	var pe *PoolError
	var de *DialError
	if !errors.As(err, &pe) || len(pe.Errs) != 2 || !errors.As(err, &de) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("DialPool of two dead relays = %v, want a one-line PoolError of both", err)
	}
}

// TestSync: a mailbox's messages, replayed on open, are all queued when
// Sync returns (the server answers its ping after them), and stay queued
// for Next.
func TestSync(t *testing.T) {
	url := scripted(t, okWelcome, func(msg map[string]any) []string {
		switch msg["type"] {
		case "open":
			return []string{`{"type":"ack","id":"$ID"}`,
				`{"type":"message","side":"aaaa","phase":"pake","body":"01"}`,
				`{"type":"message","side":"bbbb","phase":"0","body":"02"}`}
		case "ping":
			return []string{`{"type":"ack","id":"$ID"}`, `{"type":"pong","pong":1}`}
		}
		return []string{`{"type":"ack","id":"$ID"}`}
	})
	c, _, err := Dial(ctx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Open(ctx(t), "m"); err != nil {
		t.Fatal(err)
	}
	held, err := c.Sync(ctx(t))
	if err != nil || len(held) != 2 || held[0].Phase != "pake" || held[1].Side != "bbbb" {
		t.Fatalf("Sync = %+v, %v; want the two replayed messages", held, err)
	}
	for _, want := range held {
		if m, err := c.Next(ctx(t)); err != nil || m.Phase != want.Phase {
			t.Fatalf("Next = %+v, %v; want %+v", m, err, want)
		}
	}
}
