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

// ErrConnectionLost means the data path to the receiver failed before
// the transfer was complete, and the receiver said nothing of why: it
// went away (its program ended or it lost its network), or the network
// between failed. The error wraps it, with what the path said in
// parentheses. A receiver that stopped and said why (it declined, its
// disk failed) keeps its own words.
var ErrConnectionLost = errors.New("the receiver went away, or the connection to it broke, before the transfer was complete")

// Options configure a send. The zero value allocates a two-word code on
// the public relay.
type Options struct {
	// Relay is the mailbox server's URL, or a pool of them separated by
	// commas (the first that answers is used, the next one that answers
	// when its connection drops); the public relay when empty.
	Relay     string
	OnRelay   func(url string)  // told (before OnLink and OnCode) which relay of the pool the code is on
	Code      string            // use this code instead of allocating one
	CodeWords int               // words in an allocated code; 2 when 0
	OnCode    func(code string) // told the code before ferry waits for the receiver
	// OnLink, when the relay serves ferry's browser page, is told (just
	// before OnCode) the link that opens it with the code: PAGE#CODE.
	// A fragment never reaches any server.
	OnLink func(link string)
	Verify func(string) error // shown the verifier (hex); an error aborts
	Logger *slog.Logger       // nil: silent

	// LAN, when set, is the local network, where the sender also serves
	// a mailbox of its own for the same nameplate and advertises it
	// (lan.go). With LANOnly the relay is not used at all.
	LAN     transfer.LAN
	LANOnly bool
	// OnNoRelay, with LAN, is told (before OnCode) that the relay could
	// not be reached, so only receivers on this network can use the code.
	OnNoRelay func(err error)
}

// Text sends a text message and returns once the receiver acknowledged it.
func Text(ctx context.Context, opts Options, text string) (err error) {
	if len(text) > transfer.MaxText {
		return fmt.Errorf("text is %d bytes; ferry sends at most %d", len(text), transfer.MaxText)
	}
	w, stopLAN, err := open(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { err = transfer.Finish(ctx, w, err); stopLAN() }()
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

// open connects and claims (or allocates) the code, telling OnCode. With
// a LAN it also serves and advertises a mailbox of its own and returns
// the wormhole the receiver met it in, established; stop ends that
// mailbox, after the transfer.
func open(ctx context.Context, opts Options) (w *wormhole.Wormhole, stop func(), err error) {
	if opts.LAN != nil {
		return openLAN(ctx, opts)
	}
	w, err = transfer.DialRelay(ctx, opts.Relay, opts.Logger)
	if err != nil {
		return nil, nil, err
	}
	code, err := claim(ctx, w, opts)
	if err != nil {
		return nil, nil, transfer.Finish(ctx, w, err)
	}
	announce(opts, w, code)
	return w, func() {}, nil
}

// claim claims opts.Code on w, or allocates a code there.
func claim(ctx context.Context, w *wormhole.Wormhole, opts Options) (string, error) {
	if opts.Code != "" {
		return opts.Code, w.UseCode(ctx, opts.Code)
	}
	return w.AllocateCode(ctx, opts.words())
}

func (opts Options) words() int {
	if opts.CodeWords == 0 {
		return 2
	}
	return opts.CodeWords
}

// announce tells OnLink (when w's relay serves the page) and OnCode.
func announce(opts Options, w *wormhole.Wormhole, code string) {
	if w != nil && opts.OnRelay != nil {
		opts.OnRelay(w.RelayURL())
	}
	if w != nil && w.Page() != "" && opts.OnLink != nil {
		opts.OnLink(w.Page() + "#" + code)
	}
	if opts.OnCode != nil {
		opts.OnCode(code)
	}
}
