package relay

import (
	"net"
	"net/netip"
	"time"
)

// Defaults for the zero values of Config's limits.
const (
	defaultMaxFrameBytes           = 1 << 20
	defaultMaxMessagesPerMailbox   = 256
	defaultMaxMailboxBytes         = 2 << 20
	defaultMaxConns                = 1024
	defaultMaxConnsPerIP           = 32
	defaultMaxConnsPerPrefix       = 128
	defaultMaxNameplates           = 10000
	defaultMaxMailboxes            = 20000
	defaultMaxNameplatesPerIP      = 32
	defaultMaxNameplatesPerPrefix  = 128
	defaultMaxStoredBytes          = 128 << 20
	defaultMaxStoredBytesPerIP     = 4 << 20
	defaultMaxStoredBytesPerPrefix = 8 << 20
	defaultMaxBufferBytes          = 128 << 20
	defaultWriteTimeout            = 10 * time.Second
	defaultPingInterval            = 60 * time.Second
	defaultPruneAge                = 2 * time.Hour
	defaultPruneUnpairedAge        = 10 * time.Minute
	defaultPruneInterval           = time.Minute
)

// frameOverhead bounds what the frame that delivers a stored message adds
// to its size (message.size): the "type" and "server_tx" keys and a null
// "id".
const frameOverhead = 96

// withDefaults returns cfg with every zero (or negative) limit replaced by
// its default.
func (cfg Config) withDefaults() Config {
	orDefault(&cfg.MaxFrameBytes, defaultMaxFrameBytes)
	orDefault(&cfg.MaxMessagesPerMailbox, defaultMaxMessagesPerMailbox)
	orDefault(&cfg.MaxMailboxBytes, defaultMaxMailboxBytes)
	orDefault(&cfg.MaxConns, defaultMaxConns)
	orDefault(&cfg.MaxConnsPerIP, defaultMaxConnsPerIP)
	orDefault(&cfg.MaxConnsPerPrefix, max(defaultMaxConnsPerPrefix, cfg.MaxConnsPerIP))
	orDefault(&cfg.MaxNameplates, defaultMaxNameplates)
	orDefault(&cfg.MaxMailboxes, defaultMaxMailboxes)
	orDefault(&cfg.MaxNameplatesPerIP, defaultMaxNameplatesPerIP)
	orDefault(&cfg.MaxNameplatesPerPrefix, max(defaultMaxNameplatesPerPrefix, cfg.MaxNameplatesPerIP))
	orDefault(&cfg.MaxStoredBytes, defaultMaxStoredBytes)
	orDefault(&cfg.MaxStoredBytesPerIP, defaultMaxStoredBytesPerIP)
	orDefault(&cfg.MaxStoredBytesPerPrefix, max(defaultMaxStoredBytesPerPrefix, cfg.MaxStoredBytesPerIP))
	orDefault(&cfg.MaxBufferBytes, defaultMaxBufferBytes)
	// One command's replies: an ack echoing its id and an error echoing
	// the whole frame.
	orDefault(&cfg.MaxSendQueueBytes, 2*cfg.MaxFrameBytes+64<<10)
	orDefault(&cfg.WriteTimeout, defaultWriteTimeout)
	if cfg.PingInterval == 0 {
		cfg.PingInterval = defaultPingInterval
	}
	orDefault(&cfg.PruneAge, defaultPruneAge)
	orDefault(&cfg.PruneUnpairedAge, min(defaultPruneUnpairedAge, cfg.PruneAge))
	orDefault(&cfg.PruneInterval, defaultPruneInterval)
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return cfg
}

// mailboxQueueBytes is what delivering every message of a full mailbox
// may queue for one connection.
func (cfg *Config) mailboxQueueBytes() int64 {
	return cfg.MaxMailboxBytes + int64(cfg.MaxMessagesPerMailbox)*frameOverhead
}

// orDefault replaces a zero or negative setting with its default.
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// clientKey is whom per-client limits count against: addr is the remote
// IPv4 address or the /64 of an IPv6 address (one host usually owns a
// whole /64), prefix the IPv4 /24 or the IPv6 /48 around it (one site or
// customer usually owns those), so that a block of addresses cannot
// multiply a per-address limit. Strings that are no IP address count as
// both.
type clientKey struct{ addr, prefix string }

// clientKeyOf returns the clientKey of a remote "host:port" or "host".
func clientKeyOf(remoteAddr string) clientKey {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return clientKey{host, host}
	}
	a = a.Unmap().WithZone("")
	bits, prefixBits := 32, 24
	if a.Is6() {
		bits, prefixBits = 64, 48
	}
	k := clientKey{addr: a.String()}
	if a.Is6() {
		k.addr = netip.PrefixFrom(a, bits).Masked().String()
	}
	k.prefix = netip.PrefixFrom(a, prefixBits).Masked().String()
	return k
}

