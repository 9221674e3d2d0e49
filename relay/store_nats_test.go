package relay

import (
	"log/slog"
	"testing"
	"time"
)

// TestNATSStore runs the store checks against JetStream: a NATS server of
// its own, in process; reopening is another relay's store on the same
// server, which must find everything (its index loaded by its watchers).
func TestNATSStore(t *testing.T) {
	ns, err := StartNATS(t.Context(), NATSServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	open := func() store {
		st, err := openNATSStore(t.Context(), NATSConfig{Server: ns, Prefix: "conformance"}, time.Hour, 1<<20, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	testStore(t, open, open)
}

// TestNATSKeys: every app id and name, however odd, makes a valid key
// that decodes back, and different records never share one.
func TestNATSKeys(t *testing.T) {
	seen := map[string]recordKey{}
	for _, k := range []recordKey{{"", ""}, {"a", "1"}, {"a.b", "c"}, {"a", "b.c"}, {"lothar.com/wormhole/text-or-file-xfer", "12"},
		{"*", ">"}, {"a b", "\x00\xff"}, {"ünï", "日本"}} {
		key := natsKey(k.app, k.name)
		if other, dup := seen[key]; dup {
			t.Errorf("%q and %q share key %q", k, other, key)
		}
		seen[key] = k
		for _, r := range key {
			if !(validNATSName(string(r)) || r == '.') {
				t.Errorf("key %q of %q has %q", key, k, r)
			}
		}
		app, name, err := splitNATSKey(key)
		if err != nil || app != k.app || name != k.name {
			t.Errorf("splitNATSKey(%q) = %q, %q, %v; want %q", key, app, name, err, k)
		}
	}
	for _, bad := range []string{"", "x", "xYQ", "y.x", "x!.x", "xYQ.xYQ.xYQ"} {
		if _, _, err := splitNATSKey(bad); err == nil {
			t.Errorf("splitNATSKey(%q) accepted it", bad)
		}
	}
}

// FuzzNATSKey: splitNATSKey, which reads keys a watcher got from NATS,
// never panics, and every key natsKey makes decodes back to its parts.
func FuzzNATSKey(f *testing.F) {
	for _, seed := range []struct{ app, name string }{
		{"lothar.com/wormhole/text-or-file-xfer", "4"}, {"", ""}, {"a.b", "c.d"}, {"\x00", "\xff\xfe"}, {"*", ">"},
	} {
		f.Add(seed.app, seed.name, natsKey(seed.app, seed.name))
	}
	f.Add("", "", "x.x")
	f.Add("", "", "xYQ")
	f.Add("", "", "..")
	f.Fuzz(func(t *testing.T, app, name, raw string) {
		splitNATSKey(raw)
		key := natsKey(app, name)
		a, n, err := splitNATSKey(key)
		if err != nil || a != app || n != name {
			t.Fatalf("splitNATSKey(natsKey(%q, %q)) = %q, %q, %v", app, name, a, n, err)
		}
	})
}
