package mailbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ferrydrop/ferry/escape"
	"github.com/ferrydrop/ferry/internal/hashcash"
)

// permission is the welcome's permission-required (server-protocol.md,
// "Permission to Use the Server"): the methods the relay accepts before
// bind. The zero value requires nothing.
type permission struct {
	required bool     // the welcome carried permission-required
	methods  []string // every method it named, for the error when none is known
	none     bool     // "none": bind as usual
	hashcash *struct {
		Bits     int    `json:"bits"`
		Resource string `json:"resource"`
	}
}

// parsePermission reads permission-required; what it cannot read counts
// as a requirement with no method ferry knows.
func parsePermission(raw json.RawMessage) permission {
	if len(raw) == 0 || string(raw) == "null" {
		return permission{}
	}
	p := permission{required: true}
	var methods map[string]json.RawMessage
	if err := json.Unmarshal(raw, &methods); err != nil {
		return p
	}
	for name, opts := range methods {
		p.methods = append(p.methods, name)
		switch name {
		case "none":
			p.none = true
		case "hashcash":
			var hc struct {
				Bits     int    `json:"bits"`
				Resource string `json:"resource"`
			}
			if json.Unmarshal(opts, &hc) == nil {
				p.hashcash = &hc
			}
		}
	}
	slices.Sort(p.methods)
	return p
}

// submitPermission earns the permission the welcome asked for before
// bind: nothing when it allows "none", else a hashcash stamp
// (submit-permissions). A relay that asks only for methods ferry does not
// know, or for more work than hashcash.MaxBits, is refused.
func (c *Client) submitPermission(ctx context.Context) error {
	p := c.permission
	if !p.required || p.none {
		return nil
	}
	if p.hashcash == nil {
		names := make([]string, len(p.methods))
		for i, m := range p.methods {
			names[i] = escape.Quote(m)
		}
		return fmt.Errorf("the relay requires permission by a method ferry does not know (%s)", strings.Join(names, ", "))
	}
	start := time.Now()
	stamp, err := hashcash.Mint(ctx, p.hashcash.Bits, p.hashcash.Resource, start)
	if err != nil {
		return fmt.Errorf("the relay requires a proof of work: %w", err)
	}
	c.log.Debug("mailbox: hashcash minted", "bits", p.hashcash.Bits, "took", time.Since(start))
	if _, err := c.command(ctx, "submit-permissions", "", map[string]any{"method": "hashcash", "stamp": stamp}); err != nil {
		return fmt.Errorf("submit permission to relay: %w", err)
	}
	return nil
}

// yourAddress reads the welcome's your-address ({"ipv4"|"ipv6": ADDR,
// "port": N}); the zero Addr when it is absent or unreadable.
func yourAddress(raw json.RawMessage) netip.Addr {
	var you struct {
		IPv4 string `json:"ipv4"`
		IPv6 string `json:"ipv6"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &you) != nil {
		return netip.Addr{}
	}
	if a, err := netip.ParseAddr(you.IPv4); err == nil && a.Unmap().Is4() {
		return a.Unmap()
	}
	if a, err := netip.ParseAddr(you.IPv6); err == nil && a.Is6() && !a.Is4In6() {
		return a.WithZone("")
	}
	return netip.Addr{}
}
