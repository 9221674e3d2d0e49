package send

import (
	"github.com/ferrydrop/ferry/internal/classic"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/uri"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// What a program that sends needs besides Options: ferry's version, the
// text size limit, the transports and the LAN modes (shared with package
// receive, which has the same names).

// Version is ferry's version, as it announces itself to relays and peers.
const Version = transfer.Version

// MaxText is the largest text message, in bytes.
const MaxText = transfer.MaxText

// The transports FileOptions.Transport (and receive.Options.Transport)
// name.
const (
	TransportAuto   = transfer.TransportAuto   // race everything, prefer direct TCP
	TransportTCP    = transfer.TransportTCP    // direct TCP only
	TransportICE    = transfer.TransportICE    // ICE with QUIC (host and server-reflexive pairs)
	TransportRelay  = transfer.TransportRelay  // ICE with QUIC through a TURN server only
	TransportWebRTC = transfer.TransportWebRTC // a WebRTC data channel only
)

// CheckTransport reports whether t is one of the transports.
func CheckTransport(t string) error { return transfer.CheckTransport(t) }

// LAN is the local network where a sender serves and advertises a
// mailbox of its own (Options.LAN; nil: none).
type LAN = transfer.LAN

// How the LAN is used (ferry's --lan).
const (
	LANAuto = transfer.LANAuto // the relay and the LAN, whichever has the peer
	LANOnly = transfer.LANOnly // the LAN only
	LANOff  = transfer.LANOff  // the relay only, nothing advertised
)

// DefaultRelay is the mailbox server Options.Relay means when empty: the
// public Magic Wormhole one.
const DefaultRelay = wormhole.DefaultRelay

// DefaultTransitRelay is the public transit relay classic clients use,
// as ParseTransitRelay reads it.
const DefaultTransitRelay = classic.DefaultRelay

// ParseTransitRelay reads a transit relay given as "tcp:HOST:PORT", as the
// Python client writes it, or "HOST:PORT" into the HOST:PORT
// FileOptions.TransitRelay takes; "" and "none" mean no relay.
func ParseTransitRelay(s string) (string, error) { return classic.ParseRelay(s) }

// The bounds of a connection (FileOptions.ConnectTimeout and IdleTimeout
// when zero).
const (
	DefaultConnectTimeout = transit.DefaultConnectTimeout
	DefaultIdleTimeout    = transit.DefaultIdleTimeout
)

// DefaultStripes is how many direct TCP connections a transfer stripes
// over by default where the kernel has no BBR (FileOptions.Stripes), and
// MaxStripes the most it takes.
const (
	DefaultStripes = transfer.DefaultStripes
	MaxStripes     = transfer.MaxStripes
)

// ErrStalled means nothing moved on the connection for the idle timeout.
var ErrStalled = transit.ErrStalled

// CheckCode says whether code, one given by the user (Options.Code), has
// the shape of a code: a nameplate of digits, then words, joined by dashes
// (a *receive.NameplateError when the nameplate is not digits).
func CheckCode(code string) error {
	_, err := wormhole.ParseCode(code)
	return err
}

// AppLink is the wormhole-transfer: URI of code on the mailbox server
// relay (left out when it is the default), which Magic Wormhole apps open:
// what a QR code for them holds.
func AppLink(code, relay string) string {
	return uri.Format(uri.Transfer{Code: code, Rendezvous: relay})
}

// RelayDefaults say which of a transfer's transit relay and STUN servers
// are defaults that its mailbox relay's node may replace with its own
// (FromRelay).
type RelayDefaults = transfer.RelayDefaults
