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

// prune deletes mailboxes that nobody listens to and that nobody opened or
// added to for cfg.PruneAge, together with the nameplates pointing at
// them, as the reference server does. It also deletes nameplates that are
// that old and whose mailbox no longer exists (which the reference server
// keeps forever). Mailboxes with a listening connection count as in use.
func (s *state) prune(now time.Time) (pruneStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var stats pruneStats
	cutoff := now.Add(-s.cfg.PruneAge)
	mbs, err := s.store.mailboxes()
	if err != nil {
		return stats, err
	}
	exists := make(map[recordKey]bool, len(mbs))
	old := map[recordKey]bool{}
	for _, mb := range mbs {
		k := recordKey{mb.App, mb.ID}
		exists[k] = true
		if len(s.listeners[k]) > 0 {
			// In use. Record that now and then, so that after a restart
			// (which forgets the listeners) the mailbox is not mistaken
			// for an idle one.
			if mb.Updated.Before(now.Add(-s.cfg.PruneAge / 2)) {
				mb.Updated = now
				if err := s.store.putMailbox(mb); err != nil {
					return stats, err
				}
			}
			continue
		}
		if !mb.Updated.After(cutoff) {
			old[k] = true
		}
	}
	nps, err := s.store.nameplates()
	if err != nil {
		return stats, err
	}
	for _, np := range nps {
		mk := recordKey{np.App, np.Mailbox}
		if !old[mk] && (exists[mk] || np.Updated.After(cutoff)) {
			continue
		}
		if err := s.store.deleteNameplate(np.App, np.Name); err != nil {
			return stats, err
		}
		s.owners.release(resourceKey{'n', np.App, np.Name})
		stats.nameplates++
	}
	for k := range old {
		if err := s.store.deleteMailbox(k.app, k.name); err != nil {
			return stats, err
		}
		s.owners.release(resourceKey{'m', k.app, k.name})
		stats.mailboxes++
	}
	if stats != (pruneStats{}) {
		s.log.Info("pruned idle state", "nameplates", stats.nameplates, "mailboxes", stats.mailboxes)
	}
	return stats, nil
}
