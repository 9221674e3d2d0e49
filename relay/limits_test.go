package relay

import "testing"

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:4000":              "192.0.2.7",
		"[::ffff:192.0.2.7]:4000":     "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:4000": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:9":    "2001:db8:1:2::/64",
		"[fe80::1%eth0]:9":            "fe80::/64",
		"not an address":              "not an address",
	} {
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
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
	if cfg.MaxSendQueueBytes <= cfg.MaxMailboxBytes {
		t.Errorf("send queue (%d) cannot hold a full mailbox (%d)", cfg.MaxSendQueueBytes, cfg.MaxMailboxBytes)
	}
	if got := (Config{PingInterval: -1}).withDefaults().PingInterval; got >= 0 {
		t.Errorf("negative PingInterval became %v, want pings disabled", got)
	}
}
