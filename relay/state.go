package relay

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// listener receives the frames of a mailbox it opened. send must not block.
type listener interface {
	send(frame []byte)
}

// state is the nameplate and mailbox state machine shared by all
// connections, following the reference server (wormhole_mailbox_server
// server.py). Each method takes the lock, so one command is applied at a
// time and a mailbox's listeners see its messages in one order.
type state struct {
	mu        sync.Mutex
	store     store
	listeners map[recordKey]map[listener]struct{}
	// lastHeard is when the last listener of a mailbox left, for pruning.
	lastHeard map[recordKey]time.Time
	started   time.Time // loaded records count as seen now, for pruning
	owners    ownership
	stored    storedBytes
	cfg       *Config
	log       *slog.Logger
}

func newState(st store, cfg *Config, log *slog.Logger) (*state, error) {
	s := &state{
		store:     st,
		listeners: map[recordKey]map[listener]struct{}{},
		lastHeard: map[recordKey]time.Time{},
		started:   cfg.now(),
		owners:    newOwnership(),
		stored:    newStoredBytes(),
		cfg:       cfg,
		log:       log,
	}
	mbs, err := st.mailboxes()
	if err != nil {
		return nil, err
	}
	for _, mb := range mbs {
		s.stored.total += mb.storedCost()
	}
	s.stored.peak = s.stored.total
	return s, nil
}

// list returns the nameplates of app, sorted as strings like the
// reference server does.
func (s *state) list(app string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.store.nameplateNames(app)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// allocate claims the lowest free numeric nameplate of app for side.
func (s *state) allocate(app, side string, addr clientKey, now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.store.nameplateNames(app)
	if err != nil {
		return "", err
	}
	taken := make(map[string]bool, len(names))
	for _, n := range names {
		taken[n] = true
	}
	name := "1"
	for i := 2; taken[name]; i++ {
		name = strconv.Itoa(i)
	}
	if _, err := s.claimLocked(app, name, side, addr, now); err != nil {
		return "", err
	}
	return name, nil
}

// claim claims nameplate name of app for side, creating the nameplate and
// its mailbox if needed, and returns the mailbox id. Like the reference
// server, claiming also opens the mailbox for side (without listening).
// Unlike it, a third side is turned away ("crowded") without being
// recorded, so it cannot keep the nameplate or mailbox alive.
func (s *state) claim(app, name, side string, addr clientKey, now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claimLocked(app, name, side, addr, now)
}

func (s *state) claimLocked(app, name, side string, addr clientKey, now time.Time) (string, error) {
	np, npExists, err := s.store.nameplate(app, name)
	if err != nil {
		return "", err
	}
	var mb mailbox
	mbExists := false
	if npExists {
		claimed, seen := np.Sides[side]
		if seen && !claimed {
			return "", errReclaimed
		}
		if !seen && len(np.Sides) >= 2 {
			return "", errCrowded
		}
		if mb, mbExists, err = s.store.mailbox(app, np.Mailbox); err != nil {
			return "", err
		}
		if _, in := mb.Sides[side]; mbExists && !in && len(mb.Sides) >= 2 {
			return "", errCrowded
		}
	} else {
		if err := s.checkCreate(addr, true); err != nil {
			return "", err
		}
		id, err := s.newMailboxID(app)
		if err != nil {
			return "", err
		}
		np = nameplate{App: app, Name: name, Mailbox: id, Sides: map[string]bool{}}
	}
	if !mbExists {
		// Either a new nameplate, or its mailbox was closed by every
		// side while the nameplate stayed claimed: make a fresh one.
		if npExists {
			if err := s.checkCreate(addr, false); err != nil {
				return "", err
			}
		}
		mb = mailbox{App: app, ID: np.Mailbox, ForNameplate: !npExists, Sides: map[string]bool{}}
	}
	if _, in := mb.Sides[side]; !in {
		mb.Sides[side] = true
	}
	mb.Updated = now
	np.Sides[side] = true
	np.Updated = now
	if err := s.store.putMailbox(mb); err != nil {
		return "", err
	}
	if err := s.store.putNameplate(np); err != nil {
		return "", err
	}
	if !npExists {
		s.owners.charge(resourceKey{'n', app, name}, addr)
		s.log.Debug("nameplate created", "app", app, "nameplate", name, "mailbox", np.Mailbox)
	}
	return np.Mailbox, nil
}

// checkCreate checks the limits for creating a mailbox, and a nameplate
// too if withNameplate.
func (s *state) checkCreate(addr clientKey, withNameplate bool) error {
	nps, mbs := s.store.counts()
	switch {
	case withNameplate && nps >= s.cfg.MaxNameplates:
		return clientError("too many nameplates, try again later")
	case mbs >= s.cfg.MaxMailboxes:
		return clientError("too many mailboxes, try again later")
	}
	if ok, which := s.owners.count.fits(addr, 1, int64(s.cfg.MaxNameplatesPerIP), int64(s.cfg.MaxNameplatesPerPrefix)); !ok {
		return clientError("too many nameplates from your " + which)
	}
	return nil
}

// newMailboxID returns an unused random mailbox id: 13 base32 characters,
// as the reference server makes.
func (s *state) newMailboxID(app string) (string, error) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for range 8 {
		b := make([]byte, 8)
		rand.Read(b)
		id := strings.ToLower(enc.EncodeToString(b))
		_, exists, err := s.store.mailbox(app, id)
		if err != nil {
			return "", err
		}
		if !exists {
			return id, nil
		}
	}
	return "", errors.New("no unused mailbox id found")
}

