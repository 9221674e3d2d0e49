package relay

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The store interface on JetStream (see natsStore).

func (s *natsStore) nameplate(app, name string) (nameplate, bool, error) {
	val, _, ok, err := s.get(s.nps, natsKey(app, name))
	if err != nil || !ok {
		return nameplate{}, false, wrapNATS("read nameplate", name, err)
	}
	np, err := decodeNameplate(app, name, val)
	return np, err == nil, err
}

func decodeNameplate(app, name string, val []byte) (nameplate, error) {
	var np nameplate
	if err := json.Unmarshal(val, &np); err != nil {
		return nameplate{}, fmt.Errorf("decode nameplate %q: %w", name, err)
	}
	np.App, np.Name, np.Sides = app, name, cloneSides(np.Sides)
	return np, nil
}

func decodeMailbox(app, id string, val []byte) (mailbox, error) {
	var mb mailbox
	if err := json.Unmarshal(val, &mb); err != nil {
		return mailbox{}, fmt.Errorf("decode mailbox %q: %w", id, err)
	}
	mb.App, mb.ID, mb.Sides = app, id, cloneSides(mb.Sides)
	return mb, nil
}

func wrapNATS(what, name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %q: %w", what, name, err)
}

func (s *natsStore) nameplateNames(app string) ([]string, error) {
	return s.npIdx.names(app)
}

func (s *natsStore) nameplates() ([]nameplate, error) {
	var out []nameplate
	err := s.npIdx.all(func(k string, v []byte) error {
		app, name, err := splitNATSKey(k)
		if err != nil {
			return err
		}
		np, err := decodeNameplate(app, name, v)
		if err != nil {
			return err
		}
		out = append(out, np)
		return nil
	})
	return out, err
}

func (s *natsStore) putNameplate(np nameplate) error {
	v, err := json.Marshal(np)
	if err != nil {
		return err
	}
	return wrapNATS("write nameplate", np.Name, s.set(s.nps, s.npIdx, natsKey(np.App, np.Name), v))
}

func (s *natsStore) createNameplate(np nameplate) (bool, error) {
	v, err := json.Marshal(np)
	if err != nil {
		return false, err
	}
	key := natsKey(np.App, np.Name)
	var rev uint64
	err = s.do(func(ctx context.Context) (err error) {
		rev, err = s.nps.Create(ctx, key, v)
		return err
	})
	if isConflict(err) {
		return false, nil
	}
	if err != nil {
		return false, wrapNATS("create nameplate", np.Name, err)
	}
	s.npIdx.set(key, rev, v)
	return true, nil
}

func (s *natsStore) updateNameplate(app, name string, fn func(*nameplate, bool) (change, error)) error {
	var fnErr error
	err := s.update(s.nps, s.npIdx, natsKey(app, name), func(val []byte, exists bool) (change, []byte, error) {
		np := nameplate{App: app, Name: name, Sides: map[string]bool{}}
		if exists {
			var err error
			if np, err = decodeNameplate(app, name, val); err != nil {
				return keep, nil, err
			}
		}
		ch, err := fn(&np, exists)
		if err != nil {
			fnErr = err
			return keep, nil, err
		}
		nv, err := json.Marshal(np)
		return ch, nv, err
	})
	if err != nil && err == fnErr {
		return err
	}
	return wrapNATS("update nameplate", name, err)
}

func (s *natsStore) deleteNameplate(app, name string) error {
	return s.updateNameplate(app, name, func(*nameplate, bool) (change, error) { return drop, nil })
}

func (s *natsStore) mailbox(app, id string) (mailbox, bool, error) {
	val, _, ok, err := s.get(s.mbs, natsKey(app, id))
	if err != nil || !ok {
		return mailbox{}, false, wrapNATS("read mailbox", id, err)
	}
	mb, err := decodeMailbox(app, id, val)
	return mb, err == nil, err
}

func (s *natsStore) mailboxes() ([]mailbox, error) {
	var out []mailbox
	err := s.mbIdx.all(func(k string, v []byte) error {
		app, id, err := splitNATSKey(k)
		if err != nil {
			return err
		}
		mb, err := decodeMailbox(app, id, v)
		if err != nil {
			return err
		}
		out = append(out, mb)
		return nil
	})
	return out, err
}

func (s *natsStore) putMailbox(mb mailbox) error {
	v, err := json.Marshal(mb)
	if err != nil {
		return err
	}
	return wrapNATS("write mailbox", mb.ID, s.set(s.mbs, s.mbIdx, natsKey(mb.App, mb.ID), v))
}

