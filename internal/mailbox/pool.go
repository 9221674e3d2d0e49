package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// A pool of relays: several mailbox servers given as one comma-separated
// list (ferry's --relay a,b). A client uses the first that answers and,
// when its connection drops, the next one that answers (package
// wormhole). Relays of a pool that share their store (issue 15) serve the
// same mailboxes; others know only what the clients bring them again.

// PoolDialTimeout bounds the dial and welcome of each relay of a pool
// with more than one, so a relay that does not answer costs a moment,
// not the whole wait.
const PoolDialTimeout = 5 * time.Second

// MaxPool caps the relays of one pool.
const MaxPool = 16

// ParsePool splits a comma-separated list of relay URLs, dropping blanks
// around and between them. It returns nil for a list with none.
func ParsePool(s string) ([]string, error) {
	var urls []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) > MaxPool {
		return nil, fmt.Errorf("a relay pool has at most %d URLs, not %d", MaxPool, len(urls))
	}
	return urls, nil
}

// PoolError is a pool none of whose relays answered; it unwraps to each
// relay's error (a *DialError, say).
type PoolError struct{ Errs []error }

func (e *PoolError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return fmt.Sprintf("none of the %d relays answered: %s", len(e.Errs), strings.Join(msgs, "; "))
}

func (e *PoolError) Unwrap() []error { return e.Errs }

// DialPool dials the relays of urls in order, from start on (wrapping
// around), each for at most perURL when there are several, and returns
// the first that greets us with its welcome and its index in urls. A
// single relay is dialled as Dial does, with ctx's deadline only.
func DialPool(ctx context.Context, urls []string, start int, perURL time.Duration, log *slog.Logger) (*Client, Welcome, int, error) {
	switch len(urls) {
	case 0:
		return nil, Welcome{}, 0, errors.New("no relay URL")
	case 1:
		c, w, err := Dial(ctx, urls[0], log)
		return c, w, 0, err
	}
	var errs []error
	for i := range urls {
		at := (start + i) % len(urls)
		dctx, cancel := context.WithTimeout(ctx, perURL)
		c, w, err := Dial(dctx, urls[at], log)
		cancel()
		if err == nil {
			return c, w, at, nil
		}
		if ctx.Err() != nil {
			return nil, Welcome{}, 0, err
		}
		if log != nil {
			log.Debug("mailbox: relay of the pool did not answer", "url", urls[at], "err", err)
		}
		errs = append(errs, err)
	}
	return nil, Welcome{}, 0, &PoolError{Errs: errs}
}
