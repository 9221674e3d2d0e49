package relay

import (
	"net"
	"net/netip"
	"time"
)

// Defaults for the zero values of Config's limits.
const (
	defaultMaxFrameBytes         = 1 << 20
	defaultMaxMessagesPerMailbox = 256
	defaultMaxMailboxBytes       = 2 << 20
	defaultMaxConns              = 1024
	defaultMaxConnsPerIP         = 64
	defaultMaxNameplates         = 10000
	defaultMaxMailboxes          = 20000
	defaultMaxNameplatesPerIP    = 100
	defaultWriteTimeout          = 10 * time.Second
	defaultPingInterval          = 60 * time.Second
	defaultPruneAge              = 2 * time.Hour
	defaultPruneInterval         = 10 * time.Minute
)

// withDefaults returns cfg with every zero (or negative) limit replaced by
// its default.
func (cfg Config) withDefaults() Config {
	orDefault(&cfg.MaxFrameBytes, defaultMaxFrameBytes)
	orDefault(&cfg.MaxMessagesPerMailbox, defaultMaxMessagesPerMailbox)
	orDefault(&cfg.MaxMailboxBytes, defaultMaxMailboxBytes)
	orDefault(&cfg.MaxConns, defaultMaxConns)
	orDefault(&cfg.MaxConnsPerIP, defaultMaxConnsPerIP)
	orDefault(&cfg.MaxNameplates, defaultMaxNameplates)
	orDefault(&cfg.MaxMailboxes, defaultMaxMailboxes)
	orDefault(&cfg.MaxNameplatesPerIP, defaultMaxNameplatesPerIP)
	// Opening a full mailbox queues all of it at once, so the queue must
	// hold at least that much plus the per-message JSON overhead.
	orDefault(&cfg.MaxSendQueueBytes, 2*cfg.MaxMailboxBytes+4*cfg.MaxFrameBytes)
	orDefault(&cfg.WriteTimeout, defaultWriteTimeout)
	if cfg.PingInterval == 0 {
		cfg.PingInterval = defaultPingInterval
	}
	orDefault(&cfg.PruneAge, defaultPruneAge)
	orDefault(&cfg.PruneInterval, defaultPruneInterval)
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return cfg
}

// orDefault replaces a zero or negative setting with its default.
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// addrKey is the "remote IP" that per-IP limits count against: the IPv4
// address, or the /64 prefix of an IPv6 address (one host usually owns a
// whole /64).
func addrKey(remoteAddr string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		if p, err := addr.WithZone("").Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}

// resourceKey names a nameplate ('n') or a mailbox ('m') for ownership.
type resourceKey struct {
	kind byte
	app  string
	name string
}

// ownership counts, per remote address, the live nameplates and mailboxes
// that connections from that address created, for MaxNameplatesPerIP.
// Ownership is not persisted: records loaded after a restart count
// against nobody.
type ownership struct {
	owner map[resourceKey]string
	count map[string]int
}

func newOwnership() ownership {
	return ownership{owner: map[resourceKey]string{}, count: map[string]int{}}
}

func (o *ownership) charge(k resourceKey, addr string) {
	if _, ok := o.owner[k]; ok {
		return
	}
	o.owner[k] = addr
	o.count[addr]++
}

func (o *ownership) release(k resourceKey) {
	addr, ok := o.owner[k]
	if !ok {
		return
	}
	delete(o.owner, k)
	if o.count[addr]--; o.count[addr] <= 0 {
		delete(o.count, addr)
	}
}

func (o *ownership) used(addr string) int { return o.count[addr] }
