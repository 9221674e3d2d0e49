package transfer

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// Version is ferry's version, sent to the relay as client_version.
const Version = "0.1.0"

// Dial connects to a mailbox server with ferry's app versions.
func Dial(ctx context.Context, relay string, log *slog.Logger) (*wormhole.Wormhole, error) {
	return dial(ctx, relay, log, 0)
}

// RelayReconnect is how long a side keeps trying to reconnect to the
// relay when its connection drops during the rendezvous.
const RelayReconnect = 2 * time.Minute

// DialRelay is Dial for the relay: a connection that drops while the
// other side has not come yet is reconnected, for up to RelayReconnect
// (a mailbox on the LAN is not: it lives in the sender's process).
func DialRelay(ctx context.Context, relay string, log *slog.Logger) (*wormhole.Wormhole, error) {
	return dial(ctx, relay, log, RelayReconnect)
}

func dial(ctx context.Context, relay string, log *slog.Logger, reconnect time.Duration) (*wormhole.Wormhole, error) {
	return wormhole.Dial(ctx, wormhole.Config{
		RelayURL:    relay,
		AppVersions: Versions(),
		Agent:       [2]string{"ferry", Version},
		Logger:      log,
		Reconnect:   reconnect,
	})
}

// Establish runs the key exchange and, when verify is set, hands it the
// verifier (hex) so the user can compare it with the other side's.
func Establish(ctx context.Context, w *wormhole.Wormhole, verify func(string) error) error {
	if err := w.Establish(ctx); err != nil {
		return err
	}
	if verify != nil {
		if err := verify(hex.EncodeToString(w.Verifier())); err != nil {
			return &Refusal{Reason: "the other side did not confirm the verifier", Err: err}
		}
	}
	return nil
}

// Refusal is a failure whose Reason is told to the other side, so it
// stops waiting at once instead of hanging until someone presses Ctrl-C.
type Refusal struct {
	Reason string // sent to the peer; says nothing about local files; "" sends nothing (the peer stopped first)
	Err    error  // the local cause, if any
}

func (r *Refusal) Error() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return r.Reason
}

func (r *Refusal) Unwrap() error { return r.Err }

// peerReason is what the other side is told when err ends the session,
// and whether to tell it anything.
func peerReason(err error) (string, bool) {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason, r.Reason != ""
	}
	var np *transit.NoPathError
	var nr *NoResumeError
	switch {
	case errors.As(err, &np): // names only the kinds of path tried
		return np.Error(), true
	case errors.As(err, &nr): // its reason names no local file
		return "the connection broke, and the transfer cannot go on over a new path: " + nr.Reason, true
	case errors.Is(err, context.Canceled):
		return "the other side was interrupted", true
	case errors.Is(err, transit.ErrStalled):
		return "the connection stalled on the other side", true
	}
	return "the transfer failed on the other side", true
}

// Finish closes the wormhole with the mood err calls for and returns err.
func Finish(ctx context.Context, w *wormhole.Wormhole, err error) error {
	mood := wormhole.Happy
	switch {
	case err == nil:
	case errors.Is(err, wormhole.ErrWrongCode):
		mood = wormhole.Scary
	case ctx.Err() != nil && !w.PeerSeen():
		mood = wormhole.Lonely
	default:
		mood = wormhole.Errory
	}
	if msg, tell := peerReason(err); err != nil && tell && mood == wormhole.Errory && w.Ready() {
		// Best effort: the peer may be waiting for our next message.
		within := time.Second
		if ctx.Err() != nil {
			within = 500 * time.Millisecond
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), within)
		_ = w.SendJSON(sctx, Envelope{Error: &msg})
		cancel()
	}
	if cerr := w.Close(ctx, mood); cerr != nil && err == nil {
		// The exchange itself succeeded; a failed goodbye is not worth failing for.
		return nil
	}
	return err
}
