package send

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// relayDialTimeout bounds connecting to the relay when the LAN is an
// alternative: a relay that does not answer (no internet, a firewall
// that drops) must not keep the sender from serving its own mailbox.
const relayDialTimeout = 5 * time.Second

// lanNameplate picks the nameplate of a code only the LAN mailbox
// serves: three digits, so that two senders on one network seldom pick
// the same (a receiver tries both, and PAKE tells them apart).
func lanNameplate() string { return strconv.Itoa(100 + rand.IntN(900)) }

// openLAN is open with a LAN: the relay (unless LANOnly) and a mailbox
// of the sender's own on the LAN serve the same nameplate and the same
// code, the LAN one advertised, and the receiver may come to either.
// It returns once one of them has the receiver, established.
func openLAN(ctx context.Context, opts Options) (*wormhole.Wormhole, func(), error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	type dialed struct {
		w   *wormhole.Wormhole
		err error
	}
	relayc := make(chan dialed, 1)
	if !opts.LANOnly {
		go func() {
			dctx, cancel := context.WithTimeout(ctx, relayDialTimeout)
			defer cancel()
			w, err := transfer.DialRelay(dctx, opts.Relay, opts.Logger)
			relayc <- dialed{w, err}
		}()
	}
	mb, lanErr := opts.LAN.Serve(ctx)
	var rw *wormhole.Wormhole
	var relayErr error
	if !opts.LANOnly {
		d := <-relayc
		rw, relayErr = d.w, d.err
	}
	if lanErr != nil {
		if opts.LANOnly {
			return nil, nil, fmt.Errorf("serve a mailbox on the local network: %w", lanErr)
		}
		log.Debug("lan: no mailbox on the local network", "err", lanErr)
		if relayErr != nil {
			return nil, nil, relayErr
		}
		return relayOnly(ctx, opts, rw)
	}
	var code string
	if rw != nil {
		var err error
		if code, err = claim(ctx, rw, opts); err != nil {
			mb.Close()
			return nil, nil, transfer.Finish(ctx, rw, err)
		}
	} else {
		if relayErr != nil {
			log.Debug("lan: the relay is unreachable; the code works only on the local network", "err", relayErr)
		}
		code = opts.Code
		if code == "" {
			var err error
			if code, err = wormhole.NewCode(lanNameplate(), opts.words()); err != nil {
				mb.Close()
				return nil, nil, err
			}
		}
	}
	lw, err := lanSide(ctx, opts, mb, code)
	if err != nil {
		mb.Close()
		if rw == nil {
			return nil, nil, err
		}
		log.Debug("lan: the local mailbox failed; only the relay serves the code", "err", err)
		announce(opts, rw, code)
		return rw, func() {}, nil
	}
	for _, u := range mb.URLs() {
		log.Info("LAN mailbox (for wormhole --relay-url)", "url", u)
	}
	if rw == nil && !opts.LANOnly && opts.OnNoRelay != nil {
		opts.OnNoRelay(relayErr)
	}
	announce(opts, rw, code)
	cands := make(chan transfer.Candidate, 2)
	if rw != nil {
		cands <- transfer.Candidate{Name: "relay " + opts.Relay, W: rw}
	}
	// A wrong PAKE in the LAN mailbox (someone on the network claimed
	// the nameplate first) ends that mailbox's part: it stops being
	// advertised, and the relay's goes on.
	cands <- transfer.Candidate{Name: "lan " + mb.URL(), W: lw, Lost: func(error) { mb.Unadvertise() }}
	close(cands)
	w, err := transfer.Race(ctx, cands, nil, log)
	mb.Unadvertise() // a receiver came, or none will
	if err != nil {
		mb.Close()
		return nil, nil, err
	}
	// Even when the relay won, the mailbox is closed only after the
	// transfer: a receiver that tried both is still connected to it
	// until our first message reaches it through the relay.
	return w, func() { mb.Close() }, nil
}

// lanSide claims code in the sender's own LAN mailbox and advertises it.
func lanSide(ctx context.Context, opts Options, mb transfer.LANMailbox, code string) (*wormhole.Wormhole, error) {
	lw, err := transfer.Dial(ctx, mb.URL(), opts.Logger)
	if err != nil {
		return nil, err
	}
	if err := lw.UseCode(ctx, code); err != nil {
		lw.Close(ctx, wormhole.Errory)
		return nil, err
	}
	if err := mb.Advertise(lw.Nameplate()); err != nil {
		lw.Close(ctx, wormhole.Errory)
		return nil, err
	}
	return lw, nil
}

// relayOnly carries on with the relay alone, as without a LAN.
func relayOnly(ctx context.Context, opts Options, w *wormhole.Wormhole) (*wormhole.Wormhole, func(), error) {
	code, err := claim(ctx, w, opts)
	if err != nil {
		return nil, nil, transfer.Finish(ctx, w, err)
	}
	announce(opts, w, code)
	return w, func() {}, nil
}
