package web

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Options say what the page may use besides the mailbox at /v1 on the
// relay that serves it. Addresses are given as ports: the page is told
// them on the host it was loaded from (the name the browser used).
type Options struct {
	// TransitPort is the relay's TCP transit relay, which the page
	// reaches over WebSocket at /transit and names to its peer as
	// HOST:PORT (0: none).
	TransitPort int
	// STUNPort and TURNPort are the relay's STUN and TURN servers (UDP;
	// 0: none), for WebRTC through NATs.
	STUNPort, TURNPort int
	// TURNCredentials, when set, gives each request for the page's
	// settings a TURN user name and password (time-limited ones, from a
	// shared secret).
	TURNCredentials func() (user, pass string)
	// Host, if not empty, is the host those addresses are on instead of
	// the one the page was loaded from: the relay's own public name, when
	// it is one of several behind one name (ferry relay --public-host),
	// so that a page names the relay that serves it to its peer.
	Host string
}

// Config is the page's settings, served as /ferry.json.
type Config struct {
	// Transit is the TCP transit relay (HOST:PORT) the page names to its
	// peer; it reaches it over WebSocket at /transit itself.
	Transit    string      `json:"transit,omitempty"`
	ICEServers []ICEServer `json:"iceServers,omitempty"`
}

// ICEServer is one STUN or TURN server, as RTCPeerConnection takes it.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

func (h *handler) serveConfig(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h.opts.Host != "" {
		host = h.opts.Host
	}
	if hn, _, err := net.SplitHostPort(host); err == nil {
		host = hn
	}
	host = strings.Trim(host, "[]")
	if net.ParseIP(host) == nil && !validHostname(host) {
		http.Error(w, "bad host", http.StatusBadRequest)
		return
	}
	addr := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	var c Config
	if h.opts.TransitPort > 0 {
		c.Transit = addr(h.opts.TransitPort)
	}
	if h.opts.STUNPort > 0 {
		c.ICEServers = append(c.ICEServers, ICEServer{URLs: []string{"stun:" + addr(h.opts.STUNPort)}})
	}
	if h.opts.TURNPort > 0 && h.opts.TURNCredentials != nil {
		user, pass := h.opts.TURNCredentials()
		c.ICEServers = append(c.ICEServers, ICEServer{URLs: []string{"turn:" + addr(h.opts.TURNPort) + "?transport=udp"},
			Username: user, Credential: pass})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // credentials expire
	json.NewEncoder(w).Encode(c)
}

// validHostname accepts DNS names of letters, digits, hyphens and dots.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
