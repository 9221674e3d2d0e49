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
// server.py). Each method takes the lock, so this relay applies one
// command at a time; the store makes each record's changes atomic (also
// against other relays sharing it) and delivers a mailbox's messages to
// its listeners in one order. The maps here (listeners, what each client
// address created and stored) are this relay's own.
type state struct {
	mu        sync.Mutex
	store     store
	listeners map[recordKey]map[listener]func() // what stops each one's delivery
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
		listeners: map[recordKey]map[listener]func(){},
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
// Where other relays share the store, the number this relay believes free
// may just have been taken: creating it then fails, and it tries the next.
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
	for i := 1; ; i++ {
		name := strconv.Itoa(i)
		if taken[name] {
			continue
		}
		if _, created, err := s.createClaimLocked(app, name, side, addr, now); err != nil || created {
			return name, err
		}
	}
}

// maxAttempts bounds how often an operation that lost a race with
// another relay (the record it read changed before it wrote) starts over.
const maxAttempts = 64

// errBusy is what a client gets when its command kept losing races.
var errBusy = clientError("the relay is busy, try again")

// errRetry makes an update function give up so that its operation starts over.
var errRetry = errors.New("record changed, start over")

// claim claims nameplate name of app for side, creating the nameplate and
// its mailbox if needed, and returns the mailbox id. Like the reference
// server, claiming also opens the mailbox for side (without listening).
// Unlike it, a third side is turned away ("crowded") without being
// recorded, so it cannot keep the nameplate or mailbox alive.
func (s *state) claim(app, name, side string, addr clientKey, now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range maxAttempts {
		id, err := s.claimExistingLocked(app, name, side, addr, now)
		if err != errRetry {
			return id, err
		}
		// No such nameplate (any more).
		id, created, err := s.createClaimLocked(app, name, side, addr, now)
		if err != nil || created {
			return id, err
		}
	}
	return "", errBusy
}

// createClaimLocked creates nameplate name of app, claimed by side, with a
// new mailbox; created is false if the nameplate exists already.
func (s *state) createClaimLocked(app, name, side string, addr clientKey, now time.Time) (id string, created bool, err error) {
	if err := s.checkCreate(addr, true); err != nil {
		return "", false, err
	}
	if id, err = s.newMailboxID(app); err != nil {
		return "", false, err
	}
	np := nameplate{App: app, Name: name, Mailbox: id, Sides: map[string]bool{side: true}, Updated: now, Owner: ownerOf(addr)}
	if created, err = s.store.createNameplate(np); err != nil || !created {
		return "", false, err
	}
	err = s.store.updateMailbox(app, id, func(mb *mailbox, exists bool) (change, error) {
		if !exists {
			*mb = mailbox{App: app, ID: id, ForNameplate: true, Sides: map[string]bool{}}
		}
		mb.Sides[side] = true
		mb.Updated = now
		return put, nil
	})
	if err != nil {
		return "", false, err
	}
	s.owners.charge(resourceKey{'n', app, name}, addr)
	s.log.Debug("nameplate created", "app", app, "nameplate", name, "mailbox", id)
	return id, true, nil
}

