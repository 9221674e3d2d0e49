package relay

import "sync"

// feed delivers the messages added to a local store's mailboxes to their
// listeners, in process: the memory and bbolt stores, which only one relay
// uses, share it.
type feed struct {
	mu   sync.Mutex
	subs map[recordKey]map[*feedSub]struct{}
}

type feedSub struct{ deliver func(message) }

func newFeed() *feed { return &feed{subs: map[recordKey]map[*feedSub]struct{}{}} }

// listen delivers held (what the mailbox holds now) and then every
// message publish gets for k. The caller holds its store's lock, so that
// no message is added between reading held and subscribing.
func (f *feed) listen(k recordKey, held []message, deliver func(message)) func() {
	sub := &feedSub{deliver: deliver}
	f.mu.Lock()
	if f.subs[k] == nil {
		f.subs[k] = map[*feedSub]struct{}{}
	}
	f.subs[k][sub] = struct{}{}
	f.mu.Unlock()
	for _, m := range held {
		deliver(m)
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs[k], sub)
		if len(f.subs[k]) == 0 {
			delete(f.subs, k)
		}
	}
}

// publish delivers m to k's listeners. The caller holds its store's lock,
// so that every listener sees one order.
func (f *feed) publish(k recordKey, m message) {
	f.mu.Lock()
	subs := make([]*feedSub, 0, len(f.subs[k]))
	for s := range f.subs[k] {
		subs = append(subs, s)
	}
	f.mu.Unlock()
	for _, s := range subs {
		s.deliver(m)
	}
}