func (s *natsStore) updateMailbox(app, id string, fn func(*mailbox, bool) (change, error)) error {
	var fnErr error
	dropped := false
	err := s.update(s.mbs, s.mbIdx, natsKey(app, id), func(val []byte, exists bool) (change, []byte, error) {
		mb := mailbox{App: app, ID: id, Sides: map[string]bool{}}
		if exists {
			var err error
			if mb, err = decodeMailbox(app, id, val); err != nil {
				return keep, nil, err
			}
		}
		ch, err := fn(&mb, exists)
		if err != nil {
			fnErr = err
			return keep, nil, err
		}
		dropped = ch == drop && exists
		nv, err := json.Marshal(mb)
		return ch, nv, err
	})
	if err != nil && err == fnErr {
		return err
	}
	if err == nil && dropped {
		err = s.purge(app, id)
	}
	return wrapNATS("update mailbox", id, err)
}

// purge deletes a mailbox's messages. An add that counted itself in the
// record just before it was deleted may still publish after this: such a
// message stays until the stream's MaxAge (mailbox ids are random, so no
// new mailbox gets it).
func (s *natsStore) purge(app, id string) error {
	return s.do(func(ctx context.Context) error {
		return s.msgs.Purge(ctx, jetstream.WithPurgeSubject(s.subjectOf(app, id)))
	})
}

func (s *natsStore) deleteMailbox(app, id string) error {
	if err := s.updateMailbox(app, id, func(*mailbox, bool) (change, error) { return drop, nil }); err != nil {
		return err
	}
	// Messages of a mailbox whose record was already gone.
	return wrapNATS("delete messages of mailbox", id, s.purge(app, id))
}

func (s *natsStore) subjectOf(app, id string) string { return s.subject + "." + natsKey(app, id) }

// appendMessage counts m in the mailbox's record (revision-checked, so
// that the limits hold whichever relays add at once), then publishes it:
// the stream's order is the one order every listener sees.
func (s *natsStore) appendMessage(app, id string, m message, when time.Time, check func(mailbox) error) error {
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	var refused error
	err = s.update(s.mbs, s.mbIdx, natsKey(app, id), func(val []byte, exists bool) (change, []byte, error) {
		if !exists {
			refused = errNoMailbox
			return keep, nil, refused
		}
		mb, err := decodeMailbox(app, id, val)
		if err != nil {
			return keep, nil, err
		}
		if check != nil {
			if refused = check(mb); refused != nil {
				return keep, nil, refused
			}
		}
		mb.count(m)
		mb.Updated = when
		nv, err := json.Marshal(mb)
		return put, nv, err
	})
	if refused != nil && errors.Is(err, refused) {
		return refused
	}
	if err != nil {
		return wrapNATS("append to mailbox", id, err)
	}
	// The message id makes JetStream drop a second copy should an
	// attempt that timed out have got through after all.
	msgID := rand.Text()
	err = s.do(func(ctx context.Context) error {
		_, err := s.js.Publish(ctx, s.subjectOf(app, id), v, jetstream.WithMsgID(msgID))
		return err
	})
	if err != nil {
		return wrapNATS("append to mailbox", id, err)
	}
	return nil
}

func (s *natsStore) messages(app, id string) ([]message, error) {
	held, err := s.held(app, id)
	if err != nil {
		return nil, wrapNATS("read messages of mailbox", id, err)
	}
	out := make([]message, len(held))
	for i, sm := range held {
		out[i] = sm.m
	}
	return out, nil
}

// listen delivers what the mailbox's subject holds, then each message the
// relay's tail brings, added on any relay.
func (s *natsStore) listen(app, id string, deliver func(message)) (func(), error) {
	stop, err := s.tail.listen(s.subjectOf(app, id), func() ([]seqMessage, error) { return s.held(app, id) }, deliver)
	if err != nil {
		return nil, wrapNATS("listen to mailbox", id, err)
	}
	return stop, nil
}

func (s *natsStore) counts() (int, int) { return s.npIdx.len(), s.mbIdx.len() }

func (s *natsStore) shared() bool { return true }

// owned counts from the relay's copies of both buckets, which every
// relay's writes reach within a moment: two relays creating at once may
// let a client exceed its limit by one each.
func (s *natsStore) owned(who clientKey) (perAddr, perNet int64, ok bool) {
	a1, n1 := s.npIdx.ownedBy(who)
	a2, n2 := s.mbIdx.ownedBy(who)
	return a1 + a2, n1 + n2, true
}

// stored sums from the relay's copy of the mailboxes bucket.
func (s *natsStore) stored(who clientKey) (total, perAddr, perNet int64, ok bool) {
	total, perAddr, perNet = s.mbIdx.storedBy(who)
	return total, perAddr, perNet, true
}

func (s *natsStore) close() error {
	defer s.abandon()
	s.tail.stop()
	s.stop()
	return s.nc.Drain()
}
