package transfer

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"

	"github.com/ferrydrop/ferry/internal/wormhole"
)

// Version is ferry's version, sent to the relay as client_version.
const Version = "0.1.0"

// Dial connects to the relay with ferry's app versions.
func Dial(ctx context.Context, relay string, log *slog.Logger) (*wormhole.Wormhole, error) {
	return wormhole.Dial(ctx, wormhole.Config{
		RelayURL:    relay,
		AppVersions: Versions(),
		Agent:       [2]string{"ferry", Version},
		Logger:      log,
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
			return err
		}
	}
	return nil
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
	if cerr := w.Close(ctx, mood); cerr != nil && err == nil {
		// The exchange itself succeeded; a failed goodbye is not worth failing for.
		return nil
	}
	return err
}
