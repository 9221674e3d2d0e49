package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// maxConnsNodes caps how many other relays' entries a relay keeps.
const maxConnsNodes = 64

// connShare makes MaxConnsPerIP and MaxConnsPerPrefix hold across the
// relays that share a NATS store. Each relay writes its own entry in the
// bucket PREFIX_conns (key: an id it draws at start) with its live
// connection counts, the ones the others need (selectShared), every
// heartbeat (a quarter of the bucket's TTL) and, debounced, soon after
// they change; each relay watches the bucket and admits a connection
// only if its own live count plus the sum of the other relays' latest
// entries stays within the limits. Its own entry, which comes back
// through the watcher, is skipped, so nothing counts twice. An entry
// expires a TTL after it was last written, in JetStream (the bucket's
// MaxAge) and in every relay's copy (a TTL after it arrived), so that a
// relay that died stops counting; one that closes deletes its entry.
//
// The counts are a moment old: another relay's change arrives after the
// debounce (at most 200 ms, NATSConfig.ConnsTTL/40 below 8 s) plus a
// NATS round trip, and a client that counts on one relay only, under the
// relevance threshold, is counted by the others a debounce after that
// (two hops). Within that window every relay decides on its own counts
// and what it last heard, so a client that opens connections on n relays
// at once may briefly get up to n times its quota, never more (each
// relay still holds it to the quota on its own); once the counts have
// arrived, new connections are refused until its total is back under
// the limit. Connections admitted in the window stay. A relay whose NATS
// is unreachable decides on what it heard last until those entries
// expire, then on its own counts alone.
type connShare struct {
	kv        jetstream.KeyValue
	id        string // this relay's key
	ttl       time.Duration
	beat      time.Duration
	debounce  time.Duration
	perAddr   int64
	perPrefix int64
	log       *slog.Logger
	now       func() time.Time // real time (not Config.now): entries expire in it
	// local calls f with the relay's own counts, under the relay's
	// connection lock (which is taken before c.mu, never after).
	local func(f func(own *tally))
	life  context.Context // the store's: requests end with it

	mu    sync.Mutex
	nodes map[string]*nodeConns // the other relays' latest entries
	sum   tally                 // their sum
	full  bool                  // a relay over maxConnsNodes was ignored (logged once)
	wrote int                   // entry bytes last written, for /metrics

	dirty chan struct{}
	stop  context.CancelFunc
	done  chan struct{}
}

// nodeConns is another relay's entry as it arrived.
type nodeConns struct {
	counts connCounts
	at     time.Time // when it arrived (this relay's clock)
	bad    bool      // it did not decode (logged once), and counts nothing
}

// connShareConfig is what startConnShare needs besides the bucket.
type connShareConfig struct {
	ttl                time.Duration   // the bucket's
	life               context.Context // the store's: requests end with it (abandonRequests)
	perAddr, perPrefix int64
	local              func(f func(own *tally))
	log                *slog.Logger
}

// startConnShare reads the bucket's entries (until ctx ends), then starts
// the watcher and the writer, which writes this relay's first entry.
func startConnShare(ctx context.Context, kv jetstream.KeyValue, cfg connShareConfig) (*connShare, error) {
	ttl := cfg.ttl
	c := &connShare{
		kv: kv, id: rand.Text(), ttl: ttl, beat: ttl / 4,
		debounce:  min(max(ttl/40, 10*time.Millisecond), 200*time.Millisecond),
		perAddr:   cfg.perAddr,
		perPrefix: cfg.perPrefix,
		log:       cfg.log, now: time.Now, local: cfg.local, life: cfg.life,
		nodes: map[string]*nodeConns{},
		sum:   newTally(),
		dirty: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	wctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	w, err := kv.WatchAll(wctx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("watch NATS connection counts: %w", err)
	}
	ready := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		c.watch(wctx, w, ready)
	}()
	select {
	case <-ready:
	case <-ctx.Done():
		stop()
		<-watched
		return nil, fmt.Errorf("load NATS connection counts: %w", ctx.Err())
	}
	// close waits for the writer, not for the watcher: stopping a
	// watcher deletes its consumer, a request that a cluster without its
	// quorum answers only at its timeout (as the store's own watchers).
	go func() {
		defer close(c.done)
		c.write(wctx)
	}()
	return c, nil
}

// watch follows the bucket until ctx ends; ready is closed once the
// entries that existed are read.
func (c *connShare) watch(ctx context.Context, w jetstream.KeyWatcher, ready chan struct{}) {
	followKV(ctx, w, ready, c.log, "connection counts", func(e jetstream.KeyValueEntry) {
		if e.Key() == c.id {
			return // this relay's own, counted live
		}
		if e.Operation() == jetstream.KeyValuePut {
			c.arrived(e.Key(), e.Value())
		} else {
			c.forget(e.Key())
		}
		c.changed() // what this relay must share may follow theirs
	})
}

// arrived takes in another relay's entry.
func (c *connShare) arrived(node string, val []byte) {
	counts, err := decodeConnCounts(val)
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.nodes[node]
	if !ok && len(c.nodes) >= maxConnsNodes {
		if !c.full {
			c.log.Warn("ignoring connection counts: too many relays", "node", node, "max", maxConnsNodes)
			c.full = true
		}
		return
	}
	bad := err != nil
	if bad {
		if !ok || !old.bad {
			c.log.Warn("ignoring another relay's connection counts", "node", node, "err", err)
		}
		counts = connCounts{} // it still counts as a relay
	}
	if ok {
		c.add(old.counts, -1)
	}
	c.nodes[node] = &nodeConns{counts: counts, at: c.now(), bad: bad}
	c.add(counts, 1)
}

