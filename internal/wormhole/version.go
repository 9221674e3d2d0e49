package wormhole

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ferrydrop/ferry/internal/mailbox"
)

// How long a side that may have to speak the original gospake2's key (see
// gospake2.LegacyKey) waits for the peer's version message before it sends
// its own. Python, Rust and Go clients send theirs as soon as they hold a
// key, so it comes within a round trip; only another ferry waits too, and
// of two ferries the one with the lower side id gives up first.
const (
	legacyWaitLow  = 2 * time.Second
	legacyWaitHigh = 10 * time.Second
)

// exchangeVersions sends our version message and reads the peer's, which
// proves that both sides hold the same key.
//
// wormhole-william (and the phone apps on it) derives a different key in
// one exchange of 256. When ours is such an exchange, the peer's version
// message, sealed with whichever key it holds, tells us which key to use,
// so we read it before we send ours.
func (w *Wormhole) exchangeVersions(ctx context.Context) error {
	if w.legacyKey != nil {
		wait := legacyWaitHigh
		if w.side < w.peerSide {
			wait = legacyWaitLow
		}
		w.log.Debug("wormhole: the peer may hold the original gospake2's key; waiting for its version first", "wait", wait)
		if err := w.awaitVersion(ctx, wait); err != nil {
			if errors.Is(err, ErrWrongCode) {
				// A ferry peer in the same position waits for our
				// version to learn that the code was wrong, and
				// other clients wait for it too: without it they
				// would wait for ever (one wrong code in 256).
				_ = w.sendVersion(ctx)
			}
			return err
		}
	}
	if err := w.sendVersion(ctx); err != nil {
		return err
	}
	return w.awaitVersion(ctx, 0)
}

// sendVersion sends our version message, sealed with the key we hold.
func (w *Wormhole) sendVersion(ctx context.Context) error {
	ver, err := json.Marshal(map[string]any{"app_versions": w.cfg.AppVersions})
	if err != nil {
		return fmt.Errorf("encode version message: %w", err)
	}
	w.legacyKey = nil // sealing with w.key commits to it
	if err := w.post(ctx, "version", seal(phaseKey(w.key, w.side, "version"), ver)); err != nil {
		return err
	}
	return nil
}

// awaitVersion reads messages until the peer's version message arrives,
// stashing numbered phases; with a wait above zero it gives up quietly
// once that much time has passed.
func (w *Wormhole) awaitVersion(ctx context.Context, wait time.Duration) error {
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	for w.peerVer == nil {
		m, err := w.next(ctx)
		if wait > 0 && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			w.log.Debug("wormhole: no version message from the peer yet; sending ours")
			return nil
		}
		if err != nil {
			return fmt.Errorf("wait for the other side's version: %w", err)
		}
		if m.Phase != "version" {
			w.stash(m)
			continue
		}
		if err := w.readVersion(m); err != nil {
			return err
		}
	}
	return nil
}

// readVersion opens the peer's version message with our key or, failing
// that, the original gospake2's, and keeps whichever opened it.
func (w *Wormhole) readVersion(m mailbox.Message) error {
	plain, err := open(phaseKey(w.key, m.Side, "version"), m.Body)
	if err != nil && w.legacyKey != nil {
		if p, lerr := open(phaseKey(w.legacyKey, m.Side, "version"), m.Body); lerr == nil {
			w.log.Debug("wormhole: the peer derived the original gospake2's key; using it")
			w.key, plain, err = w.legacyKey, p, nil
		}
	}
	w.legacyKey = nil
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWrongCode, err)
	}
	var v struct {
		AppVersions map[string]json.RawMessage `json:"app_versions"`
	}
	if err := json.Unmarshal(plain, &v); err != nil {
		return fmt.Errorf("read the other side's version message: %w", err)
	}
	if v.AppVersions == nil {
		v.AppVersions = map[string]json.RawMessage{}
	}
	w.peerVer = v.AppVersions
	return nil
}
