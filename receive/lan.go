package receive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// Bounds of the LAN search. The relay dial is bounded so that a relay
// that drops every packet cannot hold up the end of the race; the
// browse lasts a few seconds (the sender advertised before it printed
// the code, and mDNS answers within a second), longer when the LAN is
// all there is.
const (
	relayDialTimeout = 10 * time.Second
	lanDialTimeout   = 5 * time.Second
	lanBrowseAuto    = 5 * time.Second
	lanBrowseOnly    = 10 * time.Second
)

// meetLAN claims code on the relay (unless LANOnly) and on each mailbox
// advertised on the LAN for its nameplate, all at once, and returns the
// wormhole in which the sender's first message arrived, established
// (transfer.Race): a device advertising the same nameplate gets one
// wrong guess, as on a relay, and cannot make the relay's exchange fail.
func meetLAN(ctx context.Context, code string, opts Options) (*wormhole.Wormhole, error) {
	nameplate, err := wormhole.ParseCode(code)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	claimOn := func(url string, within time.Duration, dial func(context.Context, string, *slog.Logger) (*wormhole.Wormhole, error)) func(context.Context) (*wormhole.Wormhole, error) {
		return func(ctx context.Context) (*wormhole.Wormhole, error) {
			dctx, cancel := context.WithTimeout(ctx, within)
			w, err := dial(dctx, url, opts.Logger)
			cancel()
			if err != nil {
				return nil, err
			}
			if err := w.UseCode(ctx, code); err != nil {
				return w, err
			}
			return w, nil
		}
	}
	cands := make(chan transfer.Candidate)
	bctx, stopBrowse := context.WithCancel(ctx)
	defer stopBrowse()
	var (
		wg        sync.WaitGroup
		browseErr error
	)
	wg.Go(func() {
		defer close(cands)
		offer := func(c transfer.Candidate) {
			select {
			case cands <- c:
			case <-bctx.Done():
			}
		}
		if !opts.LANOnly {
			offer(transfer.Candidate{Name: "relay " + opts.Relay, Open: claimOn(opts.Relay, relayDialTimeout, transfer.DialRelay)})
		}
		window := lanBrowseAuto
		if opts.LANOnly {
			window = lanBrowseOnly
		}
		wctx, cancel := context.WithTimeout(bctx, window)
		defer cancel()
		browseErr = opts.LAN.Browse(wctx, nameplate, func(url string) {
			offer(transfer.Candidate{Name: "lan " + url, Open: claimOn(url, lanDialTimeout, transfer.Dial)})
		})
		if browseErr != nil {
			log.Debug("lan: cannot browse the local network", "err", browseErr)
		}
	})
	w, err := transfer.Race(ctx, cands, func(ctx context.Context, w *wormhole.Wormhole) error { return w.Await(ctx) }, log)
	stopBrowse()
	wg.Wait()
	if errors.Is(err, transfer.ErrNoMailbox) {
		if browseErr != nil {
			return nil, fmt.Errorf("look for the sender on the local network: %w", browseErr)
		}
		return nil, fmt.Errorf("no sender on the local network has nameplate %s", nameplate)
	}
	return w, err
}