// forget drops another relay's entry (deleted, or expired in JetStream).
func (c *connShare) forget(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(node)
}

func (c *connShare) forgetLocked(node string) {
	if old, ok := c.nodes[node]; ok {
		c.add(old.counts, -1)
		delete(c.nodes, node)
		c.full = false
	}
}

// add adds (sign 1) or takes out (-1) counts from the sum. c.mu is held.
func (c *connShare) add(counts connCounts, sign int64) {
	for k, n := range counts.addr {
		bump(c.sum.addr, k, sign*n)
	}
	for k, n := range counts.prefix {
		bump(c.sum.prefix, k, sign*n)
	}
}

// expireLocked drops the entries that arrived longer than a TTL ago.
// c.mu is held.
func (c *connShare) expireLocked() {
	now := c.now()
	for node, e := range c.nodes {
		if now.Sub(e.at) > c.ttl {
			c.log.Debug("another relay's connection counts expired", "node", node)
			c.forgetLocked(node)
			c.changed()
		}
	}
}

// others is what the other relays count for client who, by address and
// by network.
func (c *connShare) others(who clientKey) (byAddr, byPrefix int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	return c.sum.addr[who.addr], c.sum.prefix[who.prefix]
}

// changed asks the writer for a new entry, soon.
func (c *connShare) changed() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

// relaysLocked is how many relays share the bucket, this one included.
// c.mu is held.
func (c *connShare) relaysLocked() int { return 1 + len(c.nodes) }

// gauges returns the relays sharing the bucket and the size of this
// relay's entry as last written, for /metrics.
func (c *connShare) gauges() (relays, entryBytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	return c.relaysLocked(), c.wrote
}

// entry is this relay's entry as it should be now.
func (c *connShare) entry() []byte {
	var counts connCounts
	c.local(func(own *tally) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.expireLocked()
		n := c.relaysLocked()
		counts = connCounts{
			addr:   selectShared(own.addr, c.sum.addr, c.perAddr, n),
			prefix: selectShared(own.prefix, c.sum.prefix, c.perPrefix, n),
		}
	})
	b, dropped := encodeConnCounts(counts, maxConnsEntryBytes)
	if dropped > 0 {
		c.log.Warn("connection counts too many to share: the smallest left out", "left_out", dropped)
	}
	return b
}

// selectShared picks, from a relay's own counts (own, per address or per
// network), those the other relays need to hold limit, given what they
// share (others) and how many relays there are (relays, this one
// included). With t = (limit-1)/relays + 1 it shares a client's count
// when it is at least t, or when its count plus the others' shared
// counts of the client is. That is correct: a client whose counts are
// all under t on every relay has at most relays·(t-1) ≤ limit-1
// connections, under the limit, so nobody needs its counts; a client at
// the limit or over has t or more on some relay, which shares it, and
// then every other relay with a connection of its shares its count too
// (its own plus that one's is at least t), so that each sees the exact
// total. At 10,000 clients with the default limits (32 per address, 128
// per network) and three relays only clients with 11 connections from
// one address on one relay (43 from one network) are shared, instead of
// every address. A limit below zero (none) shares nothing.
func selectShared(own, others map[string]int64, limit int64, relays int) map[string]int64 {
	if limit < 0 {
		return nil
	}
	t := (limit-1)/int64(max(relays, 1)) + 1
	var out map[string]int64
	for k, n := range own {
		if n > 0 && (n >= t || n+others[k] >= t) {
			if out == nil {
				out = map[string]int64{}
			}
			out[k] = n
		}
	}
	return out
}

// write writes this relay's entry every heartbeat, and a debounce after
// a change (if the entry changed), until ctx ends; then it deletes it.
func (c *connShare) write(ctx context.Context) {
	beat := time.NewTicker(c.beat)
	defer beat.Stop()
	var last []byte
	put := func(force bool) {
		b := c.entry()
		if !force && bytes.Equal(b, last) {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, c.beat)
		defer cancel()
		if _, err := c.kv.Put(pctx, c.id, b); err != nil {
			if ctx.Err() == nil {
				c.log.Debug("write connection counts", "err", err)
			}
			last = nil
			return
		}
		last = b
		c.mu.Lock()
		c.wrote = len(b)
		c.mu.Unlock()
	}
	put(true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			put(true)
		case <-c.dirty:
			t := time.NewTimer(c.debounce)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			put(false)
		}
	}
}

// close stops writing (and watching) and deletes this relay's entry, so
// that the others stop counting its connections at once. When NATS is
// unreachable (or a cluster without its quorum does not answer within a
// second, or the relay abandoned the store's requests at shutdown) the
// entry expires instead: that is logged, not an error.
func (c *connShare) close() {
	c.stop()
	<-c.done
	ctx, cancel := context.WithTimeout(c.life, time.Second)
	defer cancel()
	if err := c.kv.Delete(ctx, c.id); err != nil {
		c.log.Warn("delete this relay's connection counts (they expire instead)", "err", err)
	}
}
