package relay

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// natsTail follows every mailbox's new messages for one relay: a single
// ordered consumer of the whole messages stream, started with the store,
// whose messages go to the listeners this relay has for their subject.
// One consumer per relay rather than one per listening connection: a
// JetStream server holds about a thousand consumers per stream by
// default, and each costs it timers and requests, while a relay may have
// ten thousand clients listening (scripts/relay-load). A listener first
// reads what its mailbox holds (held), then takes what the tail brought
// meanwhile and afterwards, each message once, in stream order.
type natsTail struct {
	mu   sync.Mutex
	subs map[string]map[*tailSub]struct{} // by subject
	cc   jetstream.ConsumeContext
	log  *slog.Logger
}

// tailSub is one listener.
type tailSub struct {
	deliver   func(message)
	replaying bool         // reading what its mailbox holds
	pending   []seqMessage // what the tail brought meanwhile
	last      uint64       // the stream sequence of the last message delivered
	stopped   bool
}

// seqMessage is a message with its stream sequence.
type seqMessage struct {
	seq uint64
	m   message
}

// startTail starts following the stream's new messages.
func startTail(ctx context.Context, st jetstream.Stream, subjects string, log *slog.Logger) (*natsTail, error) {
	t := &natsTail{subs: map[string]map[*tailSub]struct{}{}, log: log}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, err
	}
	t.cc, err = c.Consume(t.take, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		log.Debug("NATS message consumer", "err", err)
	}))
	if err != nil {
		return nil, err
	}
	return t, nil
}

// take hands one message of the stream to its subject's listeners.
func (t *natsTail) take(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		t.log.Error("NATS message without metadata", "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	subs := t.subs[msg.Subject()]
	if len(subs) == 0 {
		return
	}
	var m message
	if err := json.Unmarshal(msg.Data(), &m); err != nil {
		t.log.Error("undecodable message in NATS", "subject", msg.Subject(), "err", err)
		return
	}
	sm := seqMessage{seq: md.Sequence.Stream, m: m}
	for sub := range subs {
		if sub.replaying {
			sub.pending = append(sub.pending, sm)
		} else {
			sub.give(sm)
		}
	}
}

// give delivers sm unless the listener had it already. Callers hold t.mu.
func (sub *tailSub) give(sm seqMessage) {
	if sm.seq <= sub.last || sub.stopped {
		return
	}
	sub.last = sm.seq
	sub.deliver(sm.m)
}

// listen delivers every message of subject, those held first (read by
// held, after the listener is registered, so that nothing added between
// is missed), then each new one.
func (t *natsTail) listen(subject string, held func() ([]seqMessage, error), deliver func(message)) (func(), error) {
	sub := &tailSub{deliver: deliver, replaying: true}
	t.mu.Lock()
	if t.subs[subject] == nil {
		t.subs[subject] = map[*tailSub]struct{}{}
	}
	t.subs[subject][sub] = struct{}{}
	t.mu.Unlock()
	stop := func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		sub.stopped = true
		sub.pending = nil
		delete(t.subs[subject], sub)
		if len(t.subs[subject]) == 0 {
			delete(t.subs, subject)
		}
	}
	msgs, err := held()
	if err != nil {
		stop()
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sm := range msgs {
		sub.give(sm)
	}
	for _, sm := range sub.pending {
		sub.give(sm)
	}
	sub.pending, sub.replaying = nil, false
	return stop, nil
}

func (t *natsTail) stop() { t.cc.Stop() }

// held reads the messages a mailbox holds, in order: each request
// returns the next one on its subject.
func (s *natsStore) held(app, id string) ([]seqMessage, error) {
	subject := s.subjectOf(app, id)
	var out []seqMessage
	for seq := uint64(1); ; {
		var raw *jetstream.RawStreamMsg
		err := s.do(func(ctx context.Context) (err error) {
			raw, err = s.msgs.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
			return err
		})
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var m message
		if err := json.Unmarshal(raw.Data, &m); err != nil {
			return nil, wrapNATS("decode message of mailbox", id, err)
		}
		out = append(out, seqMessage{seq: raw.Sequence, m: m})
		seq = raw.Sequence + 1
	}
}
