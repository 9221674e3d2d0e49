package relay

import (
	"fmt"
	"slices"
	"time"
)

// recordKey names a nameplate or a mailbox within its app.
type recordKey struct{ app, name string }

// memStore is the in-memory store used when Config.DataDir is empty.
type memStore struct {
	nps  map[recordKey]nameplate
	mbs  map[recordKey]mailbox
	msgs map[recordKey][]message
}

func newMemStore() *memStore {
	return &memStore{
		nps:  map[recordKey]nameplate{},
		mbs:  map[recordKey]mailbox{},
		msgs: map[recordKey][]message{},
	}
}

func (m *memStore) nameplate(app, name string) (nameplate, bool, error) {
	np, ok := m.nps[recordKey{app, name}]
	np.Sides = cloneSides(np.Sides)
	return np, ok, nil
}

func (m *memStore) nameplateNames(app string) ([]string, error) {
	var names []string
	for k := range m.nps {
		if k.app == app {
			names = append(names, k.name)
		}
	}
	return names, nil
}

func (m *memStore) nameplates() ([]nameplate, error) {
	out := make([]nameplate, 0, len(m.nps))
	for _, np := range m.nps {
		np.Sides = cloneSides(np.Sides)
		out = append(out, np)
	}
	return out, nil
}

func (m *memStore) putNameplate(np nameplate) error {
	np.Sides = cloneSides(np.Sides)
	m.nps[recordKey{np.App, np.Name}] = np
	return nil
}

func (m *memStore) deleteNameplate(app, name string) error {
	delete(m.nps, recordKey{app, name})
	return nil
}

func (m *memStore) mailbox(app, id string) (mailbox, bool, error) {
	mb, ok := m.mbs[recordKey{app, id}]
	mb.Sides = cloneSides(mb.Sides)
	return mb, ok, nil
}

func (m *memStore) mailboxes() ([]mailbox, error) {
	out := make([]mailbox, 0, len(m.mbs))
	for _, mb := range m.mbs {
		mb.Sides = cloneSides(mb.Sides)
		out = append(out, mb)
	}
	return out, nil
}

func (m *memStore) putMailbox(mb mailbox) error {
	mb.Sides = cloneSides(mb.Sides)
	m.mbs[recordKey{mb.App, mb.ID}] = mb
	return nil
}

func (m *memStore) deleteMailbox(app, id string) error {
	k := recordKey{app, id}
	delete(m.mbs, k)
	delete(m.msgs, k)
	return nil
}

func (m *memStore) appendMessage(app, id string, msg message, when time.Time) error {
	k := recordKey{app, id}
	mb, ok := m.mbs[k]
	if !ok {
		return fmt.Errorf("append to mailbox %q: no such mailbox", id)
	}
	mb.Messages++
	mb.Bytes += msg.size()
	mb.Updated = when
	m.mbs[k] = mb
	msg.ID = slices.Clone(msg.ID)
	m.msgs[k] = append(m.msgs[k], msg)
	return nil
}

func (m *memStore) messages(app, id string) ([]message, error) {
	return slices.Clone(m.msgs[recordKey{app, id}]), nil
}

func (m *memStore) counts() (int, int) { return len(m.nps), len(m.mbs) }

func (m *memStore) close() error { return nil }
