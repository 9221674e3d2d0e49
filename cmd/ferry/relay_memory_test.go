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
// messages and buffers, the transit relay's connections) plus a fixed
// slack, so a flood that fills every budget does not take twice that,
// and collects at relayGCPercent (GOGC 50).
func TestRelayMemoryLimit(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOMEMLIMIT is set; ferry relay leaves it alone")
	}
	defer debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetGCPercent(100)
	var stderr lockedBuffer
	c := newCLI(strings.NewReader(""), io.Discard, &stderr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- c.run(ctx, []string{"relay", "--listen", "127.0.0.1:0", "--transit-listen", "127.0.0.1:0"})
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
	// the mailbox's budget (128 MiB of stored messages, 128 MiB of
	// buffers, 30000 records of 2 KiB, 1024 connections of 64 KiB), 1024
	// transit connections of 2 × 16 KiB, 64 MiB of slack
	if want := int64(128+128+64+32+64)<<20 + 30000*2<<10; limit != want {
		t.Errorf("soft memory limit %d MiB, want %d MiB\n%s", limit>>20, want>>20, stderr.String())
	}
}
