package main

import (
	"flag"

	"github.com/ferrydrop/ferry/relay"
)

// relayLimitFlags are ferry relay's flags for the limits an operator of a
// big node raises (or a small one lowers): each is named after its
// relay.Config field, and 0 keeps the relay's default.
type relayLimitFlags struct {
	conns, connsPerIP, connsPerPrefix *int
	nameplates, mailboxes             *int
	nameplatesPerIP, nameplatesPerNet *int
}

func limitFlags(fs *flag.FlagSet) relayLimitFlags {
	return relayLimitFlags{
		conns:            fs.Int("max-conns", 0, "serve at most `N` mailbox clients at once (default 1024)"),
		connsPerIP:       fs.Int("max-conns-per-ip", 0, "at most `N` mailbox clients from one IPv4 address or IPv6 /64 (default 32)"),
		connsPerPrefix:   fs.Int("max-conns-per-prefix", 0, "at most `N` mailbox clients from one IPv4 /24 or IPv6 /48 (default 128)"),
		nameplates:       fs.Int("max-nameplates", 0, "at most `N` nameplates at once (default 10000)"),
		mailboxes:        fs.Int("max-mailboxes", 0, "at most `N` mailboxes at once (default 20000)"),
		nameplatesPerIP:  fs.Int("max-nameplates-per-ip", 0, "at most `N` nameplates created from one address (default 32)"),
		nameplatesPerNet: fs.Int("max-nameplates-per-prefix", 0, "at most `N` nameplates created from one prefix (default 128)"),
	}
}

// check returns the flag that is negative, or "".
func (f relayLimitFlags) check() string {
	for _, l := range []struct {
		name string
		v    int
	}{
		{"--max-conns", *f.conns}, {"--max-conns-per-ip", *f.connsPerIP}, {"--max-conns-per-prefix", *f.connsPerPrefix},
		{"--max-nameplates", *f.nameplates}, {"--max-mailboxes", *f.mailboxes},
		{"--max-nameplates-per-ip", *f.nameplatesPerIP}, {"--max-nameplates-per-prefix", *f.nameplatesPerNet},
	} {
		if l.v < 0 {
			return l.name
		}
	}
	return ""
}

// apply sets the limits given in cfg.
func (f relayLimitFlags) apply(cfg *relay.Config) {
	cfg.MaxConns, cfg.MaxConnsPerIP, cfg.MaxConnsPerPrefix = *f.conns, *f.connsPerIP, *f.connsPerPrefix
	cfg.MaxNameplates, cfg.MaxMailboxes = *f.nameplates, *f.mailboxes
	cfg.MaxNameplatesPerIP, cfg.MaxNameplatesPerPrefix = *f.nameplatesPerIP, *f.nameplatesPerNet
}
