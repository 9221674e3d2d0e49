package receive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"

	"github.com/ferrydrop/ferry/internal/mailbox"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/uri"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// What a program that receives needs besides Options and Run: the errors
// it tells apart, the code's forms, and a relay's list of nameplates.

// NameplateError means a code's nameplate (before its first dash) is not
// digits, as mailbox servers require (CheckCode returns it).
type NameplateError = wormhole.NameplateError

// ServerError is what the relay said when it refused something; its text
// is the relay's, shown escaped and quoted.
type ServerError = mailbox.ServerError

// DialError means the relay could not be reached or did not greet us.
type DialError = mailbox.DialError

// MOTDRecord is the message of the Info log record (Options.Logger) that
// carries the relay's message of the day, escaped and quoted, in its
// "motd" attribute, with the relay's URL, quoted too, in "relay".
const MOTDRecord = wormhole.MOTDRecord

// IsCodeURI reports whether s is a code given as its wormhole-transfer:
// URI (what a QR scanner hands over), which ParseCodeURI reads.
func IsCodeURI(s string) bool {
	return strings.HasPrefix(strings.ToLower(s), uri.Scheme+":")
}

// ParseCodeURI reads a wormhole-transfer: URI: the code, the mailbox
// server URL it names ("" for none: the default), and whether it asks the
// scanning side to send (role=leader).
func ParseCodeURI(s string) (code, relay string, leader bool, err error) {
	if !IsCodeURI(s) {
		return "", "", false, errors.New("not a " + uri.Scheme + ": URI")
	}
	t, err := uri.Parse(uri.Scheme + s[len(uri.Scheme):])
	if err != nil {
		return "", "", false, err
	}
	return t.Code, t.RelayURL(), t.Leader, nil
}

// Nameplates asks a relay for the nameplates waiting on it (for
// completing a code being typed), over one connection kept until Close.
type Nameplates struct {
	Relay string // the mailbox server's URL, or a pool (the first that answers is asked)

	mu sync.Mutex
	mb *mailbox.Client
}

// List returns the relay's nameplates (digits only; anything else a relay
// lists is left out). It connects on first use and again after a failure.
func (n *Nameplates) List(ctx context.Context) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mb == nil {
		pool, err := mailbox.ParsePool(n.Relay)
		if err != nil {
			return nil, err
		}
		mb, _, _, err := mailbox.DialPool(ctx, pool, 0, mailbox.PoolDialTimeout, nil)
		if err != nil {
			return nil, err
		}
		side := make([]byte, 5)
		rand.Read(side)
		if err := mb.Bind(ctx, wormhole.AppID, hex.EncodeToString(side), [2]string{"ferry", transfer.Version}); err != nil {
			mb.Close()
			return nil, err
		}
		n.mb = mb
	}
	ids, err := n.mb.List(ctx)
	if err != nil {
		n.mb.Close()
		n.mb = nil
		return nil, err
	}
	out := ids[:0]
	for _, id := range ids {
		if mailbox.ValidNameplate(id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Close ends the connection, if any.
func (n *Nameplates) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mb != nil {
		n.mb.Close()
		n.mb = nil
	}
}

// RelayDefaults say which of a transfer's transit relay and STUN servers
// are defaults that its mailbox relay's node may replace with its own
// (FromRelay).
type RelayDefaults = transfer.RelayDefaults