// release ends side's claim on nameplate name; the nameplate is deleted
// once no side claims it. Releasing an unknown nameplate, or one side never
// claimed, does nothing.
func (s *state) release(app, name, side string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	np, ok, err := s.store.nameplate(app, name)
	if err != nil || !ok {
		return err
	}
	if _, seen := np.Sides[side]; !seen {
		return nil
	}
	np.Sides[side] = false
	if anyTrue(np.Sides) {
		return s.store.putNameplate(np)
	}
	if err := s.store.deleteNameplate(app, name); err != nil {
		return err
	}
	s.owners.release(resourceKey{'n', app, name})
	s.log.Debug("nameplate released", "app", app, "nameplate", name)
	return nil
}

// open opens mailbox id for side, creating it if needed, subscribes l to
// it, and sends l every message already in it.
func (s *state) open(app, id, side string, addr clientKey, l listener, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, exists, err := s.store.mailbox(app, id)
	if err != nil {
		return err
	}
	if exists {
		if _, in := mb.Sides[side]; !in && len(mb.Sides) >= 2 {
			return errCrowded
		}
	} else {
		if err := s.checkCreate(addr, false); err != nil {
			return err
		}
		mb = mailbox{App: app, ID: id, Sides: map[string]bool{}}
	}
	if _, in := mb.Sides[side]; !in {
		mb.Sides[side] = true
	}
	mb.Updated = now
	if err := s.store.putMailbox(mb); err != nil {
		return err
	}
	if !exists {
		s.owners.charge(resourceKey{'m', app, id}, addr)
	}
	msgs, err := s.store.messages(app, id)
	if err != nil {
		return err
	}
	frames := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		frame, err := encode(newMailboxMsg(m, now))
		if err != nil {
			return err
		}
		frames = append(frames, frame)
	}
	k := recordKey{app, id}
	if s.listeners[k] == nil {
		s.listeners[k] = map[listener]struct{}{}
	}
	s.listeners[k][l] = struct{}{}
	for _, frame := range frames {
		l.send(frame)
	}
	return nil
}

// add appends a message from side, at addr, to mailbox id and sends it to
// every connection listening to the mailbox, the sender included.
func (s *state) add(app, id string, m message, addr clientKey, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, ok, err := s.store.mailbox(app, id)
	if err != nil {
		return err
	}
	size := m.size()
	switch {
	case !ok:
		return clientError("mailbox is closed")
	case mb.Messages >= s.cfg.MaxMessagesPerMailbox, mb.Bytes+size > s.cfg.MaxMailboxBytes:
		return clientError("mailbox is full")
	}
	cost := size + storedMessageOverhead
	if err := s.stored.check(s.cfg, addr, cost); err != nil {
		return err
	}
	if err := s.store.appendMessage(app, id, m, now); err != nil {
		return err
	}
	s.stored.charge(recordKey{app, id}, addr, cost)
	frame, err := encode(newMailboxMsg(m, now))
	if err != nil {
		return err
	}
	for l := range s.listeners[recordKey{app, id}] {
		l.send(frame)
	}
	return nil
}

// close records that side is done with mailbox id and unsubscribes l
// (which may be nil). The mailbox and its messages are deleted once every
// side that opened it has closed it. Closing an unknown mailbox does
// nothing.
func (s *state) close(app, id, side, mood string, l listener, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, ok, err := s.store.mailbox(app, id)
	if err != nil {
		return err
	}
	if _, in := mb.Sides[side]; ok && !in && len(mb.Sides) >= 2 {
		return errCrowded
	}
	k := recordKey{app, id}
	if l != nil {
		s.unlistenLocked(k, l)
	}
	if !ok {
		return nil
	}
	mb.Sides[side] = false
	if anyTrue(mb.Sides) {
		mb.Updated = now
		return s.store.putMailbox(mb)
	}
	if err := s.deleteMailboxLocked(mb); err != nil {
		return err
	}
	s.log.Debug("mailbox closed", "app", app, "mailbox", id, "mood", mood)
	return nil
}

// deleteMailboxLocked deletes mb and its messages and forgets what was
// counted for it.
func (s *state) deleteMailboxLocked(mb mailbox) error {
	if err := s.store.deleteMailbox(mb.App, mb.ID); err != nil {
		return err
	}
	k := recordKey{mb.App, mb.ID}
	delete(s.listeners, k)
	delete(s.lastHeard, k)
	s.owners.release(resourceKey{'m', mb.App, mb.ID})
	s.stored.forget(k, mb.storedCost())
	return nil
}

// unlisten unsubscribes l from mailbox id, when its connection goes away.
func (s *state) unlisten(app, id string, l listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unlistenLocked(recordKey{app, id}, l)
}

func (s *state) unlistenLocked(k recordKey, l listener) {
	if _, ok := s.listeners[k][l]; !ok {
		return
	}
	delete(s.listeners[k], l)
	if len(s.listeners[k]) == 0 {
		delete(s.listeners, k)
		s.lastHeard[k] = s.cfg.now()
	}
}
