package relay

import (
	"slices"
	"sync"
	"time"
)

// recordKey names a nameplate or a mailbox within its app.
type recordKey struct{ app, name string }

// memStore is the in-memory store used when Config.DataDir is empty.
type memStore struct {
	mu   sync.Mutex
	nps  map[recordKey]nameplate
	mbs  map[recordKey]mailbox
	msgs map[recordKey][]message
	feed *feed
}

func newMemStore() *memStore {
	return &memStore{
		nps:  map[recordKey]nameplate{},
		mbs:  map[recordKey]mailbox{},
		msgs: map[recordKey][]message{},
		feed: newFeed(),
	}
}

func (m *memStore) nameplate(app, name string) (nameplate, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	np, ok := m.nps[recordKey{app, name}]
	np.Sides = cloneSides(np.Sides)
	return np, ok, nil
}

func (m *memStore) nameplateNames(app string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for k := range m.nps {
		if k.app == app {
			names = append(names, k.name)
		}
	}
	return names, nil
}

func (m *memStore) nameplates() ([]nameplate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]nameplate, 0, len(m.nps))
	for _, np := range m.nps {
		np.Sides = cloneSides(np.Sides)
		out = append(out, np)
	}
	return out, nil
}

func (m *memStore) putNameplate(np nameplate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	np.Sides = cloneSides(np.Sides)
	m.nps[recordKey{np.App, np.Name}] = np
	return nil
}

func (m *memStore) createNameplate(np nameplate) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := recordKey{np.App, np.Name}
	if _, ok := m.nps[k]; ok {
		return false, nil
	}
	np.Sides = cloneSides(np.Sides)
	m.nps[k] = np
	return true, nil
}

func (m *memStore) updateNameplate(app, name string, fn func(*nameplate, bool) (change, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := recordKey{app, name}
	np, ok := m.nps[k]
	np.App, np.Name, np.Sides = app, name, cloneSides(np.Sides)
	ch, err := fn(&np, ok)
	if err != nil {
		return err
	}
	switch ch {
	case put:
		np.Sides = cloneSides(np.Sides)
		m.nps[k] = np
	case drop:
		delete(m.nps, k)
	}
	return nil
}

func (m *memStore) deleteNameplate(app, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.nps, recordKey{app, name})
	return nil
}

func (m *memStore) mailbox(app, id string) (mailbox, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.mbs[recordKey{app, id}]
	mb.Sides = cloneSides(mb.Sides)
	return mb, ok, nil
}

func (m *memStore) mailboxes() ([]mailbox, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]mailbox, 0, len(m.mbs))
	for _, mb := range m.mbs {
		mb.Sides = cloneSides(mb.Sides)
		out = append(out, mb)
	}
	return out, nil
}

func (m *memStore) putMailbox(mb mailbox) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb.Sides = cloneSides(mb.Sides)
	m.mbs[recordKey{mb.App, mb.ID}] = mb
	return nil
}

func (m *memStore) updateMailbox(app, id string, fn func(*mailbox, bool) (change, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := recordKey{app, id}
	mb, ok := m.mbs[k]
	mb.App, mb.ID, mb.Sides = app, id, cloneSides(mb.Sides)
	ch, err := fn(&mb, ok)
	if err != nil {
		return err
	}
	switch ch {
	case put:
		mb.Sides = cloneSides(mb.Sides)
		m.mbs[k] = mb
	case drop:
		delete(m.mbs, k)
		delete(m.msgs, k)
	}
	return nil
}

func (m *memStore) deleteMailbox(app, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := recordKey{app, id}
	delete(m.mbs, k)
	delete(m.msgs, k)
	return nil
}

func (m *memStore) appendMessage(app, id string, msg message, when time.Time, check func(mailbox) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := recordKey{app, id}
	mb, ok := m.mbs[k]
	if !ok {
		return errNoMailbox
	}
	if check != nil {
		if err := check(mb); err != nil {
			return err
		}
	}
	mb.count(msg)
	mb.Updated = when
	m.mbs[k] = mb
	msg.ID = slices.Clone(msg.ID)
	m.msgs[k] = append(m.msgs[k], msg)
	m.feed.publish(k, msg)
	return nil
}

func (m *memStore) messages(app, id string) ([]message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs[recordKey{app, id}]), nil
}

func (m *memStore) listen(app, id string, deliver func(message)) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := recordKey{app, id}
	return m.feed.listen(k, slices.Clone(m.msgs[k]), deliver), nil
}

func (m *memStore) counts() (int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.nps), len(m.mbs)
}

func (m *memStore) shared() bool { return false }

func (m *memStore) owned(clientKey) (int64, int64, bool) { return 0, 0, false }

func (m *memStore) stored(clientKey) (int64, int64, int64, bool) { return 0, 0, 0, false }

func (m *memStore) close() error { return nil }
