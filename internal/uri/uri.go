// Package uri is the wormhole-transfer: URI of the Magic Wormhole
// protocols' uri-scheme: what ferry's QR code holds, so that a phone app
// that scans it can receive.
//
//	wormhole-transfer:<percent-encoded code>[?version=0&rendezvous=<url>&role=follower|leader]
package uri

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Scheme is the URI scheme.
const Scheme = "wormhole-transfer"

// DefaultRendezvous is the mailbox server a URI without rendezvous= means
// (the public relay, without its /v1 path).
const DefaultRendezvous = "ws://relay.magic-wormhole.io:4000"

// Transfer is the content of a wormhole-transfer URI.
type Transfer struct {
	Code       string
	Rendezvous string // mailbox server without "/v1"; DefaultRendezvous when empty
	Leader     bool   // role=leader: the scanning device sends
}

// Format encodes t. The rendezvous is omitted when it is the default.
func Format(t Transfer) string {
	s := Scheme + ":" + url.PathEscape(t.Code)
	q := url.Values{}
	if r := rendezvous(t.Rendezvous); r != "" && r != DefaultRendezvous {
		q.Set("rendezvous", r)
	}
	if t.Leader {
		q.Set("role", "leader")
	}
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// Parse decodes a wormhole-transfer URI. As the spec asks, unknown fields
// and versions are errors, not ignored.
func Parse(s string) (Transfer, error) {
	var t Transfer
	rest, ok := strings.CutPrefix(s, Scheme+":")
	if !ok {
		return t, fmt.Errorf("not a %s: URI", Scheme)
	}
	if strings.HasPrefix(rest, "//") {
		return t, errors.New("wormhole-transfer URIs have no host")
	}
	rawCode, rawQuery, _ := strings.Cut(rest, "?")
	code, err := url.PathUnescape(rawCode)
	if err != nil || code == "" {
		return t, errors.New("the URI holds no code")
	}
	t.Code = code
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return t, fmt.Errorf("read URI fields: %w", err)
	}
	for k, v := range q {
		if len(v) != 1 {
			return t, fmt.Errorf("URI field %q given %d times", k, len(v))
		}
		switch k {
		case "version":
			if v[0] != "0" {
				return t, fmt.Errorf("unsupported URI version %q", v[0])
			}
		case "rendezvous":
			u, err := url.Parse(v[0])
			if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
				return t, fmt.Errorf("URI rendezvous %q is not a ws:// or wss:// URL", v[0])
			}
			// The scheme is case-insensitive; keep it as url.Parse
			// read it, lower case, and the rest as given.
			// Without /v1 or a trailing slash, as Format writes it.
			t.Rendezvous = rendezvous(u.Scheme + v[0][len(u.Scheme):])
		case "role":
			switch v[0] {
			case "follower":
			case "leader":
				t.Leader = true
			default:
				return t, fmt.Errorf("unknown URI role %q", v[0])
			}
		default:
			return t, fmt.Errorf("unknown URI field %q", k)
		}
	}
	return t, nil
}

// rendezvous is a mailbox server URL as the URI carries it: without the
// /v1 endpoint and without a trailing slash.
func rendezvous(relay string) string {
	for {
		r := strings.TrimSuffix(strings.TrimSuffix(relay, "/"), "/v1")
		if r == relay {
			return r
		}
		relay = r
	}
}

// RelayURL is the mailbox server URL the URI names: its rendezvous with
// the /v1 endpoint added (the scheme leaves that to the client), or ""
// when it names none (DefaultRendezvous).
func (t Transfer) RelayURL() string {
	if t.Rendezvous == "" {
		return ""
	}
	return rendezvous(t.Rendezvous) + "/v1"
}
