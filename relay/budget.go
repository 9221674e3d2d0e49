package relay

import (
	"context"
	"errors"
	"sync"
)

var errBuffersFull = errors.New("dropped: the relay's connection buffers are full and this client holds the most")

// buffers is the relay's budget for connection buffers: the frames queued
// for clients and the frames being read from them, Config.MaxBufferBytes
// in all. When a client needs more than is left, the client holding the
// most is dropped and its queue freed: under a flood of clients that do
// not read (or that send huge frames slowly), those clients go, and
// clients that keep up, whose queues are nearly empty, stay. Every
// sendQueue shares the budget's lock.
type buffers struct {
	mu    sync.Mutex
	max   int64
	total int64
	peak  int64 // the most total ever was
	qpeak int64 // the most one queue ever held
	drops int   // clients dropped to make room
	qs    map[*sendQueue]struct{}
}

func newBuffers(max int64) *buffers {
	return &buffers{max: max, qs: map[*sendQueue]struct{}{}}
}

// reserve makes room for n more bytes for q, dropping the clients holding
// the most until they fit, and counts them; it reports false if q itself
// holds the most (or nothing else can go). Callers hold b.mu.
func (b *buffers) reserve(q *sendQueue, n int64) bool {
	for b.total+n > b.max {
		var victim *sendQueue
		for o := range b.qs {
			if !o.dead && (victim == nil || o.held() > victim.held()) {
				victim = o
			}
		}
		if victim == nil || victim == q || victim.held() <= q.held() {
			return false
		}
		b.dropLocked(victim, errBuffersFull)
		b.drops++
	}
	b.total += n
	b.peak = max(b.peak, b.total)
	return true
}

// dropLocked frees everything q holds and disconnects its client.
// Callers hold b.mu.
func (b *buffers) dropLocked(q *sendQueue, cause error) {
	if q.dead {
		return
	}
	q.dead = true
	b.total -= q.held()
	clear(q.frames)
	q.frames, q.bytes, q.reading, q.writing = nil, 0, 0, 0
	delete(b.qs, q)
	if q.onDrop != nil {
		q.onDrop(cause)
	}
}

// usage returns the bytes held now and the most ever held.
func (b *buffers) usage() (now, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total, b.peak
}

// sendQueue is one client's FIFO of outbound frames, bounded by their
// total size, together with what the client's frame being read holds.
type sendQueue struct {
	b       *buffers
	frames  [][]byte
	bytes   int64 // queued
	writing int64 // the frame being written
	reading int64 // held by the frame being read and handled
	max     int64 // bound on bytes + writing
	dead    bool  // dropped: holds nothing and takes nothing more
	onDrop  func(error)
	wake    chan struct{}
	// start, if set, starts a writer (which takes frames with next) when
	// a frame is pushed and none runs; running says one does, exited is
	// closed when it stops.
	start   func()
	running bool
	exited  chan struct{}
}

func (q *sendQueue) held() int64 { return q.bytes + q.writing + q.reading }

// init registers q with b; onDrop is called (under b's lock, so it must
// not block) when b drops the client to make room for another.
func (q *sendQueue) init(b *buffers, max int64, onDrop func(error)) {
	q.b, q.max, q.onDrop = b, max, onDrop
	q.wake = make(chan struct{}, 1)
	b.mu.Lock()
	b.qs[q] = struct{}{}
	b.mu.Unlock()
}

// setMax changes the bound on queued bytes by delta.
func (q *sendQueue) setMax(delta int64) {
	q.b.mu.Lock()
	q.max += delta
	q.b.mu.Unlock()
}

// push appends frame, or reports false if that would exceed q's bound or
// q holds the most of a budget that is spent.
func (q *sendQueue) push(frame []byte) bool {
	n := int64(len(frame))
	q.b.mu.Lock()
	if q.dead || q.bytes+q.writing+n > q.max || !q.b.reserve(q, n) {
		q.b.mu.Unlock()
		return false
	}
	q.frames = append(q.frames, frame)
	q.bytes += n
	q.b.qpeak = max(q.b.qpeak, q.bytes+q.writing)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	start := q.start != nil && !q.running
	if start {
		q.running, q.exited = true, make(chan struct{})
	}
	q.b.mu.Unlock()
	if start {
		q.start()
	}
	return true
}

