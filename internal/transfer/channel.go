package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferrydrop/ferry/internal/rtc"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/nat/natconf"
)

// Caps on what the peer may queue up.
const (
	maxQueuedMessages   = 16
	maxQueuedCandidates = 64
)

// Channel reads the peer's numbered phases in the background so that ICE
// candidates, which trickle in at any time, reach the ICE agent while the
// main flow waits for offers, answers and acknowledgements.
type Channel struct {
	w     *wormhole.Wormhole
	msgs  chan Envelope
	cands chan natconf.Signal
	rtc   chan rtc.Signal
	done  chan struct{}
	err   error

	failed  chan struct{} // closed when the peer sent an error
	peerMsg string        // what it said
}

// NewChannel starts reading phases; it stops when ctx ends or the mailbox
// fails.
func NewChannel(ctx context.Context, w *wormhole.Wormhole) *Channel {
	c := &Channel{
		w:     w,
		msgs:  make(chan Envelope, maxQueuedMessages),
		cands: make(chan natconf.Signal, maxQueuedCandidates),
		rtc:   make(chan rtc.Signal, maxQueuedCandidates),
		done:  make(chan struct{}),

		failed: make(chan struct{}),
	}
	go c.read(ctx)
	return c
}

func (c *Channel) read(ctx context.Context) {
	defer close(c.done)
	for {
		b, err := c.w.Receive(ctx)
		if err != nil {
			c.err = err
			return
		}
		e, err := ParseEnvelope(b)
		if err != nil {
			c.err = err
			return
		}
		if e.Error != nil && c.peerMsg == "" {
			c.peerMsg = *e.Error
			if c.peerMsg == "" {
				c.peerMsg = "(no reason given)"
			}
			close(c.failed)
		}
		if e.Ferry != nil && e.Ferry.ICE != nil {
			select {
			case c.cands <- *e.Ferry.ICE:
			default: // more candidates than anyone needs: drop
			}
			continue
		}
		if e.Ferry != nil && e.Ferry.RTC != nil {
			select {
			case c.rtc <- *e.Ferry.RTC:
			default: // more signals than anyone needs: drop
			}
			continue
		}
		select {
		case c.msgs <- e:
		case <-ctx.Done():
			c.err = ctx.Err()
			return
		}
	}
}

// Next returns the next message that is not an ICE candidate or a
// WebRTC signal.
func (c *Channel) Next(ctx context.Context) (Envelope, error) {
	select {
	case e := <-c.msgs:
		return e, nil
	case <-c.done:
		select {
		case e := <-c.msgs:
			return e, nil
		default:
		}
		if c.err == nil {
			c.err = errors.New("mailbox closed")
		}
		return Envelope{}, fmt.Errorf("wait for the other side: %w", c.err)
	case <-ctx.Done():
		return Envelope{}, ctx.Err()
	}
}

// PeerFailed is closed when the peer reported an error (the message is
// also delivered by Next): a wait for something else, such as a
// connection, can stop at once instead of running out its time.
func (c *Channel) PeerFailed() <-chan struct{} { return c.failed }

// peerError is the error the peer reported, once PeerFailed is closed.
func (c *Channel) peerError() error { return PeerError("the other side", c.peerMsg) }

// failedConnect is the error of a connection race that the peer ended:
// a NoPathError when the peer found no path (it said so with
// transit.NoPathPrefix), else what the peer said.
func (c *Channel) failedConnect() error {
	if strings.HasPrefix(c.peerMsg, transit.NoPathPrefix) {
		return &transit.NoPathError{PeerGaveUp: true, Err: c.peerError()}
	}
	return c.peerError()
}

// Candidates delivers the peer's trickled ICE candidates.
func (c *Channel) Candidates() <-chan natconf.Signal { return c.cands }

// RTC delivers the peer's WebRTC signals (offer or answer, candidates),
// in the order it sent them.
func (c *Channel) RTC() <-chan rtc.Signal { return c.rtc }

// Send sends one message.
func (c *Channel) Send(ctx context.Context, e Envelope) error { return c.w.SendJSON(ctx, e) }

// PeerError turns the peer's {"error": …} into an error that is not
// echoed back to it; the peer's words are quoted (Quote).
func PeerError(who string, msg string) error {
	return &Refusal{Err: fmt.Errorf("%s stopped and said: %s", who, Quote(msg))}
}
