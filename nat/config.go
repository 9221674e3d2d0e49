package nat

import (
	"errors"
	"fmt"

	"github.com/ferrydrop/ferry/nat/natconf"
	"github.com/pion/stun/v4"
)

// Config configures an Agent: natconf.Config, which the zero value of
// works (host candidates only, on the real network, without mDNS).
type Config = natconf.Config

// TURNServer is a TURN relay and its long-term credentials.
type TURNServer = natconf.TURNServer

// Errors reported for a bad Config.
var (
	ErrBadSTUNURL = errors.New("nat: bad stun url")
	ErrBadTURNURL = errors.New("nat: bad turn url")
)

// serverURIs parses the configured STUN and TURN servers.
func serverURIs(c *Config) ([]*stun.URI, error) {
	uris := make([]*stun.URI, 0, len(c.STUN)+len(c.TURN))
	for _, raw := range c.STUN {
		u, err := stun.ParseURI(raw)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrBadSTUNURL, raw, err)
		}
		if u.Scheme != stun.SchemeTypeSTUN && u.Scheme != stun.SchemeTypeSTUNS {
			return nil, fmt.Errorf("%w %q: scheme must be stun", ErrBadSTUNURL, raw)
		}
		uris = append(uris, u)
	}
	for _, t := range c.TURN {
		u, err := stun.ParseURI(t.URL)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrBadTURNURL, t.URL, err)
		}
		if u.Scheme != stun.SchemeTypeTURN && u.Scheme != stun.SchemeTypeTURNS {
			return nil, fmt.Errorf("%w %q: scheme must be turn or turns", ErrBadTURNURL, t.URL)
		}
		if t.Username == "" || t.Password == "" {
			return nil, fmt.Errorf("%w %q: username and password are required", ErrBadTURNURL, t.URL)
		}
		u.Username, u.Password = t.Username, t.Password
		uris = append(uris, u)
	}
	return uris, nil
}
