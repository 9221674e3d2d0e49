package relay

import "testing"

func TestClientKey(t *testing.T) {
	for in, want := range map[string]clientKey{
		"192.0.2.7:4000":              {"192.0.2.7", "192.0.2.0/24"},
		"[::ffff:192.0.2.7]:4000":     {"192.0.2.7", "192.0.2.0/24"},
		"127.1.2.3":                   {"127.1.2.3", "127.1.2.0/24"},
		"[2001:db8:1:2:3:4:5:6]:4000": {"2001:db8:1:2::/64", "2001:db8:1::/48"},
		"[2001:db8:1:2:ffff::1]:9":    {"2001:db8:1:2::/64", "2001:db8:1::/48"},
		"[2001:db8:1:ff00::1]:9":      {"2001:db8:1:ff00::/64", "2001:db8:1::/48"},
		"[fe80::1%eth0]:9":            {"fe80::/64", "fe80::/48"},
		"not an address":              {"not an address", "not an address"},
	} {
		if got := clientKeyOf(in); got != want {
			t.Errorf("clientKeyOf(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config{}.withDefaults()
	if cfg.MaxFrameBytes != 1<<20 || cfg.MaxConns <= 0 || cfg.MaxConnsPerIP <= 0 || cfg.MaxNameplates <= 0 ||
		cfg.MaxMailboxes <= 0 || cfg.MaxNameplatesPerIP <= 0 || cfg.MaxMessagesPerMailbox <= 0 ||
		cfg.PruneAge != defaultPruneAge || cfg.PruneInterval <= 0 || cfg.PingInterval <= 0 ||
		cfg.WriteTimeout <= 0 || cfg.now == nil {
		t.Errorf("zero Config did not get defaults: %+v", cfg)
	}
	if cfg.MaxSendQueueBytes < 2*cfg.MaxFrameBytes {
		t.Errorf("send queue (%d) cannot hold the replies to one frame (%d)", cfg.MaxSendQueueBytes, cfg.MaxFrameBytes)
	}
	if cfg.MaxConnsPerPrefix < cfg.MaxConnsPerIP || cfg.MaxNameplatesPerPrefix < cfg.MaxNameplatesPerIP ||
		cfg.MaxStoredBytesPerPrefix < cfg.MaxStoredBytesPerIP || cfg.MaxStoredBytes < 16*cfg.MaxStoredBytesPerPrefix {
		t.Errorf("per-prefix limits below per-address ones, or a few prefixes can take all: %+v", cfg)
	}
	if cfg.PruneUnpairedAge <= 0 || cfg.PruneUnpairedAge > cfg.PruneAge || cfg.PruneInterval > cfg.PruneUnpairedAge {
		t.Errorf("unpaired state pruned after %v (every %v), paired after %v", cfg.PruneUnpairedAge, cfg.PruneInterval, cfg.PruneAge)
	}
	// Per-prefix defaults rise with per-address settings above them.
	if got := (Config{MaxConnsPerIP: 500}).withDefaults().MaxConnsPerPrefix; got != 500 {
		t.Errorf("MaxConnsPerIP 500 left MaxConnsPerPrefix at %d", got)
	}
	if got := (Config{PingInterval: -1}).withDefaults().PingInterval; got >= 0 {
		t.Errorf("negative PingInterval became %v, want pings disabled", got)
	}
}

// TestMemoryBudget: the budgets are what the limits allow.
func TestMemoryBudget(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// 128 MiB stored, 128 MiB buffers, 30000 records of 2 KiB, 1024
	// connections of 32 KiB
	if got, want := s.MemoryBudget(), int64(256<<20+30000*2<<10+32<<20); got != want {
		t.Errorf("default mailbox budget %d, want %d", got, want)
	}
	s2, err := New(Config{MaxStoredBytes: 1 << 20, MaxBufferBytes: 2 << 20, MaxNameplates: 1, MaxMailboxes: 1, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, want := s2.MemoryBudget(), int64(3<<20+2*2<<10+32<<10); got != want {
		t.Errorf("mailbox budget %d, want %d", got, want)
	}
	if got, want := NewTransit(TransitConfig{}).MemoryBudget(), int64(1024*2*16<<10); got != want {
		t.Errorf("default transit budget %d, want %d", got, want)
	}
	if got, want := NewTransit(TransitConfig{MaxConns: 10, BufferBytes: 1000}).MemoryBudget(), int64(20000); got != want {
		t.Errorf("transit budget %d, want %d", got, want)
	}
}
