// Package receive is the receiving side of ferry: it takes a code, meets
// the sender through a mailbox server, and accepts what is offered.
package receive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/nat/natconf"
)

// ErrUnsupported means the sender offered something this build cannot take.
var ErrUnsupported = errors.New("the sender offered something ferry cannot receive yet")

// Options configure a receive. The zero value uses the public relay and
// refuses files (set Accept to take them).
type Options struct {
	// Relay is the mailbox server's URL, or a pool of them separated by
	// commas (the first that answers is used, the next one that answers
	// when its connection drops); the public relay when empty.
	Relay  string
	Verify func(string) error // shown the verifier (hex); an error aborts
	Logger *slog.Logger       // nil: silent

	// LAN, when set, is the local network: the receiver also looks for
	// the code's nameplate there, for a few seconds, while it connects
	// to the relay, and carries on in whichever mailbox has the sender
	// (lan.go). With LANOnly the relay is not used at all.
	LAN     transfer.LAN
	LANOnly bool

	// Accept is shown what the sender offers and says whether to take it;
	// nil refuses every file offer.
	Accept    func(transfer.Manifest) error
	Out       string    // folder to land files in; "" is the current folder
	Stdout    io.Writer // with Out == "-": where the single file's content goes
	Overwrite bool      // replace existing names
	// Save, when set, takes the transfer instead of Out: it is called
	// once, after Accept, with what SaveAs says the transfer becomes, and
	// returns where to write it (a browser's download).
	Save func(name string, size int64, isZip bool) (Output, error)
	// AllowDotfiles accepts top-level names that start with a dot
	// (refused by default: a .bashrc or .profile in the current folder).
	AllowDotfiles bool
	Transport     string // auto, tcp, ice, relay or webrtc
	// TransitRelay is the transit relay (HOST:PORT) offered to classic
	// senders; "" offers none.
	TransitRelay string
	// FromRelay says which of TransitRelay and NAT.STUN are defaults
	// (the user chose neither) that the mailbox relay's node may replace
	// with its own transit relay and STUN server, when its welcome names
	// them (ferry_transit, ferry_stun; see RelayDefaults), and a
	// default transit relay gives way to the one a ferry sender offers. The zero value
	// replaces nothing.
	FromRelay RelayDefaults
	// DialTransit connects to transit relays; nil dials TCP. A browser
	// has no TCP and reaches its relay over WebSocket
	// (DialTransitWebSocket).
	DialTransit func(ctx context.Context, addr string) (net.Conn, error)
	NAT         natconf.Config // STUN and TURN servers for ICE and WebRTC
	Progress    func(received, total int64)
	// ConnectTimeout bounds the search for a path to the other side, and
	// IdleTimeout how long a connection may carry nothing while bytes are
	// owed (30 s each when 0).
	ConnectTimeout, IdleTimeout time.Duration
	// OnConnecting, if set, is told the paths being tried when finding
	// one takes more than a few seconds.
	OnConnecting func(paths []string)
	// Stripes is how many direct TCP connections to carry the stream over
	// at once when direct TCP wins and the peer stripes too (on a lossy
	// link each loss-based connection backs off alone, so together they
	// move more). 0 is the default: the sender stripes over DefaultStripes
	// only where its kernel has no BBR congestion control (which keeps a
	// lossy link busy with one connection), the receiver takes what the
	// sender offers; 1 or less is one connection.
	Stripes int
	// ReconnectTimeout, when positive, lets a transfer whose data path
	// breaks wait that long for the sender to find a new one through the
	// mailbox, and go on from what is held (reconnect within a run); 0
	// fails at once, as before. Only transfers that resume (files with
	// hashes, partials kept) reconnect.
	ReconnectTimeout time.Duration
	// OnReconnecting, if set, is told each reconnect attempt (from 1) and
	// what ended the path before it.
	OnReconnecting func(attempt int, why error)
	// Stream says how a ferry peer's stream is opened: the zero value
	// with Go's AES, one chunk at a time; a browser passes WebCrypto's,
	// several chunks ahead.
	Stream crypto.StreamOptions
	// NoResume discards what an earlier receive of the same offer left in
	// Out instead of resuming it, and keeps nothing if this one fails.
	// Otherwise a transfer from a ferry sender into a folder that fails
	// is kept (staged, with a record), and the next one of the same
	// files resumes it; Resume is told what is resumed or started over.
	NoResume bool
	Resume   Resume
	// SumsTimeout bounds the wait for file hashes that a ferry sender
	// sends after its offer (it was still hashing): before the answer
	// to an offer whose partials are in Out, and between the end of the
	// stream and the final names (transfer.DefaultSumsTimeout when 0).
	SumsTimeout time.Duration
	// OfferTimeout bounds the wait for the sender's offer once the two
	// sides met (keys and versions exchanged): the mailbox relay never
	// says that the other side went away, so a sender that died before
	// offering would be waited for without end. Senders offer at once
	// (ferry's before its hashes, sealed or not; classic senders after
	// their transit hints), unless a human still compares the verifier
	// on the sending side. The wait for the sender to appear is not
	// bounded by it. DefaultOfferTimeout when 0.
	OfferTimeout time.Duration

	// Keys returns the keyring that opens sealed transfers (ferry send
	// --to/--sign): your secret keys, and the public keys of the senders
	// whose signatures you accept. Nil refuses sealed transfers.
	Keys func() (openpgp.EntityList, error)
	// KeyPassphrase unlocks your secret key for a transfer sealed to it.
	KeyPassphrase func(*openpgp.Entity) ([]byte, error)
	// OnSealed is told, before Accept, that the transfer is sealed: to
	// which of your keys (nil when it is only signed), and whether it is
	// signed (the signature is checked once everything arrived).
	OnSealed func(to *openpgp.Entity, signed bool)
	// OnSigner is told, before Accept, who signed a transfer sealed to
	// your key: the list of names is sealed and signed like the files,
	// and its signature was checked against the keyring.
	OnSigner func(*crypto.Signer)
}