// claimExistingLocked claims an existing nameplate; it returns errRetry
// if there is none.
func (s *state) claimExistingLocked(app, name, side string, addr clientKey, now time.Time) (string, error) {
	np, ok, err := s.store.nameplate(app, name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errRetry
	}
	// Turn a third side away before it is recorded anywhere.
	if claimed, seen := np.Sides[side]; seen && !claimed {
		return "", errReclaimed
	} else if !seen && len(np.Sides) >= 2 {
		return "", errCrowded
	}
	mb, mbExists, err := s.store.mailbox(app, np.Mailbox)
	if err != nil {
		return "", err
	}
	if _, in := mb.Sides[side]; mbExists && !in && len(mb.Sides) >= 2 {
		return "", errCrowded
	}
	// Checked here, since an update function must not call the store.
	createErr := s.checkCreate(addr, false)
	var id string
	err = s.store.updateNameplate(app, name, func(np *nameplate, exists bool) (change, error) {
		if !exists {
			return keep, errRetry
		}
		claimed, seen := np.Sides[side]
		switch {
		case seen && !claimed:
			return keep, errReclaimed
		case !seen && len(np.Sides) >= 2:
			return keep, errCrowded
		}
		np.Sides[side] = true
		np.Updated = now
		id = np.Mailbox
		return put, nil
	})
	if err != nil {
		return "", err
	}
	err = s.store.updateMailbox(app, id, func(mb *mailbox, exists bool) (change, error) {
		if !exists {
			// Its mailbox was closed by every side while the
			// nameplate stayed claimed: make a fresh one.
			if createErr != nil {
				return keep, createErr
			}
			*mb = mailbox{App: app, ID: id, Sides: map[string]bool{}}
		}
		if _, in := mb.Sides[side]; !in {
			if len(mb.Sides) >= 2 {
				return keep, errCrowded
			}
			mb.Sides[side] = true
		}
		mb.Updated = now
		return put, nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
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
	perAddr, perNet, ok := s.store.owned(addr)
	if !ok { // relays sharing the store count what the client created on any of them; else this one
		perAddr, perNet = s.owners.count.addr[addr.addr], s.owners.count.prefix[addr.prefix]
	}
	if ok, which := fits(perAddr, perNet, 1, int64(s.cfg.MaxNameplatesPerIP), int64(s.cfg.MaxNameplatesPerPrefix)); !ok {
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
	deleted := false
	err := s.store.updateNameplate(app, name, func(np *nameplate, exists bool) (change, error) {
		deleted = false
		if !exists {
			return keep, nil
		}
		if _, seen := np.Sides[side]; !seen {
			return keep, nil
		}
		np.Sides[side] = false
		if anyTrue(np.Sides) {
			return put, nil
		}
		deleted = true
		return drop, nil
	})
	if err != nil || !deleted {
		return err
	}
	s.owners.release(resourceKey{'n', app, name})
	s.log.Debug("nameplate released", "app", app, "nameplate", name)
	return nil
}

// open opens mailbox id for side, creating it if needed, subscribes l to
// it, and sends l every message already in it, then every one added.
func (s *state) open(app, id, side string, addr clientKey, l listener, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Checked here, since an update function must not call the store.
	createErr := s.checkCreate(addr, false)
	created := false
	err := s.store.updateMailbox(app, id, func(mb *mailbox, exists bool) (change, error) {
		created = !exists
		if exists {
			if _, in := mb.Sides[side]; !in && len(mb.Sides) >= 2 {
				return keep, errCrowded
			}
		} else {
			if createErr != nil {
				return keep, createErr
			}
			*mb = mailbox{App: app, ID: id, Sides: map[string]bool{}, Owner: ownerOf(addr)}
		}
		if _, in := mb.Sides[side]; !in {
			mb.Sides[side] = true
		}
		mb.Updated = now
		return put, nil
	})
	if err != nil {
		return err
	}
	if created {
		s.owners.charge(resourceKey{'m', app, id}, addr)
	}
	k := recordKey{app, id}
	if stop, ok := s.listeners[k][l]; ok {
		stop()
	}
	stop, err := s.store.listen(app, id, func(m message) {
		frame, err := encode(newMailboxMsg(m, s.cfg.now()))
		if err != nil {
			s.log.Error("encode message", "err", err)
			return
		}
		l.send(frame)
	})
	if err != nil {
		return err
	}
	if s.listeners[k] == nil {
		s.listeners[k] = map[listener]func(){}
	}
	s.listeners[k][l] = stop
	return nil
}

// add appends a message from side, at addr, to mailbox id; the store
// sends it to every connection listening to the mailbox, the sender
// included, on every relay sharing the store.
func (s *state) add(app, id string, m message, addr clientKey, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	size := m.size()
	cost := size + storedMessageOverhead
	if err := s.checkStored(addr, cost); err != nil {
		return err
	}
	m.adder = ownerOf(addr)
	err := s.store.appendMessage(app, id, m, now, func(mb mailbox) error {
		if mb.Messages >= s.cfg.MaxMessagesPerMailbox || mb.Bytes+size > s.cfg.MaxMailboxBytes {
			return clientError("mailbox is full")
		}
		return nil
	})
	if errors.Is(err, errNoMailbox) {
		return clientError("mailbox is closed")
	}
	if err != nil {
		return err
	}
	s.stored.charge(recordKey{app, id}, addr, cost)
	return nil
}

// checkStored says why addr may not store cost more bytes: on relays that
// share a store, by what every relay's mailboxes hold.
func (s *state) checkStored(addr clientKey, cost int64) error {
	total, perAddr, perNet, ok := s.store.stored(addr)
	if !ok {
		return s.stored.check(s.cfg, addr, cost)
	}
	return checkStored(s.cfg, total, perAddr, perNet, cost)
}

// close records that side is done with mailbox id and unsubscribes l
// (which may be nil). The mailbox and its messages are deleted once every
// side that opened it has closed it. Closing an unknown mailbox does
// nothing.
func (s *state) close(app, id, side, mood string, l listener, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone mailbox
	deleted := false
	err := s.store.updateMailbox(app, id, func(mb *mailbox, exists bool) (change, error) {
		deleted = false
		if !exists {
			return keep, nil
		}
		if _, in := mb.Sides[side]; !in && len(mb.Sides) >= 2 {
			return keep, errCrowded
		}
		mb.Sides[side] = false
		if anyTrue(mb.Sides) {
			mb.Updated = now
			return put, nil
		}
		gone, deleted = *mb, true
		return drop, nil
	})
	if err != nil {
		return err
	}
	if l != nil {
		s.unlistenLocked(recordKey{app, id}, l)
	}
	if deleted {
		s.forgetMailboxLocked(gone)
		s.log.Debug("mailbox closed", "app", app, "mailbox", id, "mood", mood)
	}
	return nil
}

// forgetMailboxLocked forgets what was counted for mb, which is deleted,
// and stops its listeners.
func (s *state) forgetMailboxLocked(mb mailbox) {
	k := recordKey{mb.App, mb.ID}
	for _, stop := range s.listeners[k] {
		stop()
	}
	delete(s.listeners, k)
	delete(s.lastHeard, k)
	s.owners.release(resourceKey{'m', mb.App, mb.ID})
	s.stored.forget(k, mb.storedCost())
}

// unlisten unsubscribes l from mailbox id, when its connection goes away.
func (s *state) unlisten(app, id string, l listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unlistenLocked(recordKey{app, id}, l)
}

func (s *state) unlistenLocked(k recordKey, l listener) {
	stop, ok := s.listeners[k][l]
	if !ok {
		return
	}
	stop()
	delete(s.listeners[k], l)
	if len(s.listeners[k]) == 0 {
		delete(s.listeners, k)
		s.lastHeard[k] = s.cfg.now()
	}
}
