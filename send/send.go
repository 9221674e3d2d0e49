// Package send is the sending side of ferry: it makes or takes a code,
// meets the receiver through a mailbox server, and delivers.
package send

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// ErrRejected means the receiver declined or reported an error.
var ErrRejected = errors.New("the receiver declined")

// Options configure a send. The zero value allocates a two-word code on
// the public relay.
type Options struct {
	Relay     string            // mailbox server URL; the public relay when empty
	Code      string            // use this code instead of allocating one
	CodeWords int               // words in an allocated code; 2 when 0
	OnCode    func(code string) // told the code before ferry waits for the receiver
	// OnLink, when the relay serves ferry's browser page, is told (just
	// before OnCode) the link that opens it with the code: PAGE#CODE.
	// A fragment never reaches any server.
	OnLink func(link string)
	Verify func(string) error // shown the verifier (hex); an error aborts
	Logger *slog.Logger       // nil: silent
}

// Text sends a text message and returns once the receiver acknowledged it.
func Text(ctx context.Context, opts Options, text string) (err error) {
	if len(text) > transfer.MaxText {
		return fmt.Errorf("text is %d bytes; ferry sends at most %d", len(text), transfer.MaxText)
	}
	w, err := open(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { err = transfer.Finish(ctx, w, err) }()
	if err := transfer.Establish(ctx, w, opts.Verify); err != nil {
		return err
	}
	if err := w.SendJSON(ctx, transfer.Envelope{Offer: &transfer.Offer{Message: &text}}); err != nil {
		return err
	}
	for {
		b, err := w.Receive(ctx)
		if err != nil {
			return fmt.Errorf("wait for the receiver's answer: %w", err)
		}
		e, err := transfer.ParseEnvelope(b)
		if err != nil {
			return err
		}
		switch {
		case e.Error != nil:
			return &transfer.Refusal{Err: fmt.Errorf("%w and said: %s", ErrRejected, transfer.Quote(*e.Error))}
		case e.Answer != nil && e.Answer.MessageAck == "ok":
			return nil
		case e.Answer != nil:
			return &transfer.Refusal{Reason: "unexpected answer to a text message", Err: fmt.Errorf("%w: unexpected answer to a text message", ErrRejected)}
		}
		// transit hints and anything unknown are not needed for text
	}
}

// open connects and claims (or allocates) the code, telling OnCode.
func open(ctx context.Context, opts Options) (*wormhole.Wormhole, error) {
	w, err := transfer.Dial(ctx, opts.Relay, opts.Logger)
	if err != nil {
		return nil, err
	}
	code := opts.Code
	if code != "" {
		err = w.UseCode(ctx, code)
	} else {
		words := opts.CodeWords
		if words == 0 {
			words = 2
		}
		code, err = w.AllocateCode(ctx, words)
	}
	if err != nil {
		return nil, transfer.Finish(ctx, w, err)
	}
	if page := w.Page(); page != "" && opts.OnLink != nil {
		opts.OnLink(page + "#" + code)
	}
	if opts.OnCode != nil {
		opts.OnCode(code)
	}
	return w, nil
}