// DefaultOfferTimeout is how long a receiver waits for the offer after
// the sides met, when Options.OfferTimeout is 0.
const DefaultOfferTimeout = 2 * time.Minute

// ErrNoOffer means the sides met but no offer came within
// Options.OfferTimeout: the sender stopped (its program ended, it lost
// its network) before offering anything. The error wraps it and says
// how long nothing arrived.
var ErrNoOffer = errors.New("the sender stopped before offering anything")

// errOfferWait is the cause of the wait for the offer running out.
var errOfferWait = errors.New("no offer in time")

func (opts Options) offerTimeout() time.Duration {
	if opts.OfferTimeout > 0 {
		return opts.OfferTimeout
	}
	return DefaultOfferTimeout
}

// Result is what arrived.
type Result struct {
	Text     string            // a text message, or
	Manifest transfer.Manifest // the files and folders that landed
	Duration time.Duration
	Path     string // which connection carried them

	// A sealed transfer: the key of yours it was sealed to (nil if it was
	// only signed) and who signed it (nil if unsigned), checked against
	// the keyring.
	SealedTo *openpgp.Entity
	Signer   *crypto.Signer
}

// Run receives with the code the sender gave.
func Run(ctx context.Context, code string, opts Options) (res *Result, err error) {
	var w *wormhole.Wormhole
	if opts.LAN != nil {
		if w, err = meetLAN(ctx, code, opts); err != nil {
			return nil, err
		}
		defer func() { err = transfer.Finish(ctx, w, err) }()
	} else {
		if w, err = transfer.DialRelay(ctx, opts.Relay, opts.Logger); err != nil {
			return nil, err
		}
		defer func() { err = transfer.Finish(ctx, w, err) }()
		if err := w.UseCode(ctx, code); err != nil {
			return nil, err
		}
	}
	if err := transfer.Establish(ctx, w, opts.Verify); err != nil {
		return nil, err
	}
	ch := transfer.NewChannel(ctx, w)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if transfer.IsFerry(w.PeerVersions()) {
		opts.Logger.Debug("the sender is ferry", "protocol", "ferry")
	} else {
		opts.Logger.Debug("the sender is a classic Magic Wormhole client", "protocol", "classic")
	}
	var peerTransit json.RawMessage
	// Only the wait for the offer is bounded, not what follows it.
	wait := opts.offerTimeout()
	octx, stop := context.WithTimeoutCause(ctx, wait, errOfferWait)
	defer stop()
	for {
		e, err := ch.Next(octx)
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(octx), errOfferWait) {
			return nil, &transfer.Refusal{Reason: "the receiver stopped waiting for an offer",
				Err: fmt.Errorf("%w (nothing arrived for %s)", ErrNoOffer, wait)}
		}
		if err != nil {
			return nil, fmt.Errorf("wait for the sender's offer: %w", err)
		}
		switch {
		case e.Ferry != nil && e.Ferry.Offer != nil:
			return receiveFiles(ctx, w, ch, *e.Ferry.Offer, opts)
		case e.Error != nil:
			return nil, transfer.PeerError("the sender", *e.Error)
		case e.Offer != nil && e.Offer.Message != nil:
			if len(*e.Offer.Message) > transfer.MaxText {
				return nil, &transfer.Refusal{Reason: fmt.Sprintf("text message is larger than %d bytes", transfer.MaxText)}
			}
			if err := ch.Send(ctx, transfer.Envelope{Answer: &transfer.Answer{MessageAck: "ok"}}); err != nil {
				return nil, err
			}
			return &Result{Text: *e.Offer.Message}, nil
		case e.Offer != nil:
			return receiveClassic(ctx, w, ch, e.Offer, peerTransit, opts)
		case e.Transit != nil:
			peerTransit = e.Transit // a classic sender's hints come before its offer
		}
	}
}

// CompleteCode returns the ways a partly typed code can go on (at most
// max; 0 for all): after the nameplate and a hyphen, each word from the
// PGP word list, for a code of words words (2 when 0).
func CompleteCode(prefix string, words, max int) []string {
	if words == 0 {
		words = 2
	}
	return wormhole.Complete(prefix, words, max)
}

// CheckCode says whether code has the shape of a code (NUMBER-WORD-WORD).
func CheckCode(code string) error {
	_, err := wormhole.ParseCode(code)
	return err
}

// ErrWrongCode means the two sides' keys did not match: a mistyped code,
// or someone guessing it.
var ErrWrongCode = wormhole.ErrWrongCode

// ErrConnectionLost means the data path to the sender failed before the
// transfer was complete: the sender went away (its program ended or it
// lost its network), or the network between failed. Nothing that
// arrived got its final name. The error wraps it, with what the path
// said in parentheses.
var ErrConnectionLost = errors.New("the sender went away, or the connection to it broke, before the transfer was complete")

// NoPathError means no connection to the other side could be made; it
// names the paths that were tried.
type NoPathError = transit.NoPathError

// DialTransitWebSocket connects to a transit relay's WebSocket endpoint
// (ferry relay's /transit): how a browser, which has no TCP, reaches it.
func DialTransitWebSocket(ctx context.Context, url string) (net.Conn, error) {
	return transit.DialWebSocket(ctx, url)
}
