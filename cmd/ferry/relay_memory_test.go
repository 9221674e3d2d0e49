package main

import (
	"context"
	"io"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestRelayMemoryLimit: ferry relay sets the garbage collector's soft
// memory limit from the budgets of what it serves (the mailbox's stored
// messages, buffers, records and connections, the transit relay's
// connections) plus a fixed slack, so a flood that fills every budget
// does not take twice that, and collects at relayGCPercent (GOGC 50).
// The limit follows the limit flags: scripts/relay-load's 10,100
// connections, nameplates and mailboxes add what each is estimated to
// take (relay/limits.go: 32 KiB a connection, measured, and 2 KiB a
// record).
func TestRelayMemoryLimit(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOMEMLIMIT is set; ferry relay leaves it alone")
	}
	defer debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetGCPercent(100)
	for _, c := range []struct {
		name string
		args []string
		want int64
	}{
		// the mailbox's budget (128 MiB of stored messages, 128 MiB of
		// buffers, 30000 records of 2 KiB, 1024 connections of 32 KiB),
		// 1024 transit connections of 2 × 16 KiB, 64 MiB of slack
		{"defaults", nil, int64(128+128+32+32+64)<<20 + 30000*2<<10},
		// 10,100 connections of 32 KiB and 20,200 records of 2 KiB instead
		{"relay-load's limits", []string{"--max-conns", "10100", "--max-nameplates", "10100", "--max-mailboxes", "10100"},
			int64(128+128+32+64)<<20 + 10100*32<<10 + 20200*2<<10},
	} {
		t.Run(c.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			var stderr lockedBuffer
			cl := newCLI(strings.NewReader(""), io.Discard, &stderr)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() {
				done <- cl.run(ctx, append([]string{"relay", "--listen", "127.0.0.1:0", "--transit-listen", "127.0.0.1:0"}, c.args...))
			}()
			defer func() {
				cancel()
				if code := <-done; code != exitOK {
					t.Errorf("relay exited %d:\n%s", code, stderr.String())
				}
			}()
			limit := int64(math.MaxInt64)
			for deadline := time.Now().Add(30 * time.Second); limit == math.MaxInt64 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				limit = debug.SetMemoryLimit(-1)
			}
			if os.Getenv("GOGC") == "" {
				if gc := debug.SetGCPercent(100); gc != relayGCPercent {
					t.Errorf("GOGC %d, want %d", gc, relayGCPercent)
				}
			}
			if limit != c.want {
				t.Errorf("soft memory limit %d MiB, want %d MiB\n%s", limit>>20, c.want>>20, stderr.String())
			}
		})
	}
}
