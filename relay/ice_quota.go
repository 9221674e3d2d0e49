package relay

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// iceQuota bounds live TURN allocations per client address (an IPv4
// address or an IPv6 /64), per client prefix (an IPv4 /24 or an IPv6 /48)
// and overall. pion asks allow (its QuotaHandler) before creating an
// allocation and reports created and deleted allocations through its
// EventHandler. The check and the count cannot race: pion handles the
// requests arriving on one listening socket one at a time, and allow and
// created run within the handling of the same Allocate request (the TURN
// server has a single UDP listener); deleted may run concurrently but only
// lowers counts.
type iceQuota struct {
	perIP     int // < 0: unlimited
	perPrefix int // < 0: unlimited
	total     int // < 0: unlimited
	log       *slog.Logger
	refused   *refusals // nil in tests that build one directly

	mu  sync.Mutex
	n   tally
	all int
}

func (q *iceQuota) allow(user, _ string, src net.Addr) bool {
	key := clientKeyOf(src.String())
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.total >= 0 && q.all >= q.total {
		q.log.Warn("TURN allocation refused: server full", "client", src.String(), "user", user, "allocations", q.all)
		q.refuse(turnRefusedFull)
		return false
	}
	if ok, which := q.n.fits(key, 1, int64(q.perIP), int64(q.perPrefix)); !ok {
		q.log.Info("TURN allocation refused: too many from this "+which, "client", src.String(), "user", user,
			"allocations", q.n.addr[key.addr], "network_allocations", q.n.prefix[key.prefix])
		q.refuse(turnRefusedPerClient)
		return false
	}
	return true
}

func (q *iceQuota) refuse(reason string) {
	if q.refused != nil {
		q.refused.add(reason)
	}
}

// live is the number of live allocations.
func (q *iceQuota) live() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.all
}

func (q *iceQuota) created(src net.Addr) {
	key := clientKeyOf(src.String())
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n.add(key, 1)
	q.all++
}

func (q *iceQuota) deleted(src net.Addr) {
	key := clientKeyOf(src.String())
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n.addr[key.addr] > 0 {
		q.all--
		q.n.add(key, -1)
	}
}

// used is the number of live allocations counted against src's address.
func (q *iceQuota) used(src string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.n.addr[clientKeyOf(src).addr])
}

// reapIdle closes, every quarter of idle, the relay sockets of r that
// relayed nothing for idle, until done is closed.
func reapIdle(r *iceRelays, idle time.Duration, log *slog.Logger, done <-chan struct{}) {
	t := time.NewTicker(max(idle/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if n := r.closeIdle(idle); n > 0 {
				log.Debug("TURN allocations closed: idle", "allocations", n, "idle", idle)
			}
		}
	}
}
