package wormhole

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferrydrop/ferry/internal/mailbox"
)

// Reconnecting: while the Wormhole is open (from Dial to Close), a dropped
// relay connection is redialled (Config.Reconnect bounds how long), to the
// next relay of the pool that answers (the same one when there is one),
// bound with the same side, the nameplate claimed again while it is ours,
// the mailbox reopened, and every message we sent (pake, version and
// numbered phases) that the relay does not hold sent again. What it holds
// it replays when the mailbox is opened (mailbox.Client.Sync): a relay
// that kept its state (ferry relay --data, a shared store) holds all that
// it echoed, one that lost it, or another relay of the pool, holds
// nothing and gets everything again. The peer ignores a message it
// already has: a second pake or version message once it holds the first,
// a numbered phase it has read or holds (stash).
//
// The connection (mb) is shared by Send and the goroutine that reads
// (Receive), so it is swapped under connMu; post and the resend of a
// redial hold outMu, so every message is either sent on the old
// connection before the redial looks at what the relay holds, or on the
// new one after.

// outMsg is one of our messages, kept to send again after a redial.
type outMsg struct {
	phase string
	body  []byte
}

// Backoff between reconnect attempts, and each attempt's bound.
const (
	reconnectFirst   = 250 * time.Millisecond
	reconnectMax     = 4 * time.Second
	reconnectAttempt = 10 * time.Second
)

// reconnectingMsg is the log record of a reconnect.
const reconnectingMsg = "wormhole: the relay connection dropped; reconnecting"

// errClosed is a redial that ended because the Wormhole was closed.
var errClosed = errors.New("the wormhole was closed")

// client returns the relay connection in use and its generation, which
// each redial increments.
func (w *Wormhole) client() (*mailbox.Client, int) {
	w.connMu.Lock()
	defer w.connMu.Unlock()
	return w.mb, w.gen
}

// RelayURL is the relay of the pool in use.
func (w *Wormhole) RelayURL() string {
	w.connMu.Lock()
	defer w.connMu.Unlock()
	return w.relays[w.relayAt]
}

// mayRedial says whether the failure err of a call on mb, under ctx, is a
// dropped connection that is redialled.
func (w *Wormhole) mayRedial(ctx context.Context, mb *mailbox.Client, err error) bool {
	if err == nil || ctx.Err() != nil || mb.Err() == nil || w.cfg.Reconnect <= 0 {
		return false
	}
	w.connMu.Lock()
	defer w.connMu.Unlock()
	return !w.closed && w.mailbox != ""
}

// post sends one of our messages, keeping it to send again after a
// redial; a connection that drops on the way is redialled, and the
// redial sends the message unless the relay holds it.
func (w *Wormhole) post(ctx context.Context, phase string, body []byte) error {
	w.outMu.Lock()
	w.sent = append(w.sent, outMsg{phase: phase, body: body})
	mb, gen := w.client()
	err := mb.Add(ctx, phase, body)
	redial := w.mayRedial(ctx, mb, err)
	if err != nil && !redial {
		w.sent = w.sent[:len(w.sent)-1] // not sent: the caller may try again
	}
	w.outMu.Unlock()
	if redial {
		return w.reconnect(ctx, gen, err)
	}
	return err
}

// reconnect redials the relay until it answers or Config.Reconnect has
// passed since the drop (cause) of the connection of generation gen. When
// another caller has already replaced that connection it returns at once.
func (w *Wormhole) reconnect(ctx context.Context, gen int, cause error) error {
	select {
	case w.redialing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.closing:
		return fmt.Errorf("%w: %w", errClosed, cause)
	}
	defer func() { <-w.redialing }()
	if _, now := w.client(); now != gen {
		return nil // redialled while we waited
	}
	w.log.Info(reconnectingMsg, "err", cause)
	deadline := time.Now().Add(w.cfg.Reconnect)
	wait := reconnectFirst
	for {
		err := w.redial(ctx)
		if err == nil {
			w.log.Info("wormhole: reconnected to the relay", "relay", w.RelayURL())
			return nil
		}
		var permanent *permanentError
		if errors.As(err, &permanent) {
			return permanent.err
		}
		w.log.Debug("wormhole: reconnect failed", "err", err)
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("the relay connection dropped and did not come back within %v: %w", w.cfg.Reconnect, cause)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.closing:
			return fmt.Errorf("%w: %w", errClosed, cause)
		case <-time.After(wait):
		}
		wait = min(2*wait, reconnectMax)
	}
}

// permanentError is a reconnect that worked but cannot go on.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// redial makes one attempt: connect to the next relay of the pool that
// answers, bind, claim, open, resend, and put the new connection in place.
func (w *Wormhole) redial(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, reconnectAttempt)
	defer cancel()
	w.connMu.Lock()
	next := (w.relayAt + 1) % len(w.relays)
	nameplate, mbox := w.nameplate, w.mailbox
	w.connMu.Unlock()
	mb, welcome, at, err := mailbox.DialPool(actx, w.relays, next, mailbox.PoolDialTimeout, w.log)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			mb.Close()
		}
	}()
	if err := mb.Bind(actx, w.cfg.AppID, w.side, w.cfg.Agent); err != nil {
		return err
	}
	if nameplate != "" {
		m, err := mb.Claim(actx, nameplate)
		if errors.Is(err, mailbox.ErrCrowded) {
			return &permanentError{fmt.Errorf("%w (after the relay came back, the code is in use by two others)", ErrWrongCode)}
		}
		if err != nil {
			return err
		}
		if m != mbox { // the relay lost its state, or is another one: a new mailbox
			w.log.Debug("wormhole: the relay does not know the mailbox; using its new one")
			mbox = m
		}
	}
	if err := mb.Open(actx, mbox); err != nil {
		return err
	}
	held, err := mb.Sync(actx)
	if err != nil {
		return err
	}
	stored := map[string]bool{}
	for _, m := range held {
		if m.Side == w.side {
			stored[m.Phase] = true
		}
	}
	w.outMu.Lock()
	defer w.outMu.Unlock()
	resent := 0
	for _, m := range w.sent {
		if stored[m.phase] {
			continue
		}
		if err := mb.Add(actx, m.phase, m.body); err != nil {
			return err
		}
		resent++
	}
	w.connMu.Lock()
	if w.closed {
		w.connMu.Unlock()
		return &permanentError{errClosed}
	}
	old := w.mb
	w.mb, w.relayAt, w.mailbox = mb, at, mbox
	w.transit, w.stun, w.servicesFrom = welcome.Transit, welcome.STUN, w.relays[at] // see Services
	w.gen++
	w.connMu.Unlock()
	ok = true
	old.Close()
	w.log.Debug("wormhole: mailbox reopened", "relay", w.relays[at], "held", len(stored), "resent", resent)
	return nil
}
