package wormhole

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferrydrop/ferry/internal/mailbox"
)

// Reconnecting during the rendezvous: until Establish has succeeded, a
// dropped relay connection is redialled (Config.Reconnect bounds how
// long), bound with the same side, the nameplate claimed again while it
// is ours, the mailbox reopened, and our pake and version messages sent
// again unless the relay had echoed them (a relay that kept its state
// replays them on open; one that lost it gets them again). The peer
// ignores a message it already has: a second pake or version message once
// it holds the first, a numbered phase it has read.

// outMsg is one of our rendezvous messages.
type outMsg struct {
	phase  string
	body   []byte
	echoed bool
}

// Backoff between reconnect attempts, and each attempt's bound.
const (
	reconnectFirst   = 250 * time.Millisecond
	reconnectMax     = 4 * time.Second
	reconnectAttempt = 10 * time.Second
)

// reconnectingMsg is the log record of a reconnect.
const reconnectingMsg = "wormhole: the relay connection dropped; reconnecting"

// canReconnect says whether a dropped connection is redialled now.
func (w *Wormhole) canReconnect() bool {
	return w.cfg.Reconnect > 0 && w.peerVer == nil && w.mailbox != ""
}

// add posts a rendezvous message, keeping it to send again after a
// reconnect; a connection that drops on the way is reconnected.
func (w *Wormhole) add(ctx context.Context, phase string, body []byte) error {
	w.sent = append(w.sent, outMsg{phase: phase, body: body})
	err := w.mb.Add(ctx, phase, body)
	if err != nil && w.canReconnect() && ctx.Err() == nil && w.mb.Err() != nil {
		return w.reconnect(ctx, err)
	}
	return err
}

// echoed notes that the relay echoed our message of this phase.
func (w *Wormhole) echoed(phase string) {
	for i := range w.sent {
		if w.sent[i].phase == phase {
			w.sent[i].echoed = true
		}
	}
}

// reconnect redials the relay until it answers or Config.Reconnect has
// passed since the drop (cause).
func (w *Wormhole) reconnect(ctx context.Context, cause error) error {
	w.log.Info(reconnectingMsg, "err", cause)
	deadline := time.Now().Add(w.cfg.Reconnect)
	wait := reconnectFirst
	for {
		err := w.redial(ctx)
		if err == nil {
			w.log.Info("wormhole: reconnected to the relay")
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
		case <-time.After(wait):
		}
		wait = min(2*wait, reconnectMax)
	}
}

// permanentError is a reconnect that worked but cannot go on.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// redial makes one attempt: connect, bind, claim, open, resend.
func (w *Wormhole) redial(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, reconnectAttempt)
	defer cancel()
	mb, _, err := mailbox.Dial(actx, w.cfg.RelayURL, w.log)
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
	kept := true // the relay still has our mailbox and what we sent
	if w.nameplate != "" {
		mbox, err := mb.Claim(actx, w.nameplate)
		if errors.Is(err, mailbox.ErrCrowded) {
			return &permanentError{fmt.Errorf("%w (after the relay came back, the code is in use by two others)", ErrWrongCode)}
		}
		if err != nil {
			return err
		}
		if mbox != w.mailbox { // the relay lost its state: a new mailbox
			w.log.Debug("wormhole: the relay lost the mailbox; using its new one")
			w.mailbox, kept = mbox, false
		}
	}
	if err := mb.Open(actx, w.mailbox); err != nil {
		return err
	}
	for i := range w.sent {
		if kept && w.sent[i].echoed {
			continue
		}
		if err := mb.Add(actx, w.sent[i].phase, w.sent[i].body); err != nil {
			return err
		}
	}
	ok = true
	w.mb.Close()
	w.mb = mb
	return nil
}
