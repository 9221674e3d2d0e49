package transfer

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/ferrydrop/ferry/internal/wormhole"
)

// LAN is the local network, where a sender serves a mailbox of its own
// and a receiver looks for one (internal/lan implements it over DNS-SD;
// send and receive take it as a parameter, so tests give their own).
type LAN interface {
	// Serve starts a mailbox server on the local network.
	Serve(ctx context.Context) (LANMailbox, error)
	// Browse tells found the URL of each mailbox advertised for
	// nameplate, until ctx ends.
	Browse(ctx context.Context, nameplate string, found func(url string)) error
}

// LANMailbox is a sender's own mailbox server on the local network.
type LANMailbox interface {
	URL() string    // where the sender connects to it
	URLs() []string // every LAN address it serves (for classic clients' --relay-url)
	Advertise(nameplate string) error
	Unadvertise() // stop announcing, keep serving
	Close() error
}

// How the LAN is used (ferry's --lan).
const (
	LANAuto = "auto" // the relay and the LAN, whichever has the peer
	LANOnly = "only" // the LAN only
	LANOff  = "off"  // the relay only, nothing advertised
)

// ErrNoMailbox means no mailbox could be tried: none was advertised and
// there is no relay.
var ErrNoMailbox = errors.New("no mailbox to meet the other side in")

// Candidate is one mailbox where a side may meet the other.
type Candidate struct {
	Name string                                                // for the log: "relay", or the mailbox's URL
	W    *wormhole.Wormhole                                    // the code already claimed on it, or
	Open func(ctx context.Context) (*wormhole.Wormhole, error) // connects and claims the code
	Lost func(err error)                                       // if set, told when this one fails
}

// Race meets the other side in every candidate that arrives on cands
// (until it is closed) at once and keeps one. On each it runs the
// unchanged Magic Wormhole exchange (PAKE, then version messages, which
// prove both sides hold the same key) and then ready, if set. The first
// candidate to get through wins; the others are closed, each with the
// mood it earned: a wrong PAKE on one (someone else claimed its
// nameplate: one wrong guess, as on a relay) ends only that one and
// never burns the code on the others.
//
// A sender passes no ready: it carries on in the first mailbox whose
// exchange completes, and sends its first message only there. A
// receiver passes (*wormhole.Wormhole).Await: it keeps the mailbox where
// that first message arrives, so both sides end up with the same one,
// and a single peer.
//
// When every candidate failed, Race returns the first wrong-code error
// (so both sides report the usual wrong code), else the first error, or
// ErrNoMailbox when there was none to try.
func Race(ctx context.Context, cands <-chan Candidate, ready func(context.Context, *wormhole.Wormhole) error, log *slog.Logger) (*wormhole.Wormhole, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	type outcome struct {
		c   Candidate
		w   *wormhole.Wormhole
		err error
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan outcome)
	var closing sync.WaitGroup
	defer closing.Wait()
	var (
		winner  *wormhole.Wormhole
		errs    []error
		running int
		in      = cands
	)
	for in != nil || running > 0 {
		select {
		case c, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			running++
			go func() {
				w, err := c.W, error(nil)
				if w == nil {
					w, err = c.Open(rctx)
				}
				if err == nil {
					err = w.Establish(rctx)
				}
				if err == nil && ready != nil {
					err = ready(rctx, w)
				}
				results <- outcome{c: c, w: w, err: err}
			}()
		case o := <-results:
			running--
			if o.err == nil && winner == nil {
				log.Debug("mailbox chosen", "mailbox", o.c.Name)
				winner = o.w
				in = nil // no more candidates are needed
				cancel() // the others stop
				continue
			}
			if o.err != nil {
				log.Debug("mailbox failed", "mailbox", o.c.Name, "err", o.err)
				if o.c.Lost != nil {
					o.c.Lost(o.err)
				}
				if winner == nil && ctx.Err() == nil {
					errs = append(errs, o.err)
				}
			}
			if o.w != nil {
				closing.Go(func() { o.w.Close(rctx, loserMood(o.w, o.err)) })
			}
		}
	}
	if winner != nil {
		return winner, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if errors.Is(err, wormhole.ErrWrongCode) {
			return nil, err
		}
	}
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return nil, ErrNoMailbox
}

// loserMood is the mood a mailbox that was not kept is closed with.
func loserMood(w *wormhole.Wormhole, err error) wormhole.Mood {
	switch {
	case errors.Is(err, wormhole.ErrWrongCode):
		return wormhole.Scary
	case !w.PeerSeen():
		return wormhole.Lonely
	}
	return wormhole.Happy
}
