package transfer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ferrydrop/ferry/internal/stripe"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// Striping: when the race chose direct TCP and both sides offered
// Transports.Stripes > 1, the two sides open more direct connections, one
// transit race each (the same listener and hints, a key of their own per
// connection), and carry the stream over all of them with package stripe:
// on a lossy link each TCP connection backs off alone, so n connections
// move about n times what one does (scripts/bench measures 1, 2 and 4).
// Both sides stripe whenever they agreed to, with however many
// connections they got; one that only one side got dies at once and costs
// nothing. Pieces of a connection that fails mid-transfer go out again on
// the others.
//
// How many: on an emulated 100 Mbit/s link with 50 ms RTT and 0.5% loss
// (scripts/bench), one CUBIC connection moved 0.46 MB/s and four 1.9 MB/s;
// one BBR connection (transit.CongestionControl, which ferry asks for)
// 10.0 MB/s and four 9.6 MB/s; over loopback one moved 450 to 490 MB/s
// and four 330 to 360 MB/s, with twice the memory. So by default
// (LinkOptions.Stripes 0) a sender stripes over DefaultStripes
// connections only where its kernel did not give it BBR, and a receiver
// accepts what the sender offers.
const (
	// DefaultStripes is how many connections a side offers to stripe
	// over when it has no BBR.
	DefaultStripes = 4
	// MaxStripes caps what a side may ask for.
	MaxStripes = 8
	// stripeRaceTimeout bounds the wait for all the extra connections.
	stripeRaceTimeout = 3 * time.Second
)

// offeredStripes is what we offer in Transports.Stripes, our listener's
// congestion control being cc.
func (o LinkOptions) offeredStripes(cc string) int {
	switch {
	case o.Stripes == 0 && o.Sender && cc == "bbr":
		return 1
	case o.Stripes == 0:
		return DefaultStripes
	case o.Stripes < 1:
		return 1
	}
	return min(o.Stripes, MaxStripes)
}

// stripesWith is how many connections both sides agreed to stripe over:
// 1 (no striping) with a peer that offered none.
func (l *Link) stripesWith(peer Transports) int {
	return max(1, min(l.stripes, peer.Stripes, MaxStripes))
}

// addStripes opens n-1 more direct connections beside first and returns
// the striped connection over all of them.
func (l *Link) addStripes(ctx context.Context, w *wormhole.Wormhole, role transit.Role, peer Transports, first *Conn, n int) (*Conn, error) {
	paths := []stripe.Path{{ReadWriteCloser: first.raw, Name: PathDirect + " 1"}}
	rctx, cancel := context.WithTimeout(ctx, stripeRaceTimeout)
	defer cancel()
	for k := 1; k < n; k++ {
		cfg := transit.Config{Key: AttemptKey(w, "ferry/stripe/v1/"+strconv.Itoa(k), l.opts.Attempt), Role: role,
			Listener: l.tcp, Peer: peer.TCP, Logger: l.log}
		c, _, err := transit.Race(rctx, cfg)
		if err != nil {
			l.log.Debug("link: no more connections to stripe over", "have", len(paths), "err", err)
			break
		}
		paths = append(paths, stripe.Path{ReadWriteCloser: c, Name: PathDirect + " " + strconv.Itoa(k+1)})
	}
	if ctx.Err() != nil {
		for _, p := range paths {
			p.Close()
		}
		return nil, ctx.Err()
	}
	sc, err := stripe.New(paths, stripe.Config{Logger: l.log})
	if err != nil {
		return nil, err
	}
	l.log.Debug("link: striping", "connections", len(paths))
	c := newConn(sc, PathDirect)
	c.Stripes = len(paths)
	return c, nil
}

// Describe names the path for the user: "direct tcp", or "direct tcp ×4"
// when the stream is striped over four connections.
func (c *Conn) Describe() string {
	if c.Stripes > 1 {
		return fmt.Sprintf("%s ×%d", c.Path, c.Stripes)
	}
	return c.Path
}
