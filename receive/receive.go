// Package receive is the receiving side of ferry: it takes a code, meets
// the sender through a mailbox server, and accepts what is offered.
package receive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// ErrPeer means the sender reported an error.
var ErrPeer = errors.New("the sender stopped")

// ErrUnsupported means the sender offered something this build cannot take.
var ErrUnsupported = errors.New("the sender offered something ferry cannot receive yet")

// Options configure a receive. The zero value uses the public relay.
type Options struct {
	Relay  string             // mailbox server URL; the public relay when empty
	Verify func(string) error // shown the verifier (hex); an error aborts
	Logger *slog.Logger       // nil: silent
}

// Result is what arrived.
type Result struct {
	Text string // the text message
}

// Run receives with the code the sender gave.
func Run(ctx context.Context, code string, opts Options) (res *Result, err error) {
	w, err := transfer.Dial(ctx, opts.Relay, opts.Logger)
	if err != nil {
		return nil, err
	}
	defer func() { err = transfer.Finish(ctx, w, err) }()
	if err := w.UseCode(ctx, code); err != nil {
		return nil, err
	}
	if err := transfer.Establish(ctx, w, opts.Verify); err != nil {
		return nil, err
	}
	for {
		b, err := w.Receive(ctx)
		if err != nil {
			return nil, fmt.Errorf("wait for the sender's offer: %w", err)
		}
		e, err := transfer.ParseEnvelope(b)
		if err != nil {
			return nil, err
		}
		switch {
		case e.Error != nil:
			return nil, &transfer.Refusal{Err: fmt.Errorf("%w: %s", ErrPeer, transfer.Escape(*e.Error))}
		case e.Offer != nil && e.Offer.Message != nil:
			if len(*e.Offer.Message) > transfer.MaxText {
				return nil, &transfer.Refusal{Reason: fmt.Sprintf("text message is larger than %d bytes", transfer.MaxText)}
			}
			if err := w.SendJSON(ctx, transfer.Envelope{Answer: &transfer.Answer{MessageAck: "ok"}}); err != nil {
				return nil, err
			}
			return &Result{Text: *e.Offer.Message}, nil
		case e.Offer != nil:
			return nil, &transfer.Refusal{Reason: ErrUnsupported.Error(), Err: ErrUnsupported}
		}
		// transit hints come before a file offer; nothing to do with them yet
	}
}
