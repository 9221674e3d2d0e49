package relay

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// The welcome's ferry_transit and ferry_stun: where this node's own
// transit relay and STUN server are (Config.Transit, Config.STUN).

// validService reports whether a is HOST:PORT or :PORT, HOST a name or an
// IP address and PORT 1 to 65535.
func validService(a string) bool {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return false
	}
	return host == "" || validHost(host)
}

// validHost reports whether h is an IP address (without a zone) or a DNS
// name of letters, digits, hyphens and dots, at most 253 bytes, whose
// last label is not all digits (ferry clients refuse those: a resolver
// may read "10.1" as an IPv4 address).
func validHost(h string) bool {
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Zone() == ""
	}
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false
	}
	for _, r := range h {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// serviceURL is the welcome's value for the service at addr (a checked
// Config.Transit or Config.STUN) for a client that asked for reqHost: the
// scheme, then addr, whose empty host is the host the client asked for.
// It is "" when there is no service, or when the host is empty and the
// client's Host is not a name or an IP address.
func serviceURL(scheme, addr, reqHost string) string {
	if addr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if host == "" {
		host = reqHost
		if h, _, err := net.SplitHostPort(reqHost); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if !validHost(host) {
			return ""
		}
	}
	return scheme + net.JoinHostPort(host, port)
}
