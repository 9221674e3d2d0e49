package mailbox

import (
	"encoding/json"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// What a relay's welcome tells ferry clients besides the protocol's
// keys: where its browser page is (ferry_page) and its node's own transit
// relay and STUN server (ferry_transit, ferry_stun). The welcome is
// unauthenticated: each value is checked here, and what a client does
// with a checked one is bounded by its user (package transfer, welcome.go).

// MaxPageURL caps the page address a relay may announce.
const MaxPageURL = 1024

// PageURL checks a page address a relay announced: an absolute http or
// https URL without user name, query or fragment, at most MaxPageURL
// bytes, of printable ASCII. It returns the URL with a trailing slash on
// an empty path, or "" when it is not acceptable.
func PageURL(s string) string {
	if s == "" || len(s) > MaxPageURL {
		return ""
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f {
			return ""
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" || strings.ContainsAny(s, "?#") {
		return ""
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String()
}

// parseWelcome reads the body of the server's welcome. A welcome that
// carries an error (the server turns every client away) is returned as a
// *ServerError.
func parseWelcome(raw json.RawMessage) (Welcome, error) {
	var w struct {
		MOTD       string          `json:"motd"`
		CurrentCLI string          `json:"current_cli_version"`
		Error      string          `json:"error"`
		Page       string          `json:"ferry_page"`
		Transit    string          `json:"ferry_transit"`
		STUN       string          `json:"ferry_stun"`
		You        json.RawMessage `json:"your-address"`
		Permission json.RawMessage `json:"permission-required"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &w); err != nil {
			return Welcome{}, err
		}
	}
	if w.Error != "" {
		return Welcome{}, &ServerError{Msg: w.Error}
	}
	return Welcome{MOTD: w.MOTD, CurrentCLIVersion: w.CurrentCLI, Page: PageURL(w.Page),
		Transit: ServiceAddr(w.Transit, "tcp:"), STUN: ServiceAddr(w.STUN, "stun:"),
		YourAddress: yourAddress(w.You), permission: parsePermission(w.Permission)}, nil
}

// MaxServiceAddr caps a transit relay or STUN server a relay announces.
const MaxServiceAddr = 300

// ServiceAddr checks a service a relay announced, "tcp:HOST:PORT" or
// "stun:HOST:PORT" (scheme says which): HOST an IP address without a zone
// or a DNS name (letters, digits, hyphens, dots; at most 253 bytes),
// PORT 1 to 65535, the whole at most MaxServiceAddr bytes. It returns
// HOST:PORT, or "" when it is not acceptable.
func ServiceAddr(s, scheme string) string {
	if len(s) > MaxServiceAddr || !strings.HasPrefix(s, scheme) {
		return ""
	}
	host, port, err := net.SplitHostPort(s[len(scheme):])
	if err != nil {
		return ""
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port || !validHost(host) {
		return ""
	}
	return net.JoinHostPort(host, port)
}

// validHost reports whether h is an IP address without a zone or a DNS
// name: dot-separated labels of letters, digits and hyphens, at most 253
// bytes, the last not all digits (so that no resolver reads "10.1" or
// "2130706433" as an IPv4 address).
func validHost(h string) bool {
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Zone() == ""
	}
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