// next is pop for the writer start started: it returns the oldest frame,
// or reports false, and marks the writer stopped, when there is none (or
// ctx is done, or q was dropped).
func (q *sendQueue) next(ctx context.Context) ([]byte, bool) {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	if q.dead || ctx.Err() != nil || len(q.frames) == 0 {
		q.running = false
		close(q.exited)
		return nil, false
	}
	f := q.frames[0]
	q.frames[0] = nil
	q.frames = q.frames[1:]
	n := int64(len(f))
	q.bytes -= n
	q.writing += n
	return f, true
}

// pop waits for the oldest frame, or reports false once ctx is done or q
// was dropped. The frame stays counted until wrote.
func (q *sendQueue) pop(ctx context.Context) ([]byte, bool) {
	for ctx.Err() == nil {
		q.b.mu.Lock()
		if q.dead {
			q.b.mu.Unlock()
			return nil, false
		}
		if len(q.frames) > 0 {
			f := q.frames[0]
			q.frames[0] = nil
			q.frames = q.frames[1:]
			n := int64(len(f))
			q.bytes -= n
			q.writing += n
			q.b.mu.Unlock()
			return f, true
		}
		q.b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, false
		case <-q.wake:
		}
	}
	return nil, false
}

// wrote uncounts the frame pop returned, once it is written.
func (q *sendQueue) wrote() {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	q.b.total -= q.writing
	q.writing = 0
}

// chargeRead counts n more bytes of the frame being read, or reports
// false if the budget has no room for them.
func (q *sendQueue) chargeRead(n int64) bool {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	if q.dead || !q.b.reserve(q, n) {
		return false
	}
	q.reading += n
	return true
}

// releaseRead uncounts the frame read, once it is handled.
func (q *sendQueue) releaseRead() {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	q.b.total -= q.reading
	q.reading = 0
}

// close frees q's frames and leaves the budget.
func (q *sendQueue) close() {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	q.onDrop = nil
	q.b.dropLocked(q, nil)
}

// closeAndWait is close, then waits for a writer that runs to stop.
func (q *sendQueue) closeAndWait() {
	q.close()
	q.b.mu.Lock()
	exited, running := q.exited, q.running
	q.b.mu.Unlock()
	if running {
		<-exited
	}
}

// storedMessageOverhead is what a stored message costs in memory besides
// its JSON size (its struct and allocations), for MaxStoredBytes and its
// per-client forms.
const storedMessageOverhead = 128

// storedCost is what mb's messages count against the stored-bytes budget.
func (mb mailbox) storedCost() int64 {
	return mb.Bytes + int64(mb.Messages)*storedMessageOverhead
}

// storedBytes accounts the bytes of stored messages, overall
// (Config.MaxStoredBytes) and per client that added them
// (MaxStoredBytesPerIP, MaxStoredBytesPerPrefix). Messages loaded after a
// restart count overall only. It is guarded by state.mu.
type storedBytes struct {
	total int64
	peak  int64
	by    tally
	mbox  map[recordKey]map[clientKey]int64 // who added how much to each mailbox
}

func newStoredBytes() storedBytes {
	return storedBytes{by: newTally(), mbox: map[recordKey]map[clientKey]int64{}}
}

// check says why who may not store n more bytes, or returns nil.
func (sb *storedBytes) check(cfg *Config, who clientKey, n int64) error {
	return checkStored(cfg, sb.total, sb.by.addr[who.addr], sb.by.prefix[who.prefix], n)
}

// checkStored says why a client that added byAddr and byPrefix bytes, to
// stores holding total, may not store n more, or returns nil.
func checkStored(cfg *Config, total, byAddr, byPrefix, n int64) error {
	if total+n > cfg.MaxStoredBytes {
		return clientError("relay is out of space for messages, try again later")
	}
	if ok, which := fits(byAddr, byPrefix, n, cfg.MaxStoredBytesPerIP, cfg.MaxStoredBytesPerPrefix); !ok {
		return clientError("too much stored from your " + which + ", try again later")
	}
	return nil
}

// charge counts n bytes that who added to mailbox k.
func (sb *storedBytes) charge(k recordKey, who clientKey, n int64) {
	sb.total += n
	sb.peak = max(sb.peak, sb.total)
	sb.by.add(who, n)
	if sb.mbox[k] == nil {
		sb.mbox[k] = map[clientKey]int64{}
	}
	sb.mbox[k][who] += n
}

// forget uncounts mailbox k, which held n bytes (storedCost), when it is
// deleted.
func (sb *storedBytes) forget(k recordKey, n int64) {
	sb.total -= n
	for who, m := range sb.mbox[k] {
		sb.by.add(who, -m)
	}
	delete(sb.mbox, k)
}
