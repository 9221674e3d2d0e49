package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// kvIndex is one relay's copy of a KV bucket, kept up to date by a
// watcher, which answers lists and counts without asking JetStream. It
// may lag what other relays wrote by a moment; what this relay wrote is
// in it at once.
type kvIndex struct {
	mu   sync.Mutex
	vals map[string]indexEntry
	// gone holds the revision of records this relay deleted, until the
	// watcher's news catches up: older news of them is ignored.
	gone map[string]uint64
	// shares is what each record adds to the sums: its owner, counted
	// in owners, and what a mailbox holds (storedCost, and its Stored by
	// client), summed in heldTotal and heldBy.
	shares    map[string]recordShare
	owners    tally
	heldTotal int64
	heldBy    tally
}

// recordShare is one record's part of a kvIndex's sums.
type recordShare struct {
	owner  *clientKey
	cost   int64
	stored map[string]int64
}

type indexEntry struct {
	rev       uint64
	val       []byte
	app, name string // decoded from the key, once
	bad       error  // why the key does not decode
}

// watchIndex starts watching kv until wctx ends, and returns once the
// index holds every record that existed (or ctx ends).
func watchIndex(ctx, wctx context.Context, kv jetstream.KeyValue, log *slog.Logger) (*kvIndex, error) {
	x := &kvIndex{vals: map[string]indexEntry{}, gone: map[string]uint64{}, shares: map[string]recordShare{},
		owners: newTally(), heldBy: newTally()}
	w, err := kv.WatchAll(wctx)
	if err != nil {
		return nil, fmt.Errorf("watch NATS bucket %s: %w", kv.Bucket(), err)
	}
	ready := make(chan struct{})
	go followKV(wctx, w, ready, log, "bucket "+kv.Bucket(), func(e jetstream.KeyValueEntry) {
		if e.Operation() == jetstream.KeyValuePut {
			x.set(e.Key(), e.Revision(), e.Value())
		} else {
			x.removed(e.Key(), e.Revision())
		}
	})
	select {
	case <-ready:
		return x, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("load NATS bucket %s: %w", kv.Bucket(), ctx.Err())
	}
}

// set records a value, unless the index knows a newer one.
func (x *kvIndex) set(key string, rev uint64, val []byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if g, ok := x.gone[key]; ok {
		if rev <= g {
			return
		}
		delete(x.gone, key)
	}
	if cur, ok := x.vals[key]; ok && cur.rev >= rev {
		return
	}
	app, name, err := splitNATSKey(key)
	x.vals[key] = indexEntry{rev: rev, val: val, app: app, name: name, bad: err}
	x.disown(key)
	var rec struct {
		Owner    *recordOwner     `json:"owner"`
		Messages int              `json:"messages"`
		Bytes    int64            `json:"bytes"`
		Stored   map[string]int64 `json:"stored"`
	}
	if json.Unmarshal(val, &rec) != nil {
		return
	}
	sh := recordShare{cost: rec.Bytes + int64(rec.Messages)*storedMessageOverhead, stored: rec.Stored}
	if rec.Owner != nil {
		k := rec.Owner.key()
		sh.owner = &k
	}
	if sh.owner == nil && sh.cost == 0 && len(sh.stored) == 0 {
		return
	}
	x.shares[key] = sh
	x.count(sh, 1)
}

// count adds sh to the sums (sign 1) or takes it out (-1). x.mu is held.
func (x *kvIndex) count(sh recordShare, sign int64) {
	if sh.owner != nil {
		x.owners.add(*sh.owner, sign)
	}
	x.heldTotal += sign * sh.cost
	for k, n := range sh.stored {
		x.bumpHeld(k, sign*n)
	}
}

// bumpHeld adds n to the sum of the client named by k ("a:ADDRESS" or
// "n:NETWORK"). x.mu is held.
func (x *kvIndex) bumpHeld(k string, n int64) {
	switch {
	case strings.HasPrefix(k, "a:"):
		bump(x.heldBy.addr, k[2:], n)
	case strings.HasPrefix(k, "n:"):
		bump(x.heldBy.prefix, k[2:], n)
	}
}

// storedBy is what the mailboxes hold, and what who added to them.
func (x *kvIndex) storedBy(who clientKey) (total, perAddr, perNet int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.heldTotal, x.heldBy.addr[who.addr], x.heldBy.prefix[who.prefix]
}

// disown takes key's share out of the sums. x.mu is held.
func (x *kvIndex) disown(key string) {
	if sh, ok := x.shares[key]; ok {
		delete(x.shares, key)
		x.count(sh, -1)
	}
}

// ownedBy is how many records who owns, by address and by network.
func (x *kvIndex) ownedBy(who clientKey) (perAddr, perNet int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.owners.addr[who.addr], x.owners.prefix[who.prefix]
}

// remove records that this relay deleted the record at revision rev.
func (x *kvIndex) remove(key string, rev uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if cur, ok := x.vals[key]; ok && cur.rev > rev {
		return // rewritten since
	}
	delete(x.vals, key)
	x.disown(key)
	x.gone[key] = rev
}

// removed records a deletion the watcher reported (at revision rev).
func (x *kvIndex) removed(key string, rev uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if cur, ok := x.vals[key]; ok && cur.rev > rev {
		return
	}
	delete(x.vals, key)
	x.disown(key)
	delete(x.gone, key)
}

// names returns the names of app's records, decoded from their keys when
// they were indexed (allocating a nameplate lists them all), or the
// error of a key of app's that does not decode.
func (x *kvIndex) names(app string) ([]string, error) {
	prefix := natsKey(app, "")
	prefix = prefix[:len(prefix)-1] // "xAPP.": every key of app starts so
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for k, e := range x.vals {
		switch {
		case e.bad != nil && strings.HasPrefix(k, prefix):
			return nil, e.bad
		case e.bad == nil && e.app == app:
			out = append(out, e.name)
		}
	}
	return out, nil
}

// all calls f with every record.
func (x *kvIndex) all(f func(key string, val []byte) error) error {
	x.mu.Lock()
	entries := make(map[string][]byte, len(x.vals))
	for k, e := range x.vals {
		entries[k] = e.val
	}
	x.mu.Unlock()
	for k, v := range entries {
		if err := f(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (x *kvIndex) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.vals)
}
