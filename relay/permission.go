package relay

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"strconv"

	"github.com/ferrydrop/ferry/internal/hashcash"
)

// The welcome's your-address and permission-required, and the
// submit-permissions command.
//
// your-address (magic-wormhole-mailbox-server 0.8) tells a client the
// address and port it connected from, as the server saw them.
//
// With Config.HashcashBits set the server requires a proof of work before
// bind (server-protocol.md, "Permission to Use the Server"): the welcome
// names the bits and a resource made afresh for each connection, so a
// stamp earns that one connection and nothing else (none is worth
// replaying, and none need be remembered). A client that binds without a
// valid stamp, or sends a bad one, is answered "permission denied".

// maxHashcashBits is the most work Config.HashcashBits may ask for (what
// ferry clients do at most).
const maxHashcashBits = hashcash.MaxBits

type yourAddress struct {
	IPv4 string `json:"ipv4,omitempty"`
	IPv6 string `json:"ipv6,omitempty"`
	Port int    `json:"port"`
}

// yourAddressOf is the welcome's your-address for a client at remoteAddr
// (HOST:PORT), or nil when it cannot be read. An IPv4-mapped IPv6 address
// is reported as IPv4, as the reference server does.
func yourAddressOf(remoteAddr string) *yourAddress {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return nil
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		return &yourAddress{IPv4: a.String(), Port: int(ap.Port())}
	}
	return &yourAddress{IPv6: a.WithZone("").String(), Port: int(ap.Port())}
}

type hashcashParams struct {
	Bits     int    `json:"bits"`
	Resource string `json:"resource"`
}

type permissionRequired struct {
	Hashcash *hashcashParams `json:"hashcash,omitempty"`
}

// newResource is a connection's hashcash resource: 16 random hex digits.
func newResource() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// permissionRequired is what the welcome asks of this connection, or nil.
func (c *conn) permissionRequired() *permissionRequired {
	if c.srv.cfg.HashcashBits <= 0 {
		return nil
	}
	return &permissionRequired{Hashcash: &hashcashParams{Bits: c.srv.cfg.HashcashBits, Resource: c.resource}}
}

// errPermission is what a client without permission is told.
const errPermission = clientError("permission denied")

func (c *conn) handleSubmitPermissions(f fields) error {
	if c.srv.cfg.HashcashBits <= 0 {
		return nil // nothing required: accepted, as by a server that allows all
	}
	if c.app != "" {
		return clientError("submit-permissions must come before bind")
	}
	if c.didSubmit {
		return clientError("only one submit-permissions per connection")
	}
	c.didSubmit = true
	method, _, err := f.str("method")
	if err != nil {
		return err
	}
	stamp, _, err := f.str("stamp")
	if err != nil {
		return err
	}
	if method != "hashcash" {
		c.log.Debug("permission refused", "method", strconv.Quote(truncate(method)))
		return errPermission
	}
	if err := hashcash.Check(stamp, c.srv.cfg.HashcashBits, c.resource, c.srv.cfg.now()); err != nil {
		c.log.Debug("permission refused", "err", err)
		return errPermission
	}
	c.permitted = true
	return nil
}

// truncate cuts a client's string for the log.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