// addrKey is the per-address half of clientKeyOf.
func addrKey(remoteAddr string) string { return clientKeyOf(remoteAddr).addr }

// tally counts something (connections, nameplates, bytes) per client
// address and per prefix.
type tally struct {
	addr, prefix map[string]int64
}

func newTally() tally {
	return tally{addr: map[string]int64{}, prefix: map[string]int64{}}
}

// add adds n (which may be negative) to k's counts.
func (t *tally) add(k clientKey, n int64) {
	bump(t.addr, k.addr, n)
	bump(t.prefix, k.prefix, n)
}

func bump(m map[string]int64, key string, n int64) {
	if m[key] += n; m[key] <= 0 {
		delete(m, key)
	}
}

// fits reports whether k may add n more without exceeding perAddr or
// perPrefix; a negative limit means none. It returns which limit would be
// exceeded ("address" or "network"), or "".
func (t *tally) fits(k clientKey, n, perAddr, perPrefix int64) (ok bool, which string) {
	return fits(t.addr[k.addr], t.prefix[k.prefix], n, perAddr, perPrefix)
}

// fits is tally.fits for a client whose counts are byAddr and byPrefix.
func fits(byAddr, byPrefix, n, perAddr, perPrefix int64) (ok bool, which string) {
	switch {
	case perAddr >= 0 && byAddr+n > perAddr:
		return false, "address"
	case perPrefix >= 0 && byPrefix+n > perPrefix:
		return false, "network"
	}
	return true, ""
}

// resourceKey names a nameplate ('n') or a mailbox ('m') for ownership.
type resourceKey struct {
	kind byte
	app  string
	name string
}

// ownership counts, per client address and prefix, the live nameplates
// and mailboxes that connections from there created, for
// MaxNameplatesPerIP and MaxNameplatesPerPrefix. Ownership is not
// persisted: records loaded after a restart count against nobody.
type ownership struct {
	owner map[resourceKey]clientKey
	count tally
}

func newOwnership() ownership {
	return ownership{owner: map[resourceKey]clientKey{}, count: newTally()}
}

func (o *ownership) charge(k resourceKey, who clientKey) {
	if _, ok := o.owner[k]; ok {
		return
	}
	o.owner[k] = who
	o.count.add(who, 1)
}

func (o *ownership) release(k resourceKey) {
	who, ok := o.owner[k]
	if !ok {
		return
	}
	delete(o.owner, k)
	o.count.add(who, -1)
}

// Memory the server's limits do not count in bytes, estimated for
// MemoryBudget: a nameplate's or mailbox's record (ids, sides, times; the
// names are capped at 1 KiB) and a connection's (its goroutines' stacks,
// the websocket's read and write buffers, its tallies).
//
// connMemory is measured: scripts/relay-load with --clients 3000 and with
// --clients 500 (one node, --transfers 1; the figures are the differences
// over those 2,500 idle clients, each bound, with a claimed nameplate or
// an open mailbox, pinging), per client, in two runs each:
//
//	                       memory store   embedded JetStream
//	heap live after a GC   17-20 KiB      21-24 KiB
//	goroutine stacks        8-9 KiB        8 KiB
//	peak RSS               40-41 KiB      42-44 KiB
//
// The live heap and the stacks, 25-28 and 29-32 KiB, hold the connection
// and its client's share of the records and messages (one record a
// client); the rest of the RSS is garbage the collector lets pile up
// (GOGC 50), which is what a soft memory limit at the budget trims. At 10,000 clients
// (memory store, --clients 10000) the heap live after a GC was 171 MiB and
// the stacks 79 MiB, 26 KiB a client, under a peak RSS of 424 MiB. 32 KiB
// a connection then, with the records at recordMemory beside it: for
// relay-load's limits (10,100 connections, nameplates and mailboxes) a
// soft limit of 675 MiB where 64 KiB made it 990 MiB.
const (
	recordMemory = 2 << 10
	connMemory   = 32 << 10
)

// MemoryBudget is about the most memory the server's state holds at its
// limits: the stored messages (MaxStoredBytes), the connections' buffers
// (MaxBufferBytes), MaxNameplates and MaxMailboxes records and MaxConns
// connections; with the defaults some 347 MiB. A Go process may grow to
// twice what it holds before its garbage collector runs, unless it runs
// with a soft memory limit (runtime/debug.SetMemoryLimit) near the
// budget; ferry relay sets one from the budgets of what it serves.
func (s *Server) MemoryBudget() int64 {
	c := &s.cfg
	return c.MaxStoredBytes + c.MaxBufferBytes +
		int64(c.MaxNameplates+c.MaxMailboxes)*recordMemory + int64(c.MaxConns)*connMemory
}
