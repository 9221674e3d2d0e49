package relay

import (
	"context"
	"time"
)

// pruneLoop prunes idle state every cfg.PruneInterval until ctx is done.
func (s *Server) pruneLoop(ctx context.Context) {
	defer close(s.pruneDone)
	t := time.NewTicker(s.cfg.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.state.prune(s.cfg.now()); err != nil {
				s.log.Error("prune", "err", err)
			}
		}
	}
}

// pruneStats says what one prune pass deleted.
type pruneStats struct {
	nameplates, mailboxes int
}

// prune deletes, as the reference server does, mailboxes that nobody
// listens to and that nobody opened or added to for cfg.PruneAge, together
// with the nameplates pointing at them, and nameplates that are that old
// and whose mailbox no longer exists (which the reference server keeps
// forever). Unlike it, it deletes sooner, after cfg.PruneUnpairedAge,
// what never got two sides: a mailbox that fewer than two sides opened
// or claimed, and a nameplate whose mailbox nobody listens to (a pair
// that met has no more use for its nameplate). Mailboxes with a listening
// connection count as in use; one counts as seen when its last listener
// left, and everything loaded at start-up as seen then.
func (s *state) prune(now time.Time) (pruneStats, error) {
	if err := s.refreshHeard(now); err != nil {
		return pruneStats{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var stats pruneStats
	cutoff := now.Add(-s.cfg.PruneAge)
	unpaired := now.Add(-s.cfg.PruneUnpairedAge)
	mbs, err := s.store.mailboxes()
	if err != nil {
		return stats, err
	}
	exists := make(map[recordKey]bool, len(mbs))
	heard := map[recordKey]bool{}
	var old []mailbox
	// Where relays share the store, each marks the mailboxes it has
	// listeners for as heard on every pass, and the others count one
	// heard within two passes and half the unpaired age as in use (their
	// copy of the record may lag a little).
	shared := s.store.shared()
	heardWithin := 2*s.cfg.PruneInterval + s.cfg.PruneUnpairedAge/2
	for _, mb := range mbs {
		k := recordKey{mb.App, mb.ID}
		exists[k] = true
		local := len(s.listeners[k]) > 0
		if local || shared && mb.Heard.After(now.Add(-heardWithin)) {
			heard[k] = true
			// In use: refreshHeard recorded that, if this relay listens;
			// else another relay keeps Heard fresh.
			continue
		}
		seen := latest(mb.Updated, s.lastHeard[k], s.started)
		if !seen.After(cutoff) || len(mb.Sides) < 2 && !seen.After(unpaired) {
			old = append(old, mb)
		}
	}
	for k := range s.lastHeard {
		if !exists[k] {
			delete(s.lastHeard, k)
		}
	}
	gone := make(map[recordKey]bool, len(old))
	for _, mb := range old {
		gone[recordKey{mb.App, mb.ID}] = true
	}
	nps, err := s.store.nameplates()
	if err != nil {
		return stats, err
	}
	for _, np := range nps {
		mk := recordKey{np.App, np.Mailbox}
		seen := latest(np.Updated, s.lastHeard[mk], s.started)
		switch {
		case gone[mk]:
		case !exists[mk] && !seen.After(cutoff):
		case !heard[mk] && !seen.After(unpaired):
		default:
			continue
		}
		// Delete it unless it changed since it was read (claimed anew,
		// possibly on another relay).
		deleted := false
		err := s.store.updateNameplate(np.App, np.Name, func(cur *nameplate, exists bool) (change, error) {
			deleted = exists && cur.Updated.Equal(np.Updated) && cur.Mailbox == np.Mailbox && len(cur.Sides) == len(np.Sides)
			if !deleted {
				return keep, nil
			}
			return drop, nil
		})
		if err != nil {
			return stats, err
		}
		if deleted {
			s.owners.release(resourceKey{'n', np.App, np.Name})
			stats.nameplates++
		}
	}
	for _, mb := range old {
		deleted := false
		err := s.store.updateMailbox(mb.App, mb.ID, func(cur *mailbox, exists bool) (change, error) {
			deleted = exists && cur.Updated.Equal(mb.Updated) && cur.Messages == mb.Messages &&
				len(cur.Sides) == len(mb.Sides) && !cur.Heard.After(mb.Heard)
			if !deleted {
				return keep, nil
			}
			return drop, nil
		})
		if err != nil {
			return stats, err
		}
		if deleted {
			s.forgetMailboxLocked(mb)
			stats.mailboxes++
		}
	}
	if stats != (pruneStats{}) {
		s.log.Info("pruned idle state", "nameplates", stats.nameplates, "mailboxes", stats.mailboxes)
	}
	return stats, nil
}

// latest returns the latest of ts.
func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}

// refreshHeard marks the mailboxes this relay's connections listen to as
// in use, now and then, so that after a restart (which forgets the
// listeners) a mailbox is not mistaken for an idle one: Updated once it
// is half PruneAge old, and, where other relays share the store, Heard
// once it is half PruneInterval old, often enough that they do not
// mistake it either. It writes without holding the state's lock (the
// store makes each write atomic): on a shared store that is a JetStream
// round trip for each of thousands of mailboxes every PruneInterval,
// during which the relay answered no command (scripts/relay-load: an
// allocate took 3.9 s on a node listening to 3,300 mailboxes).
func (s *state) refreshHeard(now time.Time) error {
	shared := s.store.shared()
	stale := func(mb *mailbox) bool { return mb.Updated.Before(now.Add(-s.cfg.PruneAge / 2)) }
	s.mu.Lock()
	mbs, err := s.store.mailboxes()
	var due []mailbox
	for _, mb := range mbs {
		if len(s.listeners[recordKey{mb.App, mb.ID}]) > 0 && (stale(&mb) || shared && mb.Heard.Before(now.Add(-s.cfg.PruneInterval/2))) {
			due = append(due, mb)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	for _, mb := range due {
		err := s.store.updateMailbox(mb.App, mb.ID, func(cur *mailbox, exists bool) (change, error) {
			if !exists {
				return keep, nil
			}
			if stale(cur) {
				cur.Updated = now
			}
			if shared {
				cur.Heard = now
			}
			return put, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
