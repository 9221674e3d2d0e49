package transfer

import (
	"github.com/ferrydrop/ferry/internal/rtc"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/nat/natconf"
)

// Ferry is a message only ferry peers exchange (both announced "ferry" in
// app_versions). Exactly one field is set.
type Ferry struct {
	Offer  *FerryOffer     `json:"offer,omitempty"`  // sender: what, and how to reach it
	Accept *Transports     `json:"accept,omitempty"` // receiver: yes, and how to reach it
	Have   *Have           `json:"have,omitempty"`   // receiver, before Accept: what it holds already
	ICE    *natconf.Signal `json:"ice,omitempty"`    // trickled ICE candidates
	RTC    *rtc.Signal     `json:"rtc,omitempty"`    // WebRTC offer, answer and candidates
	Retry  *Retry          `json:"retry,omitempty"`  // either side, after the data path broke: a new path
	Sums   *LateSums       `json:"sums,omitempty"`   // sender, after an offer with SumsLater: the file hashes
}

// Retry asks for, and answers with, a new data path after the one in use
// broke mid-transfer (reconnect within a run). The sender sends it first
// with the next attempt number; the receiver answers with the same
// number, what it holds by then (Have), and how to reach it.
type Retry struct {
	Attempt    int        `json:"attempt"` // 1 for the first reconnect, and so on
	Transports Transports `json:"transports"`
	Have       *Have      `json:"have,omitempty"` // receiver only
}

// Stream kinds inside the encrypted peer stream.
const (
	StreamTar = "tar" // files and folders
	StreamRaw = "raw" // one file of unknown length (stdin)
)

// FerryOffer is the sender's offer to a ferry receiver.
type FerryOffer struct {
	Manifest   Manifest   `json:"manifest"`
	Stream     string     `json:"stream"`
	Transports Transports `json:"transports"`
	Sealed     *Sealed    `json:"sealed,omitempty"`
	// PrefixCheck says the sender checks what a receiver holds of a file
	// and cannot vouch for (Held.Prefix); a receiver does not offer such
	// partial files to a sender that does not.
	PrefixCheck bool `json:"prefix_check,omitempty"`
}

// Sealed says the stream's plaintext is itself an OpenPGP message (ferry
// send --to/--sign): encrypted to the receiver's key, signed by the
// sender's, or both.
type Sealed struct {
	To     []string `json:"to,omitempty"` // recipients' key fingerprints, upper-case hex
	Signed bool     `json:"signed,omitempty"`
	// Manifest, set exactly when To is, is the JSON of the offer's
	// manifest as an OpenPGP message sealed like the stream; the offer's
	// own Manifest is then empty, so that the names and sizes, too, are
	// for the key holder only, even if the code leaks.
	Manifest []byte `json:"manifest,omitempty"`
}

// Caps on a sealed offer.
const (
	MaxSealedTo       = 16      // recipients an offer may name
	MaxSealedManifest = 1 << 20 // bytes of the sealed manifest, and of its plaintext
)

// Transports are the ways a side can be reached.
type Transports struct {
	TCP         []transit.Hint `json:"tcp,omitempty"`
	ICE         *ICEParams     `json:"ice,omitempty"`
	Relays      []string       `json:"relays,omitempty"`      // transit relays, HOST:PORT
	Fingerprint string         `json:"fingerprint,omitempty"` // hex SHA-256 of the QUIC certificate
	WebRTC      bool           `json:"webrtc,omitempty"`      // can open a WebRTC data channel (signalled as Ferry.RTC)
	// Stripes is how many direct TCP connections the side would carry
	// the stream over at once (see link_stripe.go); 0 from a side that
	// does not stripe.
	Stripes int `json:"stripes,omitempty"`
}

// ICEParams are a side's ICE credentials.
type ICEParams struct {
	Ufrag string `json:"ufrag"`
	Pwd   string `json:"pwd"`
}

// Done is the receiver's final acknowledgement, sent on the data path
// (WriteDone) once the stream authenticated and the files are in place.
type Done struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}
