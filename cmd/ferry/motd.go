package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"

	"github.com/ferrydrop/ferry/escape"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// motdHandler shows the relay's message of the day on stderr, as the
// Python client does, whether or not -v logs everything else (next). The
// mailbox client logs it as a wormhole.MOTDRecord, already escaped and
// quoted; each relay's message is shown once.
type motdHandler struct {
	next  slog.Handler
	out   io.Writer
	mu    *sync.Mutex
	shown map[string]bool // relays whose message was shown
}

func newMOTDHandler(next slog.Handler, out io.Writer) *motdHandler {
	return &motdHandler{next: next, out: out, mu: new(sync.Mutex), shown: map[string]bool{}}
}

func (h *motdHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *motdHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == wormhole.MOTDRecord {
		h.show(r)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *motdHandler) show(r slog.Record) {
	var relay, motd string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "relay":
			relay = a.Value.String()
		case "motd":
			motd = a.Value.String()
		}
		return true
	})
	if motd == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shown[relay] {
		return
	}
	h.shown[relay] = true
	if u, err := strconv.Unquote(relay); err == nil && escape.Terminal(u) == u {
		relay = u // a plain URL reads better without its quotes
	}
	// Both values were escaped by the mailbox client; the line is
	// escaped once more, like every line ferry prints about others' words.
	fmt.Fprintln(h.out, escape.Terminal(fmt.Sprintf("The relay %s says: %s", relay, motd)))
}

func (h *motdHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *motdHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}
