package transit

import (
	"fmt"
	"sync"
)

// wsQueue holds what a browser's WebSocket delivered that the reader has
// not taken yet. A browser cannot pause a WebSocket's receive: its
// message events come whether or not anyone reads, so the queue is
// bounded, and a relay that sends more than limit bytes ahead of the
// reader ends the connection instead of growing the page's memory.
type wsQueue struct {
	mu     sync.Mutex
	bufs   [][]byte
	queued int   // bytes in bufs
	limit  int   // most bytes bufs may hold
	err    error // why it ended (io.EOF: a normal close), once all is read
	ready  chan struct{}
}

func newWSQueue(limit int) *wsQueue {
	return &wsQueue{limit: limit, ready: make(chan struct{}, 1)}
}

// push queues b (which the queue keeps). Beyond the limit the queue ends
// with an error, drops what it holds and returns the error.
func (q *wsQueue) push(b []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	if q.queued+len(b) > q.limit {
		q.err = fmt.Errorf("the relay sent more than %d MiB that was not read yet (a browser cannot slow a WebSocket down)", q.limit>>20)
		q.bufs, q.queued = nil, 0
		q.wake()
		return q.err
	}
	q.bufs = append(q.bufs, b)
	q.queued += len(b)
	q.wake()
	return nil
}

// end ends the queue with err (io.EOF for a normal close) once what it
// holds is read; the first end counts.
func (q *wsQueue) end(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		q.err = err
	}
	q.wake()
}

// failure is why the queue ended, nil while it has not.
func (q *wsQueue) failure() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

func (q *wsQueue) wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Read takes queued bytes, waiting for some.
func (q *wsQueue) Read(p []byte) (int, error) {
	for {
		q.mu.Lock()
		if len(q.bufs) > 0 {
			n := copy(p, q.bufs[0])
			if n == len(q.bufs[0]) {
				q.bufs[0] = nil
				q.bufs = q.bufs[1:]
			} else {
				q.bufs[0] = q.bufs[0][n:]
			}
			q.queued -= n
			if len(q.bufs) > 0 || q.err != nil {
				q.wake()
			}
			q.mu.Unlock()
			return n, nil
		}
		err := q.err
		q.mu.Unlock()
		if err != nil {
			return 0, err
		}
		<-q.ready
	}
}
